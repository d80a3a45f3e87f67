#!/usr/bin/env bash
# Contract fuzzing: schemathesis (from PyPI, in a venv under target/, never a product
# dependency) with all its checks against the OpenAPI document `cyrisk serve` itself serves,
# on a fresh SQLite database with the demo organisations and an admin key.
#
#   bash tests/contract/schemathesis.sh                 # 25 examples per operation
#   EXAMPLES=100 bash tests/contract/schemathesis.sh    # more
#
# Exits non-zero on any failure or server error. Prints schemathesis's summary.
# tests/contract/schemathesis.toml lists the operations whose rules JSON Schema cannot state
# (across items, across fields, file contents) and why. Text with a NUL character is not
# generated: the API refuses it (422, as its description says) because PostgreSQL cannot
# store it.
set -euo pipefail
cd "$(dirname "$0")/../.."
examples=${EXAMPLES:-25}
seed=${SEED:-1}
venv=target/contract-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r tests/contract/requirements.txt
fi
cargo build -q -p cyrisk-cli
dir=$(mktemp -d)
port=${PORT:-18282}
target/debug/cyrisk serve --demo --database-url "sqlite://$dir/cyrisk.db" --addr "127.0.0.1:$port" \
  > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do grep -q listening "$dir/serve.log" 2>/dev/null && break; sleep 0.2; done
key=$(grep -o 'cyk_[0-9a-f]*' "$dir/serve.log" | head -n1)
[ -n "$key" ] || { cat "$dir/serve.log"; echo "no admin key printed" >&2; exit 1; }
# Aim the operations at a real organisation (the example manufacturer), finding and asset,
# so that fuzzing reaches past "not found" into the handlers' own checks.
org=$(curl -sf -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/organizations" |
  python3 -c 'import json,sys; print(next(o["id"] for o in json.load(sys.stdin) if o["industry"] == "manufacturing"))')
export CYRISK_CONTRACT_ORG=$org
"$venv/bin/schemathesis" --config-file tests/contract/schemathesis.toml \
  run "http://127.0.0.1:$port/api/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $key" \
  --max-examples "$examples" \
  --seed "$seed" \
  --workers 1 \
  --generation-database none \
  --generation-allow-x00 false \
  --no-color \
  "$@"
