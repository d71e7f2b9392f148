-- Privet schema v2: the consent ledger, restrictions of processing, principals and roles.
-- Times are microseconds since the Unix epoch, as in v1. Enumerations (consent states,
-- sources) are plain text: the vault validates them, the store does not interpret them.

-- Append-only: `seq` orders the events of a subject as they were appended (event times
-- can tie or arrive out of order); the latest event of a purpose is its current state.
-- Deleted only by an erasure, with the subject.
CREATE TABLE consent_events (
    seq            INTEGER PRIMARY KEY,
    subject_id     BLOB NOT NULL REFERENCES subjects (id),
    purpose        TEXT NOT NULL,
    state          TEXT NOT NULL,
    at             INTEGER NOT NULL,
    source         TEXT NOT NULL,
    notice_version TEXT NOT NULL,
    expires_at     INTEGER,
    actor          TEXT NOT NULL
);
-- Serves both the history (by subject, in seq order) and the latest event per purpose.
CREATE INDEX consent_events_by_subject ON consent_events (subject_id, purpose, seq);

CREATE TABLE restrictions (
    subject_id BLOB PRIMARY KEY REFERENCES subjects (id),
    reason     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE principals (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
) WITHOUT ROWID;

-- The roles granted to a principal, in the order given. Not a foreign key to `roles`: a
-- grant of a role that does not exist (yet, or any more) simply grants nothing.
CREATE TABLE principal_roles (
    principal_id TEXT NOT NULL REFERENCES principals (id),
    position     INTEGER NOT NULL,
    role         TEXT NOT NULL,
    PRIMARY KEY (principal_id, position)
) WITHOUT ROWID;

-- `definition` is JSON the vault owns.
CREATE TABLE roles (
    name       TEXT PRIMARY KEY,
    definition BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
-- Revoking a principal revokes all of its keys.
CREATE INDEX api_keys_by_principal ON api_keys (principal);
