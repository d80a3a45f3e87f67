#!/usr/bin/env bash
# The book's Parquet exports read by Python: starts `cyrisk serve --demo` on a scratch SQLite
# database (three organisations, a demo insurer with a policy on each), simulates the insurer's
# book, exports its organisations, ratings, policies and the simulation's per-policy results as
# Parquet over HTTP, reads them with Python polars and pandas (installed here into
# target/book-venv, never a product dependency), and checks they give the API's totals.
#
#   bash tests/book/check_parquet.sh              # target/debug/cyrisk (builds it; CI runs this)
#   PROFILE=release bash tests/book/check_parquet.sh
#
# The Python packages are pinned in tests/book/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${PROFILE:-debug}
if [ "$profile" = release ]; then
  cargo build --release -q -p cyrisk-cli
else
  cargo build -q -p cyrisk-cli
fi
bin=target/$profile/cyrisk
venv=target/book-venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/book/requirements.txt "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r tests/book/requirements.txt
  cp tests/book/requirements.txt "$venv/requirements.txt"
fi
dir=$(mktemp -d)
port=${PORT:-18197}
$bin serve --demo --database-url "sqlite://$dir/cyrisk.db" --addr "127.0.0.1:$port" > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do grep -q listening "$dir/serve.log" 2>/dev/null && break; sleep 0.2; done
grep -q listening "$dir/serve.log" || { cat "$dir/serve.log"; exit 1; }
# The demo prints the admin key, then the demo insurer's.
key=$(grep -o 'cyk_[0-9a-f]*' "$dir/serve.log" | sed -n 2p)
base="http://127.0.0.1:$port/api/v1"
auth=(-H "Authorization: Bearer $key")
# Simulate the insurer's book and wait for the job.
sim=$(curl -sf "${auth[@]}" -H 'content-type: application/json' -d '{"trials": 20000}' "$base/portfolio/simulations" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for _ in $(seq 1 150); do
  curl -sf "${auth[@]}" "$base/portfolio/simulations/$sim" > "$dir/simulation.json"
  state=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$dir/simulation.json")
  [ "$state" = done ] && break
  [ "$state" = failed ] && { cat "$dir/simulation.json"; exit 1; }
  sleep 0.2
done
[ "$state" = done ] || { echo "the simulation did not finish in 30 s: $state" >&2; exit 1; }
curl -sf "${auth[@]}" "$base/portfolio" > "$dir/summary.json"
for t in organizations ratings policies simulation; do
  curl -sf "${auth[@]}" "$base/portfolio/export?table=$t&format=parquet" > "$dir/$t.parquet"
done
"$venv/bin/python" - "$dir" <<'PY'
import json, sys
import pandas as pd
import polars as pl
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
sim = json.load(open(f"{d}/simulation.json"))["simulation"]
orgs_pl = pl.read_parquet(f"{d}/organizations.parquet")
orgs_pd = pd.read_parquet(f"{d}/organizations.parquet")
ratings = pl.read_parquet(f"{d}/ratings.parquet")
policies = pd.read_parquet(f"{d}/policies.parquet")
per_policy_pl = pl.read_parquet(f"{d}/simulation.parquet")
per_policy_pd = pd.read_parquet(f"{d}/simulation.parquet")
api_limit = sum(g["limit_in_force"] for g in s["by_grade"])
api_mean = {g["key"]: g["mean_score"] for g in s["by_industry"]}
checks = {
    "organizations": (s["organizations"], orgs_pl.height, len(orgs_pd)),
    "rated": (s["rated"], orgs_pl["score"].drop_nulls().len(), int(orgs_pd["score"].notna().sum())),
    "limit in force": (api_limit, orgs_pl["limit_in_force"].sum(), float(orgs_pd["limit_in_force"].sum())),
    "policies in force": (s["policies_in_force"], int((policies["phase"] == "active").sum()), len(policies)),
    "simulated policies": (sim["policies"], per_policy_pl.height, len(per_policy_pd)),
    # Per-policy expected losses add up to the book's (to the cent: rounding of the sums).
    "simulated expected loss": (
        round(sim["expected_loss"], 2),
        round(per_policy_pl["expected_loss"].sum(), 2),
        round(float(per_policy_pd["expected_loss"].sum()), 2),
    ),
    "co-TVaR shares add to 1": (1.0, round(per_policy_pl["co_tvar_share"].sum(), 9), round(float(per_policy_pd["co_tvar_share"].sum()), 9)),
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
