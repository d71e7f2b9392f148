#!/usr/bin/env bash
# Backup and restore throughput at N subjects: privet backup create, verify, restore, next to
# a plain copy of the same database in the same run. SQLite: the copy is cp + fsync of the
# database file. PostgreSQL (--postgres ADMIN_URL, a libpq URL or key=value string of a role
# that may create databases): the copy is pg_dump --format=custom --compress=0 to a file and
# pg_restore into a new database, PostgreSQL's own unencrypted logical backup.
# Usage: scripts/bench-backup.sh [subjects=100000] [--postgres ADMIN_URL]
#        (PRIVET_BIN=path skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
PG_ADMIN=""
if [ "${2:-}" = "--postgres" ]; then
  PG_ADMIN=${3:?--postgres needs an admin connection string}
fi
if [ -z "${PRIVET_BIN:-}" ]; then
  cargo build --release -q -p privet-cli
fi
BIN=${PRIVET_BIN:-${CARGO_TARGET_DIR:-target}/release/privet}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PRIVET_LOG=warn
now() { date +%s.%N; }
if [ -n "$PG_ADMIN" ]; then
  SRC=privet_bench_backup_src_$$; DST=privet_bench_backup_dst_$$; BASE=privet_bench_backup_base_$$
  dburl() { # name: the admin string with another database
    case "$PG_ADMIN" in
      postgres://*|postgresql://*) python3 -c "import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path='/'+sys.argv[2])))" "$PG_ADMIN" "$1" ;;
      *) echo "$PG_ADMIN dbname=$1" ;;
    esac
  }
  for d in $SRC $DST $BASE; do psql "$PG_ADMIN" -qXc "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d"; done
  trap 'rm -rf "$WORK"; for d in $SRC $DST $BASE; do psql "$PG_ADMIN" -qXc "DROP DATABASE IF EXISTS $d WITH (FORCE)"; done' EXIT
  "$BIN" init --dir "$WORK/vault" --store-url "$(dburl $SRC)" >/dev/null
else
  "$BIN" init --dir "$WORK/vault" >/dev/null
fi
python3 - "$N" > "$WORK/customers.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"email": f"backup{i}@example.com", "name": f"Backup Test {i}", "phone": f"+1 650 253 {i % 10000:04d}",
                      "address": f"{i} Main Street", "birth_date": "1980-01-01", "gender": "undisclosed"}))
PY
"$BIN" import --dir "$WORK/vault" --collection customers "$WORK/customers.jsonl" >/dev/null 2>&1
if [ -n "$PG_ADMIN" ]; then
  psql "$(dburl $SRC)" -qXc "VACUUM ANALYZE"
  SIZE=$(psql "$(dburl $SRC)" -XAtc "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'")
else
  DB="$WORK/vault/privet.db"
  [ ! -s "$DB-wal" ] || { echo "the WAL was not checkpointed; the file copy would be incomplete" >&2; exit 1; }
  SIZE=$(stat -c %s "$DB")
fi
report() { # name seconds
  python3 -c "import sys; n,t,s,N=sys.argv[1],float(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]); print(f'{n:<28} {t:7.2f} s  {s/t/1e6:8.1f} MB/s  {N/t:10.0f} subjects/s')" "$1" "$2" "$SIZE" "$N"
}
echo "database: $N subjects, $(python3 -c "print(f'{$SIZE/1e6:.1f}')") MB${PG_ADMIN:+ (PostgreSQL: tables, indexes and TOAST)}"
if [ -n "$PG_ADMIN" ]; then
  T0=$(now); pg_dump --format=custom --compress=0 --file "$WORK/copy.dump" "$(dburl $SRC)"; sync "$WORK/copy.dump"; T1=$(now)
  report "pg_dump -Fc (no compression)" "$(echo "$T1 - $T0" | bc)"
  T0=$(now); pg_restore --dbname "$(dburl $BASE)" "$WORK/copy.dump"; T1=$(now)
  report "pg_restore" "$(echo "$T1 - $T0" | bc)"
else
  T0=$(now); cp "$DB" "$WORK/copy.db"; sync "$WORK/copy.db"; T1=$(now)
  report "file copy (cp+fsync)" "$(echo "$T1 - $T0" | bc)"
fi
T0=$(now); "$BIN" backup create --dir "$WORK/vault" "$WORK/b.privet-backup" >/dev/null; T1=$(now)
report "backup create" "$(echo "$T1 - $T0" | bc)"
echo "backup file: $(python3 -c "import os; print(f'{os.path.getsize(\"$WORK/b.privet-backup\")/1e6:.1f}')") MB"
T0=$(now); "$BIN" backup verify "$WORK/b.privet-backup" --key-file "$WORK/vault/master.key" >/dev/null; T1=$(now)
report "backup verify" "$(echo "$T1 - $T0" | bc)"
RESTORE_TO=()
[ -z "$PG_ADMIN" ] || RESTORE_TO=(--store-url "$(dburl $DST)")
T0=$(now); "$BIN" backup restore "$WORK/b.privet-backup" --dir "$WORK/restored" --key-file "$WORK/vault/master.key" "${RESTORE_TO[@]}" >/dev/null; T1=$(now)
report "backup restore" "$(echo "$T1 - $T0" | bc)"
"$BIN" audit verify --dir "$WORK/restored" >/dev/null
