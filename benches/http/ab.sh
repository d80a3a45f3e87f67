#!/usr/bin/env bash
# A/B of the live-rating hot path on PostgreSQL: the same wrk load as rating.sh against a given
# `cyrisk` binary, on a fresh database with `serve --demo`. Build the two binaries to compare
# (e.g. the current tree and an earlier commit in a git worktree), then alternate:
#
#   bash benches/http/ab.sh target/release/cyrisk 18301
#   bash benches/http/ab.sh /path/to/old/cyrisk 18302
#
# Needs a local PostgreSQL (trust auth, user postgres) and wrk; prints req/s and p99.
set -euo pipefail
bin=$1; port=${2:-18301}
psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS cyrisk_http" -c "CREATE DATABASE cyrisk_http" >/dev/null 2>&1
url=postgres://postgres@127.0.0.1:5432/cyrisk_http
dir=$(mktemp -d)
$bin serve --demo --database-url "$url" --addr "127.0.0.1:$port" > "$dir/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do grep -q listening "$dir/serve.log" 2>/dev/null && break; sleep 0.2; done
key=$(grep -o 'cyk_[0-9a-f]*' "$dir/serve.log" | head -n1)
org=$(curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/organizations" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
curl -s -o /dev/null -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/organizations/$org/rating"
sleep 2
wrk -t2 -c32 -d10s --latency -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/organizations/$org/rating" | grep -E "Requests/sec|99%"
kill $pid; wait $pid 2>/dev/null || true
rm -rf "$dir"
