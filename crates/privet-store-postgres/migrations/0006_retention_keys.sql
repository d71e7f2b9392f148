-- Retention classes: records the law obliges the business to keep (legal basis
-- `legal_obligation`) are encrypted under a second key per subject, so an erasure can destroy
-- the subject's own key and keep them. Neither table references `subjects`: both outlive
-- the subject's erasure while something is kept.
CREATE TABLE retained_keys (
    subject_id  BYTEA NOT NULL,
    class       TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (subject_id, class)
);

-- Records an erasure kept, moved out of `records` (whose rows all belong to live subjects),
-- each with its class and the end of its retention.
CREATE TABLE retained_records (
    id         BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL,
    class      TEXT NOT NULL,
    collection TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    keep_until BIGINT NOT NULL,
    fields     BYTEA NOT NULL
);
CREATE INDEX retained_records_by_subject ON retained_records (subject_id, collection, id);
CREATE INDEX retained_records_by_end ON retained_records (keep_until);
