-- Key rotation. Each blind-index entry records the master-key version its term's HMAC key
-- is derived from, so a re-index can find what is left to do and retiring a version can be
-- refused while any entry is keyed from it. Entries made before this migration were keyed
-- from v1, the only version `privet init` creates.
ALTER TABLE blind_index ADD COLUMN key_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE blind_index_recent ADD COLUMN key_version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX blind_index_by_key_version ON blind_index (key_version, record_id);
CREATE INDEX blind_index_recent_by_key_version ON blind_index_recent (key_version, record_id);

-- A re-wrap reads the subjects still wrapped under an old version page by page.
CREATE INDEX subjects_by_key_version ON subjects (key_version, id);
