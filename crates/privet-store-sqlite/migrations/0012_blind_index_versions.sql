-- Privet schema v11: one B-tree fewer per blind-index entry. The key version moves into the
-- by-record index (which erasure and updates already need), and the separate by-version
-- index goes: a re-index pages through records in id order and filters on the version
-- inside that index, which is what it did before with a second B-tree to keep. Every entry
-- written paid for that B-tree: three inserts per entry became two (and the same in each
-- merge of the recent level).
DROP INDEX blind_index_by_key_version;
DROP INDEX blind_index_recent_by_key_version;
DROP INDEX blind_index_by_record;
DROP INDEX blind_index_recent_by_record;
CREATE INDEX blind_index_by_record ON blind_index (record_id, field_id, key_version);
CREATE INDEX blind_index_recent_by_record ON blind_index_recent (record_id, field_id, key_version);
