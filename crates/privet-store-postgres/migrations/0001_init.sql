-- Privet schema v1 for PostgreSQL: the same tables, names and meaning as the SQLite
-- backend's 0001_init. Every BYTEA is a ciphertext, a wrapped key, an HMAC term, an id or an
-- audit leaf; no column holds a plaintext personal value. Times are microseconds since the
-- Unix epoch, as in SQLite, so rows move between backends unchanged.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE subjects (
    id          BYTEA PRIMARY KEY,
    key_version INTEGER NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE records (
    id         BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL REFERENCES subjects (id),
    collection TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    fields     BYTEA NOT NULL
);
CREATE INDEX records_by_subject ON records (subject_id, collection, id);

CREATE TABLE blind_index (
    collection TEXT NOT NULL,
    field      TEXT NOT NULL,
    term       BYTEA NOT NULL,
    record_id  BYTEA NOT NULL,
    subject_id BYTEA NOT NULL,
    PRIMARY KEY (collection, field, term, record_id)
);
CREATE INDEX blind_index_by_record ON blind_index (record_id, field);
CREATE INDEX blind_index_by_subject ON blind_index (subject_id);

-- The erasure ledger: subject ids and times only. An erased id can never be created again.
CREATE TABLE erasures (
    subject_id BYTEA PRIMARY KEY,
    erased_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    prefix     TEXT PRIMARY KEY,
    hash       BYTEA NOT NULL,
    principal  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- The audit log. `audit_head` is one row holding the tree size: a write set that appends
-- locks it for the rest of its transaction, so appends from every server are numbered in
-- commit order without gaps and the Merkle tree never forks.
CREATE TABLE audit (
    idx       BIGINT PRIMARY KEY,
    leaf      BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE TABLE audit_head (
    one  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    size BIGINT NOT NULL
);
INSERT INTO audit_head (one, size) VALUES (TRUE, 0);
