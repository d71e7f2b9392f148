-- Privet schema v3: what audit proofs, checkpoints and the subject view need.
--
-- Beside each leaf, its leaf-chain value (SHA-256(0x02 || previous chain || leaf hash), so
-- verification names exactly the first moved or rewritten row) and the subject its entry
-- names (an id, as in every other table), indexed for the subject's access log.
ALTER TABLE audit ADD COLUMN chain BLOB;
ALTER TABLE audit ADD COLUMN subject_id BLOB;
CREATE INDEX audit_by_subject ON audit (subject_id, idx) WHERE subject_id IS NOT NULL;

-- Hashes of the perfect subtrees of the audit tree with 16 leaves or more: the subtree at
-- `level` and `idx` covers leaves [idx * 2^level, (idx + 1) * 2^level) (leaf indexes from 0).
-- Written in the same transaction as the leaf that completes each, so a proof reads
-- O(log n) hashes instead of the whole log.
CREATE TABLE audit_tiles (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Signed checkpoints (C2SP signed notes), every one the vault made.
CREATE TABLE audit_checkpoints (
    id         INTEGER PRIMARY KEY,
    size       INTEGER NOT NULL,
    note       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_checkpoints_by_size ON audit_checkpoints (size, id);

-- A log written before this version gets its chain values, subjects and subtree hashes
-- computed from its leaves when the store next opens (the flag is removed in the same
-- transaction).
INSERT INTO meta (key, value) SELECT 'audit_backfill', x'01' WHERE EXISTS (SELECT 1 FROM audit);
