#!/usr/bin/env bash
# The faces' speed over HTTP on loopback (release build, embedded SQLite):
#  - the PDF report (zh-CN and en) of an organisation with 10,000 findings on 200 assets;
#  - the live page's first load (/app: the document, then its stylesheet, htmx and icon) for it,
#    and the plan section htmx loads after the first paint;
# each timed with curl, the median of RUNS (default 7) after one warm-up, against a reference
# measured in the same run: the HTML report, and the organisation's live rating (JSON).
#
#   bash benches/http/report.sh
#
# Needs fonts-noto-cjk (the PDF's fonts) and python3 (to write the bundle).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p cyrisk-cli
runs=${RUNS:-7}
dir=$(mktemp -d)
port=${PORT:-18191}
url=sqlite://$dir/cyrisk.db
target/release/cyrisk serve --demo --database-url "$url" --addr "127.0.0.1:$port" > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do grep -q listening "$dir/serve.log" 2>/dev/null && break; sleep 0.2; done
key=$(grep -o 'cyk_[0-9a-f]*' "$dir/serve.log" | head -n1)
base="http://127.0.0.1:$port"

# An organisation with 10,000 open findings (CVSS-scored, a tenth with a CVE, ages spread over
# a year) on 200 internet-facing and internal assets.
python3 - "$dir/big.json" <<'PY'
import json, sys, random
random.seed(7)
b = json.load(open("examples/sme-external-scan.json"))
b["profile"]["name"] = "Bench Ten Thousand Findings Ltd."
b["assets"] = [{"id": f"a{i}", "kind": "host", "internet_facing": i % 4 == 0,
                "first_seen": "2025-11-01", "last_seen": "2026-11-10"} for i in range(200)]
cves = ["CVE-2021-23017", "CVE-2019-0708", "CVE-2021-44228", "CVE-2023-4966", "CVE-2024-3400"]
findings = []
for i in range(10_000):
    f = {"id": f"f{i}", "asset": f"a{i % 200}", "title": f"finding {i}",
         "cvss_score": round(random.uniform(2.0, 9.9), 1),
         "first_seen": f"2026-{random.randint(1, 11):02d}-{random.randint(1, 28):02d}"}
    if i % 10 == 0:
        f["cve"] = cves[i % len(cves)]
    findings.append(f)
b["findings"] = findings
json.dump(b, open(sys.argv[1], "w"))
PY
org=$(curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' \
  --data-binary "@$dir/big.json" "$base/api/v1/organizations/bundle" | python3 -c 'import json,sys; print(json.load(sys.stdin)["org_id"])')

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_get() { # url [cookie jar]: seconds for the whole answer
  if [ -n "${2:-}" ]; then curl -s -o /dev/null -b "$2" -w '%{time_total}\n' "$1";
  else curl -s -o /dev/null -H "Authorization: Bearer $key" -w '%{time_total}\n' "$1"; fi
}
measure() { # label url [jar]: the first request (cold), then the median of the next runs
  local first; first=$(time_get "$2" "${3:-}")
  local m; m=$(for _ in $(seq 1 "$runs"); do time_get "$2" "${3:-}"; done | median)
  printf '%-44s first %8.1f ms, then %8.1f ms\n' "$1" "$(echo "$first * 1000" | bc -l)" "$(echo "$m * 1000" | bc -l)"
}

# A session for the page, through the sign-in form.
jar="$dir/jar"
curl -s -c "$jar" -b "$jar" -o /dev/null "$base/app/login?lang=en"
csrf=$(awk '$6 == "cyrisk_login" {print $7}' "$jar")
curl -s -c "$jar" -b "$jar" -o /dev/null -d "key=$key&csrf=$csrf&lang=en" "$base/app/login"

first_load() { # the document, then its three assets, one after another (a cold browser's order)
  local t=0 x
  for p in "/app?org=$org&lang=zh-CN" /app/assets/app.css /app/assets/htmx.min.js /app/assets/favicon.svg; do
    x=$(curl -s -o /dev/null -b "$jar" -w '%{time_total}' "$base$p"); t=$(echo "$t + $x" | bc -l)
  done
  echo "$t"
}

echo "organisation with $(python3 -c "import json; print(len(json.load(open('$dir/big.json'))['findings']))") findings; median of $runs runs"
measure "reference: live rating (JSON)" "$base/api/v1/organizations/$org/rating"
measure "reference: HTML report (zh-CN)" "$base/api/v1/organizations/$org/report?format=html&lang=zh-CN"
measure "PDF report (zh-CN)" "$base/api/v1/organizations/$org/report?format=pdf&lang=zh-CN"
measure "PDF report (en)" "$base/api/v1/organizations/$org/report?format=pdf&lang=en"
first_load >/dev/null
m=$(for _ in $(seq 1 "$runs"); do first_load; done | median)
printf '%-44s %8.1f ms\n' "live page first load (document + 3 assets)" "$(echo "$m * 1000" | bc -l)"
m=$(for _ in $(seq 1 "$runs"); do time_get "$base/app?org=$org&lang=zh-CN" "$jar"; done | median)
printf '%-44s %8.1f ms\n' "live page document alone" "$(echo "$m * 1000" | bc -l)"
# The plan section htmx loads after the first paint: kept by rating id after the reports above
# priced it; a new rating (here: a changed input) prices it again.
measure "live page plan section (kept)" "$base/app/fixes?org=$org&lang=zh-CN" "$jar"
curl -sf -o /dev/null -H "Authorization: Bearer $key" -H 'content-type: application/json' \
  -d '[{"control": "mfa", "outcome": "pass"}]' "$base/api/v1/organizations/$org/controls"
curl -s -o /dev/null -H "Authorization: Bearer $key" "$base/api/v1/organizations/$org/rating"
x=$(time_get "$base/app/fixes?org=$org&lang=zh-CN" "$jar")
printf '%-44s %8.1f ms\n' "live page plan section (after a new rating)" "$(echo "$x * 1000" | bc -l)"
# A PDF after yet another new rating: its plan priced within the request.
curl -sf -o /dev/null -H "Authorization: Bearer $key" -H 'content-type: application/json' \
  -d '[{"control": "edr", "outcome": "pass"}]' "$base/api/v1/organizations/$org/controls"
curl -s -o /dev/null -H "Authorization: Bearer $key" "$base/api/v1/organizations/$org/rating"
x=$(time_get "$base/api/v1/organizations/$org/report?format=pdf&lang=zh-CN")
printf '%-44s %8.1f ms\n' "PDF report (zh-CN) after a new rating" "$(echo "$x * 1000" | bc -l)"
size=$(curl -s -H "Authorization: Bearer $key" "$base/api/v1/organizations/$org/report?format=pdf&lang=zh-CN" | wc -c)
echo "PDF (zh-CN) size: $size bytes; peak server memory: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
