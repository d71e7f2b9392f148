#!/usr/bin/env bash
# The ceiling that the audit log's single sequence puts on audited requests on PostgreSQL,
# without Privet in the way: pgbench runs the statements of an audited read (check the subject
# FOR KEY SHARE, append one ~300-byte leaf) at 1 and 32 clients, (a) numbered under the
# audit_head row lock as privet-store-postgres does, and (b) appended to a queue with no lock,
# as a sequencer design would (the leaves then numbered later in batches).
# Usage: DATABASE_URL=… scripts/audit-ceiling.sh [seconds=8]
#   Makes a schema privet_ceiling_<pid> in DATABASE_URL's database and drops it at the end.
set -euo pipefail
SECS=${1:-8}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database}"
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)
[ -x "$PGBENCH" ] || { echo "pgbench not found (postgresql-contrib / postgresql-15)" >&2; exit 1; }
S=privet_ceiling_$$
WORK=$(mktemp -d)
trap 'psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $S CASCADE" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
psql "$DATABASE_URL" -q <<SQL
CREATE SCHEMA $S;
CREATE TABLE $S.subjects (id int PRIMARY KEY);
INSERT INTO $S.subjects SELECT generate_series(1, 5000);
CREATE TABLE $S.audit (idx bigint PRIMARY KEY, leaf bytea NOT NULL, leaf_hash bytea NOT NULL);
CREATE TABLE $S.audit_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), size bigint NOT NULL);
INSERT INTO $S.audit_head VALUES (true, 0);
CREATE TABLE $S.audit_queue (id bigserial PRIMARY KEY, leaf bytea NOT NULL, leaf_hash bytea NOT NULL);
SQL
cat > "$WORK/locked.sql" <<SQL
\set sid random(1, 5000)
BEGIN;
SELECT 1 FROM $S.subjects WHERE id = :sid FOR KEY SHARE;
UPDATE $S.audit_head SET size = size + 1 RETURNING size - 1;
INSERT INTO $S.audit (idx, leaf, leaf_hash) SELECT size - 1, convert_to(repeat('x', 300), 'UTF8'), sha256('x') FROM $S.audit_head;
COMMIT;
SQL
cat > "$WORK/queued.sql" <<SQL
\set sid random(1, 5000)
BEGIN;
SELECT 1 FROM $S.subjects WHERE id = :sid FOR KEY SHARE;
INSERT INTO $S.audit_queue (leaf, leaf_hash) VALUES (convert_to(repeat('x', 300), 'UTF8'), sha256('x'));
COMMIT;
SQL
echo "== load average $(cut -d' ' -f1-3 /proc/loadavg); ${SECS}s per run, prepared statements"
for f in locked queued; do
    for c in 1 32; do
        out=$("$PGBENCH" -n -M prepared -c "$c" -j 2 -T "$SECS" -f "$WORK/$f.sql" "$DATABASE_URL" 2>&1)
        printf '%-7s %2d clients: %8.0f tx/s, mean latency %s ms\n' "$f" "$c" \
            "$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")" "$(sed -n 's/^latency average = \([0-9.]*\).*/\1/p' <<<"$out")"
    done
done
