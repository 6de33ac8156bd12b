-- The durable work queue: leases, attempts, schedules, unique jobs and cancel requests.
-- attempt counts the claims so far; a claim holds the job until lease_expires_at, and a job
-- whose lease ran out goes back to pending (or ends failed after max_attempts). run_at is when
-- a job becomes due (created_at for existing jobs; the epoch, i.e. "due", for a row written
-- without one). A dedupe_key is unique among jobs that are
-- pending or running (a partial unique index), free again once the job finishes.
-- depends: 0008_list_indexes

ALTER TABLE jobs
    ADD COLUMN attempt          INTEGER      NOT NULL DEFAULT 0,
    ADD COLUMN max_attempts     INTEGER      NOT NULL DEFAULT 1,
    ADD COLUMN run_at           TIMESTAMPTZ  NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    ADD COLUMN lease_expires_at TIMESTAMPTZ,
    ADD COLUMN dedupe_key       VARCHAR(255),
    ADD COLUMN cancel_requested BOOLEAN      NOT NULL DEFAULT FALSE;

UPDATE jobs SET run_at = created_at;

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

-- Wake-ups: every statement that adds jobs sends NOTIFY agentdb_jobs, delivered at commit (one
-- per transaction: identical notifications are folded), so idle workers that LISTEN start at
-- once and enqueueing costs no extra round trip.
CREATE FUNCTION agentdb_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentdb_jobs', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER tr_jobs_notify AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION agentdb_notify_jobs();
