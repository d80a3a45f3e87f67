#!/usr/bin/env bash
# GET /api/v1/organizations/{id}/rating for a stored, unchanged organisation, under load from
# wrk on loopback (server and load generator share this machine's cores).
#
#   bash benches/http/rating.sh            # SQLite (embedded default)
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/cyrisk_bench bash benches/http/rating.sh
#
# Installs wrk from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
cargo build --release -q
dir=$(mktemp -d)
url=${DATABASE_URL:-sqlite://$dir/cyrisk.db}
port=${PORT:-18181}
target/release/cyrisk serve --demo --database-url "$url" --addr "127.0.0.1:$port" > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do grep -q listening "$dir/serve.log" 2>/dev/null && break; sleep 0.2; done
key=$(grep -o 'cyk_[0-9a-f]*' "$dir/serve.log" | head -n1)
if [ -z "$key" ]; then
  key=$(target/release/cyrisk keys create --role admin --name bench --database-url "$url" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
fi
org=$(curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/organizations" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
# The first request computes and stores the rating; the load then reads the stored one.
curl -s -o /dev/null -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/organizations/$org/rating"
wrk -t2 -c${CONNECTIONS:-32} -d${DURATION:-10s} --latency -H "Authorization: Bearer $key" \
  "http://127.0.0.1:$port/api/v1/organizations/$org/rating"
