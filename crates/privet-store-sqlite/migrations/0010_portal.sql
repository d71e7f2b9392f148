-- Privet portal: the ids of spent portal tokens — single-use links that were exchanged for a
-- session, and sessions that were ended — so that a link works once and an ended session
-- stays ended on every server sharing the database. Ids are random (never derived from
-- personal data); times are microseconds since the Unix epoch. A row may be purged once its
-- token has expired, since an expired token is refused whether or not it was spent.
CREATE TABLE portal_spent (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    spent_at   INTEGER NOT NULL
);
CREATE INDEX portal_spent_expiry ON portal_spent (expires_at);
