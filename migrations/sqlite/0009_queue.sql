-- The durable work queue: leases, attempts, schedules, unique jobs and cancel requests.
-- attempt counts the claims so far; a claim holds the job until lease_expires_at, and a job
-- whose lease ran out goes back to pending (or ends failed after max_attempts). run_at is when
-- a job becomes due (created_at for existing jobs; the epoch, i.e. "due", for a row written
-- without one). A dedupe_key is unique among jobs
-- that are pending or running (a partial unique index), free again once the job finishes.
-- depends: 0008_list_indexes

ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;

ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;

ALTER TABLE jobs ADD COLUMN run_at TEXT NOT NULL DEFAULT '1970-01-01T00:00:00.000000+00:00';

UPDATE jobs SET run_at = created_at;

ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT;

ALTER TABLE jobs ADD COLUMN dedupe_key TEXT;

-- 0/1, written only by agentdb's own statements. (No CHECK: SQLite verifies a CHECK added by
-- ALTER TABLE with a query whose result rows yoyo would print.)
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

DROP INDEX ix_jobs_claim;

-- The claim walks only due candidates, in the order it takes them: pending, by priority, then
-- by run_at; with a tool filter the second index does the same within one tool. id makes them
-- covering for the claim's CTE (SQLite's planner, given statistics, otherwise prefers to walk
-- ix_jobs_priority and sort).
CREATE INDEX ix_jobs_claim ON jobs (status, priority DESC, run_at, id);

CREATE INDEX ix_jobs_claim_tool ON jobs (status, tool_name, priority DESC, run_at, id);

-- The rescue: running jobs whose lease ran out.
CREATE INDEX ix_jobs_lease ON jobs (status, lease_expires_at);

CREATE UNIQUE INDEX ux_jobs_dedupe_key ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'running');
