-- Retention and legal holds. `last_activity_at` is the subject's last activity (NULL: its
-- creation); the legal hold in force, if any, is three columns of the subject (reason code,
-- time, who), NULL when none. A hold lives and dies with its subject: erasure is refused
-- while it is in force.
ALTER TABLE subjects ADD COLUMN last_activity_at INTEGER;
ALTER TABLE subjects ADD COLUMN legal_hold_reason TEXT;
ALTER TABLE subjects ADD COLUMN legal_hold_at INTEGER;
ALTER TABLE subjects ADD COLUMN legal_hold_actor TEXT;
