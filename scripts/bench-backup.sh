#!/usr/bin/env bash
# Backup and restore throughput (SQLite) at N subjects, next to a plain file copy of the same
# database (cp + fsync) in the same run: privet backup create, verify, restore.
# Usage: scripts/bench-backup.sh [subjects=100000]   (PRIVET_BIN=path skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
if [ -z "${PRIVET_BIN:-}" ]; then
  cargo build --release -q -p privet-cli
fi
BIN=${PRIVET_BIN:-${CARGO_TARGET_DIR:-target}/release/privet}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PRIVET_LOG=warn
"$BIN" init --dir "$WORK/vault" >/dev/null
python3 - "$N" > "$WORK/customers.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"email": f"backup{i}@example.com", "name": f"Backup Test {i}", "phone": f"+1 650 253 {i % 10000:04d}",
                      "address": f"{i} Main Street", "birth_date": "1980-01-01", "gender": "undisclosed"}))
PY
"$BIN" import --dir "$WORK/vault" --collection customers "$WORK/customers.jsonl" >/dev/null 2>&1
DB="$WORK/vault/privet.db"
[ ! -s "$DB-wal" ] || { echo "the WAL was not checkpointed; the file copy would be incomplete" >&2; exit 1; }
now() { date +%s.%N; }
SIZE=$(stat -c %s "$DB")
report() { # name seconds
  python3 -c "import sys; n,t,s,N=sys.argv[1],float(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]); print(f'{n:<22} {t:7.2f} s  {s/t/1e6:8.1f} MB/s  {N/t:10.0f} subjects/s')" "$1" "$2" "$SIZE" "$N"
}
echo "database: $N subjects, $(python3 -c "print(f'{$SIZE/1e6:.1f}')") MB"
T0=$(now); cp "$DB" "$WORK/copy.db"; sync "$WORK/copy.db"; T1=$(now)
report "file copy (cp+fsync)" "$(echo "$T1 - $T0" | bc)"
T0=$(now); "$BIN" backup create --dir "$WORK/vault" "$WORK/b.privet-backup" >/dev/null; T1=$(now)
report "backup create" "$(echo "$T1 - $T0" | bc)"
echo "backup file: $(python3 -c "import os; print(f'{os.path.getsize(\"$WORK/b.privet-backup\")/1e6:.1f}')") MB"
T0=$(now); "$BIN" backup verify "$WORK/b.privet-backup" --key-file "$WORK/vault/master.key" >/dev/null; T1=$(now)
report "backup verify" "$(echo "$T1 - $T0" | bc)"
T0=$(now); "$BIN" backup restore "$WORK/b.privet-backup" --dir "$WORK/restored" --key-file "$WORK/vault/master.key" >/dev/null; T1=$(now)
report "backup restore" "$(echo "$T1 - $T0" | bc)"
"$BIN" audit verify --dir "$WORK/restored" >/dev/null
