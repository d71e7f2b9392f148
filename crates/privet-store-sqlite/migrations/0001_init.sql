-- Privet schema v1. Every BLOB here is a ciphertext, a wrapped key, an HMAC term, an id or
-- an audit leaf; no column holds a plaintext personal value. Ids are UUIDv7 bytes, so the
-- primary keys grow at the right-hand end of their B-trees.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE subjects (
    id          BLOB PRIMARY KEY,
    key_version INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE records (
    id         BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL REFERENCES subjects (id),
    collection TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    fields     BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX records_by_subject ON records (subject_id, collection, id);

-- Blind indexes: HMAC terms of searchable fields. Terms are uniformly random, so inserting
-- them into one big B-tree dirties most of its pages on every commit. New entries go to the
-- small `blind_index_recent` instead and are merged into `blind_index` in sorted order every
-- few tens of thousands of entries (a two-level LSM). Reads, unique checks and deletes always
-- consult both, in the same transaction, so correctness never depends on the merge.
CREATE TABLE index_fields (
    id         INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    field      TEXT NOT NULL,
    UNIQUE (collection, field)
);

CREATE TABLE blind_index (
    field_id  INTEGER NOT NULL,
    term      BLOB NOT NULL,
    record_id BLOB NOT NULL,
    PRIMARY KEY (field_id, term, record_id)
) WITHOUT ROWID;
CREATE INDEX blind_index_by_record ON blind_index (record_id, field_id);

CREATE TABLE blind_index_recent (
    field_id  INTEGER NOT NULL,
    term      BLOB NOT NULL,
    record_id BLOB NOT NULL,
    PRIMARY KEY (field_id, term, record_id)
) WITHOUT ROWID;
CREATE INDEX blind_index_recent_by_record ON blind_index_recent (record_id, field_id);

-- The erasure ledger: subject ids and times only. An erased id can never be created again.
CREATE TABLE erasures (
    subject_id BLOB PRIMARY KEY,
    erased_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_keys (
    prefix     TEXT PRIMARY KEY,
    hash       BLOB NOT NULL,
    principal  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;

-- The audit log: rowid - 1 is the leaf's index in the Merkle tree.
CREATE TABLE audit (
    idx       INTEGER PRIMARY KEY,
    leaf      BLOB NOT NULL,
    leaf_hash BLOB NOT NULL
);
