-- Privet schema v3 for PostgreSQL: the same tables, names and meaning as the SQLite
-- backend's 0003_audit_proofs: what audit proofs, checkpoints and the subject view need.
--
-- Beside each leaf, its leaf-chain value (SHA-256(0x02 || previous chain || leaf hash), so
-- verification names exactly the first moved or rewritten row) and the subject its entry
-- names, indexed for the subject's access log.
ALTER TABLE audit ADD COLUMN chain BYTEA, ADD COLUMN subject_id BYTEA;
CREATE INDEX audit_by_subject ON audit (subject_id, idx) WHERE subject_id IS NOT NULL;

-- The appenders' shared head, read and written under the row lock that already numbers the
-- appends: the tree's frontier (the hashes of its perfect subtrees, largest first, 32 bytes
-- each, one per set bit of `size`) and the leaf chain's last value.
ALTER TABLE audit_head
    ADD COLUMN frontier BYTEA NOT NULL DEFAULT '\x'::bytea,
    ADD COLUMN chain BYTEA NOT NULL DEFAULT decode(repeat('00', 32), 'hex');

-- Hashes of the perfect subtrees of the audit tree with 16 leaves or more: the subtree at
-- `level` and `idx` covers leaves [idx * 2^level, (idx + 1) * 2^level). Written in the same
-- transaction as the leaf that completes each, so a proof reads O(log n) hashes.
CREATE TABLE audit_tiles (
    level SMALLINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Signed checkpoints (C2SP signed notes), every one any server made.
CREATE TABLE audit_checkpoints (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size       BIGINT NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_checkpoints_by_size ON audit_checkpoints (size, id);

-- A log written before this version gets its chain values, subjects, subtree hashes and
-- head computed from its leaves at the next start (under the head's row lock; the flag is
-- removed in the same transaction).
INSERT INTO meta (key, value) SELECT 'audit_backfill', '\x01'::bytea WHERE EXISTS (SELECT 1 FROM audit);
