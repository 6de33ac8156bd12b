-- One statement per statement of 0009_queue.sql, in reverse order: yoyo pairs them up.

ALTER TABLE jobs
    DROP INDEX ux_jobs_dedupe_key,
    DROP INDEX ix_jobs_lease,
    DROP INDEX ix_jobs_claim_tool,
    DROP INDEX ix_jobs_claim,
    ADD INDEX ix_jobs_claim (status, priority DESC, created_at);

UPDATE jobs SET run_at = created_at WHERE 1 = 0;  -- nothing to undo: run_at goes below

ALTER TABLE jobs
    DROP COLUMN dedupe_active,
    DROP COLUMN cancel_requested,
    DROP COLUMN dedupe_key,
    DROP COLUMN lease_expires_at,
    DROP COLUMN run_at,
    DROP COLUMN max_attempts,
    DROP COLUMN attempt;
