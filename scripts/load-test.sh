#!/usr/bin/env bash
# Two `privet serve` processes vs one, on one PostgreSQL: HTTP throughput and latency of
# audited reads (80 % by id, 20 % lookup by email) and of a mix with 10 % creations, driven by
# wrk on loopback with the same total connections and load-generator threads in both cases,
# with the CPU that each process used during each run (from /proc, in % of one core).
#
# Usage: DATABASE_URL=… scripts/load-test.sh [subjects=20000] [seconds=15] [connections=32]
#   DATABASE_URL: a PostgreSQL database (key=value string or postgres:// URL). The test makes
#   a schema privet_load_<pid> in it for the vault and drops it at the end.
#   Needs wrk (apt-get install wrk), psql, python3 and curl. Traffic goes to 127.0.0.1 only,
#   and every wrk run stops by itself after `seconds`.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
SECS=${2:-15}
CONNS=${3:-32}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database, e.g. host=/var/run/postgresql dbname=privet_load}"
for tool in wrk psql python3 curl; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (wrk: apt-get install -y wrk)" >&2; exit 1; }
done
cargo build --release -q -p privet-cli
BIN=${CARGO_TARGET_DIR:-target}/release/privet
SCHEMA=privet_load_$$
case "$DATABASE_URL" in
    postgres://* | postgresql://*)
        case "$DATABASE_URL" in *\?*) SEP='&' ;; *) SEP='?' ;; esac
        URL="${DATABASE_URL}${SEP}options=-csearch_path%3D${SCHEMA}" ;;
    *) URL="$DATABASE_URL options=-csearch_path=$SCHEMA" ;;
esac
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
psql "$DATABASE_URL" -qc "CREATE SCHEMA $SCHEMA"

echo "== setup: a vault on PostgreSQL (schema $SCHEMA), $N customers"
KEY=$("$BIN" init --json --dir "$WORK/vault" --store-url "$URL" 2>/dev/null \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_api_key"])')
python3 - "$N" > "$WORK/customers.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"email": f"load{i}@example.com", "name": f"Load Test {i}", "phone": f"+1 650 253 {i % 10000:04d}",
                      "address": f"{i} Main Street", "birth_date": "1980-01-01", "gender": "undisclosed"}))
PY
"$BIN" import --dir "$WORK/vault" --collection customers "$WORK/customers.jsonl" 2>/dev/null

# Two servers from the same config and key files (on two machines: copies of privet.toml,
# schema.toml and master.key).
PORTS=(18081 18082)
for port in "${PORTS[@]}"; do
    PRIVET_LOG=warn "$BIN" serve --dir "$WORK/vault" --listen "127.0.0.1:$port" > "$WORK/serve-$port.log" 2>&1 &
    PIDS+=($!)
done
SERVER_PIDS=("${PIDS[@]}")
for port in "${PORTS[@]}"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server on $port is not ready" >&2; cat "$WORK/serve-$port.log" >&2; exit 1; }
done

# Subject ids for wrk, resolved through server A; the Lua script picks requests at random.
python3 - "$N" "$KEY" "${PORTS[0]}" "$WORK" <<'PY'
import json, sys, urllib.request
n, key, port, work = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
step = max(1, n // 2000)
ids, emails = [], []
for i in range(0, n, step):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/subjects?email=load{i}@example.com&purpose=essential.service",
                                 headers={"Authorization": f"Bearer {key}"})
    ids.append(json.load(urllib.request.urlopen(req))["subjects"][0]["id"])
    emails.append(f"load{i}@example.com")
common = "ids = {" + ",".join(f'"{i}"' for i in ids) + "}\n"
common += "emails = {" + ",".join(f'"{e}"' for e in emails) + "}\n"
common += f'auth = "Bearer {key}"\n'
body = '''
local counter = 0
local thread_tag = tostring(math.random(1, 1000000000))
request = function()
  local r = math.random(100)
  if r <= WRITE_PCT then
    counter = counter + 1
    local body = '{"data": {"email": "new' .. thread_tag .. '.' .. counter .. '@example.com", "name": "New Customer", "gender": "female"}}'
    return wrk.format("POST", "/v1/subjects", {["Authorization"] = auth, ["Content-Type"] = "application/json"}, body)
  elseif r <= WRITE_PCT + 20 then
    return wrk.format("GET", "/v1/subjects?email=" .. emails[math.random(#emails)] .. "&purpose=essential.service", {["Authorization"] = auth})
  else
    return wrk.format("GET", "/v1/subjects/" .. ids[math.random(#ids)] .. "?purpose=essential.service", {["Authorization"] = auth})
  end
end
'''
for name, pct in (("reads", 0), ("mixed", 10)):
    with open(f"{work}/{name}.lua", "w") as f:
        f.write(common + f"WRITE_PCT = {pct}\n" + body)
PY

