-- One statement per statement of 0009_queue.sql, in reverse order: yoyo pairs them up.

DROP INDEX IF EXISTS ux_jobs_dedupe_key;

DROP INDEX IF EXISTS ix_jobs_lease;

DROP INDEX IF EXISTS ix_jobs_claim_tool;

DROP INDEX IF EXISTS ix_jobs_claim;

CREATE INDEX ix_jobs_claim ON jobs (status, priority DESC, created_at);

ALTER TABLE jobs DROP COLUMN cancel_requested;

ALTER TABLE jobs DROP COLUMN dedupe_key;

ALTER TABLE jobs DROP COLUMN lease_expires_at;

UPDATE jobs SET run_at = created_at WHERE 1 = 0;  -- nothing to undo: run_at goes below

ALTER TABLE jobs DROP COLUMN run_at;

ALTER TABLE jobs DROP COLUMN max_attempts;

ALTER TABLE jobs DROP COLUMN attempt;
