-- Retention classes: records the law obliges the business to keep (legal basis
-- `legal_obligation`) are encrypted under a second key per subject, so an erasure can destroy
-- the subject's own key and keep them. Neither table references `subjects`: both outlive
-- the subject's erasure while something is kept.
CREATE TABLE retained_keys (
    subject_id  BLOB NOT NULL,
    class       TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (subject_id, class)
) WITHOUT ROWID;

-- Records an erasure kept, moved out of `records` (whose rows all belong to live subjects),
-- each with its class and the end of its retention.
CREATE TABLE retained_records (
    id         BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL,
    class      TEXT NOT NULL,
    collection TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    keep_until INTEGER NOT NULL,
    fields     BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX retained_records_by_subject ON retained_records (subject_id, collection, id);
CREATE INDEX retained_records_by_end ON retained_records (keep_until);
