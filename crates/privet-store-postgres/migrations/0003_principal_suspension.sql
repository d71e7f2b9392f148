-- Privet schema v3, the same as the SQLite backend's 0003_principal_suspension: a principal
-- can be suspended (by access monitoring, or by an admin) until an admin lifts it. Times are
-- microseconds since the Unix epoch; the reason is a code such as `distinct_subjects`, never
-- a value.
ALTER TABLE principals ADD COLUMN suspended_at BIGINT;
ALTER TABLE principals ADD COLUMN suspension_reason TEXT;
