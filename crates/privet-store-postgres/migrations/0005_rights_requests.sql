-- Data-subject rights requests, their event history, and the notifications outbox. No
-- personal values: ids, kinds, statuses, times, reason codes, field names, and message texts
-- that name the subject only by id. Requests outlive an erasure of their subject (they are
-- the record of having answered), so subject_id has no foreign key.
CREATE TABLE rights_requests (
    id          BYTEA PRIMARY KEY,
    subject_id  BYTEA NOT NULL,
    kind        TEXT NOT NULL,
    purpose     TEXT,
    regime      TEXT NOT NULL,
    origin      TEXT NOT NULL,
    status      TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    extended    BOOLEAN NOT NULL,
    verified_at BIGINT,
    closed_at   BIGINT,
    version     BIGINT NOT NULL
);
CREATE INDEX rights_requests_by_due ON rights_requests (due_at, id);
CREATE INDEX rights_requests_by_subject ON rights_requests (subject_id, due_at);

CREATE TABLE rights_request_events (
    request_id BYTEA NOT NULL,
    seq        BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    event      TEXT NOT NULL,
    status     TEXT NOT NULL,
    detail     TEXT,
    PRIMARY KEY (request_id, seq)
);

CREATE TABLE outbox (
    id              BYTEA PRIMARY KEY,
    subject_id      BYTEA NOT NULL,
    request_id      BYTEA,
    template        TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_by_next_attempt ON outbox (next_attempt_at, id);
