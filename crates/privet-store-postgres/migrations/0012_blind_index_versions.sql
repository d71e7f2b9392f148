-- Privet schema v11 (its position in the list: 0008 was never used): one index fewer per
-- blind-index entry. The key version moves into the by-record index (which updates and
-- re-indexing already use), and the separate by-version index goes: a re-index pages
-- through entries in record-id order and filters on the version inside that index (an
-- index-only scan), so no entry needs a fourth index.
DROP INDEX blind_index_by_key_version;
DROP INDEX blind_index_by_record;
CREATE INDEX blind_index_by_record ON blind_index (record_id, field, key_version);
