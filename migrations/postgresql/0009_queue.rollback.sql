-- One statement per statement of 0009_queue.sql, in reverse order: yoyo pairs them up.

DROP TRIGGER IF EXISTS tr_jobs_notify ON jobs;

DROP FUNCTION IF EXISTS agentdb_notify_jobs();

DROP INDEX IF EXISTS ux_jobs_dedupe_key;

DROP INDEX IF EXISTS ix_jobs_lease;

DROP INDEX IF EXISTS ix_jobs_claim_tool;

DROP INDEX IF EXISTS ix_jobs_claim;

CREATE INDEX ix_jobs_claim ON jobs (status, priority DESC, created_at);

UPDATE jobs SET run_at = created_at WHERE 1 = 0;  -- nothing to undo: run_at goes below

ALTER TABLE jobs
    DROP COLUMN IF EXISTS cancel_requested,
    DROP COLUMN IF EXISTS dedupe_key,
    DROP COLUMN IF EXISTS lease_expires_at,
    DROP COLUMN IF EXISTS run_at,
    DROP COLUMN IF EXISTS max_attempts,
    DROP COLUMN IF EXISTS attempt;
