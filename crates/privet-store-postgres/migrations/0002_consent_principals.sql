-- Privet schema v2 for PostgreSQL: the same tables, names and meaning as the SQLite
-- backend's 0002_consent_principals: the consent ledger, restrictions of processing,
-- principals and roles. Times are microseconds since the Unix epoch, as in v1. Enumerations
-- (consent states, sources) are plain text: the vault validates them, the store does not
-- interpret them.

-- Append-only: `seq` orders the events of a subject as they were appended (event times
-- can tie or arrive out of order); the latest event of a purpose is its current state.
-- Appends lock the subject row (FOR NO KEY UPDATE), so the events of one subject take their
-- `seq` in commit order and an erasure cannot interleave.
-- Deleted only by an erasure, with the subject.
CREATE TABLE consent_events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_id     BYTEA NOT NULL REFERENCES subjects (id),
    purpose        TEXT NOT NULL,
    state          TEXT NOT NULL,
    at             BIGINT NOT NULL,
    source         TEXT NOT NULL,
    notice_version TEXT NOT NULL,
    expires_at     BIGINT,
    actor          TEXT NOT NULL
);
-- Serves both the history (by subject, in seq order) and the latest event per purpose.
CREATE INDEX consent_events_by_subject ON consent_events (subject_id, purpose, seq);

CREATE TABLE restrictions (
    subject_id BYTEA PRIMARY KEY REFERENCES subjects (id),
    reason     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL
);

CREATE TABLE principals (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

-- The roles granted to a principal, in the order given. Not a foreign key to `roles`: a
-- grant of a role that does not exist (yet, or any more) simply grants nothing.
CREATE TABLE principal_roles (
    principal_id TEXT NOT NULL REFERENCES principals (id),
    position     INTEGER NOT NULL,
    role         TEXT NOT NULL,
    PRIMARY KEY (principal_id, position)
);

-- `definition` is JSON the vault owns.
CREATE TABLE roles (
    name       TEXT PRIMARY KEY,
    definition BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
-- Revoking a principal revokes all of its keys.
CREATE INDEX api_keys_by_principal ON api_keys (principal);
