-- Privet schema v3: a principal can be suspended (by access monitoring, or by an admin) until
-- an admin lifts it. Times are microseconds since the Unix epoch; the reason is a code such
-- as `distinct_subjects`, never a value.
ALTER TABLE principals ADD COLUMN suspended_at INTEGER;
ALTER TABLE principals ADD COLUMN suspension_reason TEXT;
