#!/usr/bin/env bash
# HTTP read throughput with keep-alive at 32 connections (wrk, from Debian: apt-get install wrk),
# audited reads of random subjects next to /healthz on the same server in the same run.
# Usage: scripts/bench-http.sh [subjects=20000] [seconds=15]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
SECS=${2:-15}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -q -p privet-cli
BIN=${CARGO_TARGET_DIR:-target}/release/privet
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
KEY=$("$BIN" init --json --dir "$WORK/vault" | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_api_key"])')
python3 - "$N" > "$WORK/customers.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"email": f"load{i}@example.com", "name": f"Load Test {i}", "phone": f"+1 650 253 {i % 10000:04d}",
                      "address": f"{i} Main Street", "birth_date": "1980-01-01", "gender": "undisclosed"}))
PY
"$BIN" import --dir "$WORK/vault" --collection customers "$WORK/customers.jsonl" >/dev/null
PRIVET_LOG=warn "$BIN" serve --dir "$WORK/vault" --listen 127.0.0.1:18080 > "$WORK/serve.out" &
SERVER=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
# Collect subject ids through the API (lookups), for wrk to read at random.
python3 - "$N" "$KEY" > "$WORK/ids.lua" <<'PY'
import json, sys, urllib.request
n, key = int(sys.argv[1]), sys.argv[2]
ids = []
for i in range(0, n, max(1, n // 2000)):
    req = urllib.request.Request(f"http://127.0.0.1:18080/v1/subjects?email=load{i}@example.com&purpose=essential.service",
                                 headers={"Authorization": f"Bearer {key}"})
    ids.append(json.load(urllib.request.urlopen(req))["subjects"][0]["id"])
print("ids = {" + ",".join(f'"{i}"' for i in ids) + "}")
print('key = "' + key + '"')
print('''
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/subjects/" .. id .. "?purpose=essential.service", {["Authorization"] = "Bearer " .. key})
end
response = function(status, headers, body)
  if status ~= 200 then error("status " .. status) end
end''')
PY
echo "== /healthz (baseline, same server)"
wrk -t2 -c32 -d"${SECS}s" http://127.0.0.1:18080/healthz | grep -E "Requests/sec|Latency|Non-2xx"
echo "== GET /v1/subjects/{id}?purpose=essential.service (auth + store + policy + decrypt + audited)"
wrk -t2 -c32 -d"${SECS}s" -s "$WORK/ids.lua" http://127.0.0.1:18080/ | grep -E "Requests/sec|Latency|Non-2xx|errors"