# CPU per process group over an interval, from /proc/PID/stat (utime+stime) and /proc/stat.
cat > "$WORK/cpu.py" <<'PY'
import os, sys, time
secs = float(sys.argv[1])
groups = [(g.split("=")[0], [int(p) for p in g.split("=")[1].split(",") if p]) for g in sys.argv[2:]]
hz = os.sysconf("SC_CLK_TCK")
def ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0
def machine():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]
before = {p: ticks(p) for _, ps in groups for p in ps}
m0 = machine()
time.sleep(secs)
after = {p: ticks(p) for _, ps in groups for p in ps}
m1 = machine()
total, idle = m1[0] - m0[0], m1[1] - m0[1]
cores = os.cpu_count()
busy = 100.0 * cores * (total - idle) / total
parts, accounted = [], 0.0
for name, ps in groups:
    pct = 100.0 * sum(after[p] - before[p] for p in ps) / hz / secs
    accounted += pct
    parts.append(f"{name} {pct:.0f}")
parts.append(f"everything else {max(0.0, busy - accounted):.0f}")
print(f"   cpu, % of one core: {', '.join(parts)}; machine busy {busy:.0f} of {100 * cores}")
PY

pg_pids() {
    psql "$DATABASE_URL" -Atc "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE $1 AND pid <> pg_backend_pid()"
}

# run NAME SCRIPT|healthz SECONDS PORT... : one wrk per port, splitting 2 threads and $CONNS
# connections evenly, after a short warm-up (so every pooled connection exists).
run() {
    local name=$1 script=$2 secs=$3
    shift 3
    local ports=("$@") n=$#
    local threads=$((2 / n)) conns=$((CONNS / n))
    [ "$threads" -ge 1 ] || threads=1
    local args=()
    for port in "${ports[@]}"; do
        if [ "$script" = healthz ]; then
            args+=("http://127.0.0.1:$port/healthz")
        else
            args+=("-s $WORK/$script.lua http://127.0.0.1:$port/")
        fi
    done
    for a in "${args[@]}"; do
        # shellcheck disable=SC2086
        wrk -t"$threads" -c"$conns" -d2s $a >/dev/null &
    done
    wait_wrk
    local backends aux wrk_pids=() outs=()
    backends=$(pg_pids "datname = current_database() AND backend_type = 'client backend'")
    aux=$(pg_pids "backend_type <> 'client backend'")
    local i=0
    for a in "${args[@]}"; do
        # shellcheck disable=SC2086
        wrk -t"$threads" -c"$conns" -d"${secs}s" --latency $a > "$WORK/wrk-$i.out" &
        wrk_pids+=($!)
        outs+=("$WORK/wrk-$i.out")
        i=$((i + 1))
    done
    local cpu
    cpu=$(python3 "$WORK/cpu.py" "$((secs - 1))" "server-A=${SERVER_PIDS[0]}" "server-B=${SERVER_PIDS[1]}" \
          "wrk=$(IFS=,; echo "${wrk_pids[*]}")" "postgres-backends=$backends" "postgres-background=$aux")
    wait_wrk
    python3 - "$name" "$WORK/last_total" "${outs[@]}" <<'PY'
import re, sys
name, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
total, lat, errors = 0.0, [], 0
for f in files:
    t = open(f).read()
    total += float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p = {m.group(1): m.group(2) for m in re.finditer(r"\s(50|90|99)%\s+(\S+)", t)}
    lat.append(f"p50 {p.get('50')} p99 {p.get('99')}")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    errors += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", t)
    if m: errors += sum(int(x) for x in re.findall(r"\d+", m.group(1)))
print(f"{name:<40} {total:>9.0f} req/s   latency {' | '.join(lat)}   errors {errors}")
open(out, "w").write(f"{total:.0f}")
PY
    echo "$cpu"
}

# pair NAME SCRIPT SECONDS: one server, then two, then the ratio.
pair() {
    run "$1, one server" "$2" "$3" "${PORTS[0]}"
    local one
    one=$(cat "$WORK/last_total")
    run "$1, two servers" "$2" "$3" "${PORTS[@]}"
    python3 -c "import sys; print(f'   ratio two servers / one = {int(sys.argv[2]) / max(1, int(sys.argv[1])):.2f}')" "$one" "$(cat "$WORK/last_total")"
}

wait_wrk() {
    # Wait for the wrk processes started by this shell (the servers keep running).
    for p in $(jobs -p); do
        case " ${SERVER_PIDS[*]} " in *" $p "*) ;; *) wait "$p" || true ;; esac
    done
}

echo "== $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wrk: 2 threads, $CONNS connections in total, ${SECS}s per run"
pair "/healthz (no auth, no database)" healthz 5
pair "audited reads" reads "$SECS"
pair "reads + 10% creations" mixed "$SECS"
echo "== audit log: $(psql "$DATABASE_URL" -Atc "SELECT size FROM $SCHEMA.audit_head") entries, one gap-free sequence: $(psql "$DATABASE_URL" -Atc "SELECT count(*) = max(idx) + 1 AND min(idx) = 0 FROM $SCHEMA.audit")"
