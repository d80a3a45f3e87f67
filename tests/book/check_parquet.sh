#!/usr/bin/env bash
# The book's Parquet export read by Python: starts `cyrisk serve --demo` on a scratch SQLite
# database, exports the organisations and the ratings as Parquet over HTTP, reads them with
# Python polars and pandas (installed here into target/book-venv, never a product dependency),
# and checks they give the same totals as the API's summary.
#
#   bash tests/book/check_parquet.sh            # uses target/release/cyrisk (builds it)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p cyrisk-cli
venv=target/book-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "polars==1.*" "pandas==2.*" "pyarrow>=15"
fi
dir=$(mktemp -d)
port=${PORT:-18197}
target/release/cyrisk serve --demo --database-url "sqlite://$dir/cyrisk.db" --addr "127.0.0.1:$port" > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do grep -q listening "$dir/serve.log" 2>/dev/null && break; sleep 0.2; done
key=$(grep -o 'cyk_[0-9a-f]*' "$dir/serve.log" | head -n1)
base="http://127.0.0.1:$port/api/v1"
# Rate every organisation (stores the ratings), then the summary and the exports.
for org in $(curl -sf -H "Authorization: Bearer $key" "$base/organizations" | python3 -c 'import json,sys; print(" ".join(o["id"] for o in json.load(sys.stdin)))'); do
  curl -sf -o /dev/null -H "Authorization: Bearer $key" "$base/organizations/$org/rating"
done
curl -sf -H "Authorization: Bearer $key" "$base/portfolio" > "$dir/summary.json"
for t in organizations ratings; do
  curl -sf -H "Authorization: Bearer $key" "$base/portfolio/export?table=$t&format=parquet" > "$dir/$t.parquet"
done
"$venv/bin/python" - "$dir" <<'PY'
import json, sys
import pandas as pd
import polars as pl
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
orgs_pl = pl.read_parquet(f"{d}/organizations.parquet")
orgs_pd = pd.read_parquet(f"{d}/organizations.parquet")
ratings = pl.read_parquet(f"{d}/ratings.parquet")
api_limit = sum(g["limit_in_force"] for g in s["by_grade"])
api_mean = {g["key"]: g["mean_score"] for g in s["by_industry"]}
checks = {
    "organizations": (s["organizations"], orgs_pl.height, len(orgs_pd)),
    "rated": (s["rated"], orgs_pl["score"].drop_nulls().len(), int(orgs_pd["score"].notna().sum())),
    "limit in force": (api_limit, orgs_pl["limit_in_force"].sum(), float(orgs_pd["limit_in_force"].sum())),
}
for industry, mean in api_mean.items():
    if mean is not None:
        checks[f"mean score, {industry}"] = (
            round(mean, 6),
            round(orgs_pl.filter(pl.col("industry") == industry)["score"].mean(), 6),
            round(float(orgs_pd[orgs_pd["industry"] == industry]["score"].mean()), 6),
        )
print(f"ratings rows: {ratings.height}; columns: {', '.join(orgs_pl.columns)}")
print(f"rated_on type: polars {orgs_pl['rated_on'].dtype}, pandas {orgs_pd['rated_on'].dtype}")
ok = True
for name, (api, polars_v, pandas_v) in checks.items():
    same = api == polars_v == pandas_v
    ok &= same
    print(f"{name:28} API {api!s:>14}  polars {polars_v!s:>14}  pandas {pandas_v!s:>14}  {'same' if same else 'DIFFERENT'}")
sys.exit(0 if ok else 1)
PY
