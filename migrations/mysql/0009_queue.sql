-- The durable work queue: leases, attempts, schedules, unique jobs and cancel requests.
-- attempt counts the claims so far; a claim holds the job until lease_expires_at, and a job
-- whose lease ran out goes back to pending (or ends failed after max_attempts). run_at is when
-- a job becomes due (created_at for existing jobs; the epoch, i.e. "due", for a row written
-- without one). MariaDB has no partial indexes, so a
-- dedupe_key is made unique among pending and running jobs through a generated column that is
-- NULL for every other job (a unique index admits any number of NULLs).
-- depends: 0008_list_indexes

ALTER TABLE jobs
    ADD COLUMN attempt          INT          NOT NULL DEFAULT 0,
    ADD COLUMN max_attempts     INT          NOT NULL DEFAULT 1,
    ADD COLUMN run_at           DATETIME(6)  NOT NULL DEFAULT '1970-01-01 00:00:00',
    ADD COLUMN lease_expires_at DATETIME(6)  NULL,
    ADD COLUMN dedupe_key       VARCHAR(255) NULL,
    ADD COLUMN cancel_requested BOOLEAN      NOT NULL DEFAULT FALSE,
    ADD COLUMN dedupe_active    VARCHAR(255)
        AS (CASE WHEN status IN ('pending', 'running') THEN dedupe_key END) PERSISTENT;

UPDATE jobs SET run_at = created_at;

-- The claim walks only due candidates, in the order it takes them (pending, by priority, then
-- by run_at; with a tool filter, the same within one tool), so FOR UPDATE SKIP LOCKED locks
-- only the rows it takes. ix_jobs_lease serves the rescue of running jobs whose lease ran out.
ALTER TABLE jobs
    DROP INDEX ix_jobs_claim,
    ADD INDEX ix_jobs_claim (status, priority DESC, run_at, id),
    ADD INDEX ix_jobs_claim_tool (status, tool_name, priority DESC, run_at, id),
    ADD INDEX ix_jobs_lease (status, lease_expires_at),
    ADD UNIQUE INDEX ux_jobs_dedupe_key (dedupe_active);
