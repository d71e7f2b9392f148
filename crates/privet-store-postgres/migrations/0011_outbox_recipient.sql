-- The same as the SQLite backend's 0011_outbox_recipient: the address a notification goes
-- to, sealed by the vault under its outbox key and bound to the message's id (never
-- plaintext; NULL when the sender needs no address or the subject has none). It lives
-- exactly as long as its outbox row: deleted with it on delivery.
ALTER TABLE outbox ADD COLUMN recipient BYTEA;
