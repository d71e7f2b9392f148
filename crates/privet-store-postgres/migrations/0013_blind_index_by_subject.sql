-- Privet schema v12 on PostgreSQL (SQLite stays at v11: its blind index never had this index):
-- the blind index's by-subject index goes, one index entry fewer per blind-index row on every
-- write. Erasure now deletes a subject's entries by its records' ids, through the by-record
-- index, as the SQLite backend always has; every entry belongs to a record of its subject
-- (an entry goes with its record when the record is deleted or moved to the kept records).
DROP INDEX blind_index_by_subject;
