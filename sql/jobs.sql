-- Jobs, their results and log lines: the queries behind agentdb.repositories.jobs.JobStore.
-- Portable SQL (written against PostgreSQL); sql/<dialect>/jobs.sql overrides only what differs.
-- Every timestamp is bound by the application (UTC), so all three backends store the same values.

-- name: insert_job :exec
-- One new pending job. Only placeholders inside VALUES (...), so PyMySQL can fold a batch into
-- one multi-row INSERT and psycopg can pipeline it (create_job_batch runs it with run_many).
INSERT INTO jobs (id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters,
                  created_at, updated_at, run_at, max_attempts, dedupe_key)
VALUES (:id, :tool_name, :status, :priority, :batch_id, :workflow_id, :user_id, :parameters,
        :created_at, :created_at, :run_at, :max_attempts, :dedupe_key);

-- name: insert_unique_job :affected
-- insert_job for a job with a dedupe_key: 0 rows when a pending or running job already holds the
-- key (the partial unique index ux_jobs_dedupe_key decides, so racing enqueues cannot both win).
INSERT INTO jobs (id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters,
                  created_at, updated_at, run_at, max_attempts, dedupe_key)
VALUES (:id, :tool_name, :status, :priority, :batch_id, :workflow_id, :user_id, :parameters,
        :created_at, :created_at, :run_at, :max_attempts, :dedupe_key)
ON CONFLICT DO NOTHING;

-- name: get_active_by_dedupe_key :one
-- The pending or running job that holds a dedupe_key (through ux_jobs_dedupe_key).
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs
WHERE dedupe_key = :dedupe_key AND status IN ('pending', 'running');

-- name: get_job :one
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs
WHERE id = :id;

-- name: delete_job :affected
-- Its result and log lines go with it (ON DELETE CASCADE).
DELETE FROM jobs WHERE id = :id;

-- name: start_job :affected
-- pending -> running. The status test in the WHERE makes the check and the change one atomic
-- step: 0 rows means the job is missing or no longer pending.
UPDATE jobs
SET status = 'running', worker_id = COALESCE(:worker_id, worker_id),
    started_at = :now, updated_at = :now, attempt = attempt + 1
WHERE id = :id AND status = 'pending';

-- name: finish_job :affected
-- -> completed / failed / cancelled, from one of the statuses that may lead there. duration is
-- completed_at - started_at in seconds (NULL for a job that never started), exact to the
-- microsecond on every backend. A running job under a lease is finished only by its holder
-- (:worker_id); a caller that names no holder (:anyone) only a job nobody holds under a lease.
-- (The same holder test as save_result.)
UPDATE jobs
SET status = :status, completed_at = :now, updated_at = :now,
    duration = EXTRACT(EPOCH FROM (:now - started_at)),
    error_message = :error_message, lease_expires_at = NULL
WHERE id = :id AND status IN (:from_statuses)
  AND ((status = 'running' AND worker_id = :worker_id)
       OR (:anyone AND (status <> 'running' OR worker_id IS NULL
                        OR lease_expires_at IS NULL)));

-- name: claim_due_jobs :many
-- Take up to :limit due pending jobs (of :tool_name, if given), most urgent then oldest first,
-- and mark them running for :worker_id under a lease, in one statement (one round trip). The
-- CTE walks ix_jobs_claim (ix_jobs_claim_tool with a tool) in the order it takes jobs and locks
-- only those it takes, skipping rows other workers hold; it is MATERIALIZED so it runs once. (PostgreSQL, and SQLite's override; MariaDB has no
-- UPDATE ... RETURNING and claims with lock_due_jobs + mark_claimed.)
WITH picked AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE status = 'pending' /*if tool_name*/ AND tool_name = :tool_name /*end*/ AND run_at <= :now
    ORDER BY priority DESC, run_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET status = 'running', worker_id = :worker_id, started_at = :now, updated_at = :now,
    attempt = attempt + 1, lease_expires_at = :lease_until, cancel_requested = FALSE
WHERE id IN (SELECT id FROM picked)
RETURNING id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested;

-- name: lock_due_jobs :many
-- The two-statement claim (MariaDB), step 1, inside a transaction: lock up to :limit due
-- pending jobs (of :tool_name, if given), walking ix_jobs_claim (ix_jobs_claim_tool) in claim
-- order, so only the rows taken are read and locked; rows other workers hold are skipped.
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs
WHERE status = 'pending' /*if tool_name*/ AND tool_name = :tool_name /*end*/ AND run_at <= :now
ORDER BY priority DESC, run_at
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: mark_claimed :affected
-- The two-statement claim, step 2: the rows locked by lock_due_jobs become running.
UPDATE jobs
SET status = 'running', worker_id = :worker_id, started_at = :now, updated_at = :now,
    attempt = attempt + 1, lease_expires_at = :lease_until, cancel_requested = FALSE
WHERE id IN (:ids);

-- name: heartbeat_job :affected
-- Extend the holder's lease. 0 rows: the lease is lost (or a cancel was requested: the caller
-- then looks, and extends with heartbeat_cancelled so the holder can wind down).
UPDATE jobs
SET lease_expires_at = :lease_until, updated_at = :now
WHERE id = :id AND status = 'running' AND worker_id = :worker_id AND cancel_requested = FALSE;

-- name: heartbeat_cancelled :affected
UPDATE jobs
SET lease_expires_at = :lease_until, updated_at = :now
WHERE id = :id AND status = 'running' AND worker_id = :worker_id;

-- name: request_cancel :affected
-- cancel() of a running job someone else holds: record the request; the holder's next heartbeat
-- reports it.
UPDATE jobs
SET cancel_requested = TRUE, updated_at = :now
WHERE id = :id AND status = 'running';

-- name: lock_job :one
-- A job, locked for the rest of the transaction (the retry decision reads, then writes it).
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs
WHERE id = :id
FOR UPDATE;

-- name: retry_job :affected
-- A failed attempt with attempts left: back to pending, due again at :run_at (after backoff).
-- Runs on a row lock_job holds, after the holder test.
UPDATE jobs
SET status = 'pending', run_at = :run_at, updated_at = :now, lease_expires_at = NULL,
    error_message = :error_message
WHERE id = :id AND status = 'running';

-- name: release_job :affected
-- The holder gives a running job back (a worker shutting down): pending and due now, and the
-- attempt not counted, since the job did not fail.
UPDATE jobs
SET status = 'pending', run_at = :now, updated_at = :now, lease_expires_at = NULL,
    attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END
WHERE id = :id AND status = 'running' AND worker_id = :worker_id;

-- name: lock_expired :many
-- The rescue: running jobs whose lease ran out (through ix_jobs_lease), locked, skipping rows
-- another rescuer or a late heartbeat holds. status = 'running' here and in requeue_expired is
-- what keeps a rescue from ever touching a finished job.
SELECT id, worker_id, attempt, max_attempts, cancel_requested
FROM jobs
WHERE status = 'running' AND lease_expires_at < :now
ORDER BY lease_expires_at
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: requeue_expired :affected
-- Rescued jobs with attempts left go back to pending, due now.
UPDATE jobs
SET status = 'pending', run_at = :now, updated_at = :now, lease_expires_at = NULL,
    error_message = 'lease expired'
WHERE id IN (:ids) AND status = 'running' AND lease_expires_at < :now;

-- name: insert_log :exec
-- add_log for run_many (one round trip for many lines; the job is known to exist).
INSERT INTO job_logs (job_id, level, message, created_at)
VALUES (:job_id, :level, :message, :now);

-- name: get_batch_jobs :many
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs
WHERE batch_id = :batch_id
ORDER BY created_at, id;

-- name: count_jobs :scalar
-- Filters are optional: a condition between /*if x*/ and /*end*/ is left out of the SQL when
-- :x is None, so each combination runs as plain SQL that can use its index.
SELECT COUNT(*) FROM jobs
WHERE TRUE
  /*if status*/ AND status = :status /*end*/
  /*if workflow_id*/ AND workflow_id = :workflow_id /*end*/
  /*if tool_name*/ AND tool_name = :tool_name /*end*/
  /*if batch_id*/ AND batch_id = :batch_id /*end*/
  /*if created_after*/ AND created_at >= :created_after /*end*/
  /*if created_before*/ AND created_at < :created_before /*end*/;

-- name: list_jobs :many
-- Filters as in count_jobs. The sort column and direction are picked from these whitelists
-- (the text put into the SQL is the option's, never the caller's); id breaks ties, so pages
-- do not overlap. :after_desc / :after_asc (with :after_id) start a keyset page just past
-- the previous page's last row, for the order in use (see agentdb/paging.py).
-- sort_by: one of created_at, updated_at, priority, status, tool_name
-- sort_order: one of desc, asc
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs
WHERE TRUE
  /*if status*/ AND status = :status /*end*/
  /*if workflow_id*/ AND workflow_id = :workflow_id /*end*/
  /*if tool_name*/ AND tool_name = :tool_name /*end*/
  /*if batch_id*/ AND batch_id = :batch_id /*end*/
  /*if created_after*/ AND created_at >= :created_after /*end*/
  /*if created_before*/ AND created_at < :created_before /*end*/
  /*if after_desc*/ AND ({sort_by}, id) < (:after_desc, :after_id)
                    AND ({sort_by} < :after_desc
                         OR ({sort_by} = :after_desc AND id < :after_id)
                         OR {sort_by} IS NULL) /*end*/
  /*if after_asc*/ AND ({sort_by}, id) > (:after_asc, :after_id)
                   AND ({sort_by} > :after_asc
                        OR ({sort_by} = :after_asc AND id > :after_id)
                        OR {sort_by} IS NULL) /*end*/
ORDER BY {sort_by} {sort_order}, id {sort_order}
LIMIT :limit OFFSET :offset;

-- name: save_result :affected
-- Insert or replace the job's result. Selecting from jobs makes a missing job 0 rows (the
-- caller then reports NotFound) rather than a foreign-key error; so does a job under a lease
-- that :worker_id does not hold (the caller then reports LeaseLost).
INSERT INTO job_results (job_id, stdout, stderr, return_code, output_files, created_at)
SELECT id, :stdout, :stderr, :return_code, :output_files, :now
FROM jobs
WHERE id = :job_id
  AND ((status = 'running' AND worker_id = :worker_id)
       OR (:anyone AND (status <> 'running' OR worker_id IS NULL
                        OR lease_expires_at IS NULL)))
ON CONFLICT (job_id) DO UPDATE
SET stdout = excluded.stdout, stderr = excluded.stderr, return_code = excluded.return_code,
    output_files = excluded.output_files, created_at = excluded.created_at;

-- name: get_result :one
SELECT job_id, stdout, stderr, return_code, output_files, created_at
FROM job_results
WHERE job_id = :job_id;

-- name: add_log :scalar
-- The new line's id, or NULL when the job does not exist (nothing is inserted then).
INSERT INTO job_logs (job_id, level, message, created_at)
SELECT id, :level, :message, :now
FROM jobs
WHERE id = :job_id
RETURNING id;

-- name: get_logs :many
-- In the order they were written: by time, then by id for lines written in the same instant.
SELECT id, job_id, level, message, created_at
FROM job_logs
WHERE job_id = :job_id
ORDER BY created_at, id;

-- name: count_by_status :many
SELECT status, COUNT(*) AS jobs
FROM jobs
GROUP BY status;

-- name: top_tools :many
-- The five most used tools; ties by name, so the answer is the same on every backend.
SELECT tool_name, COUNT(*) AS uses
FROM jobs
GROUP BY tool_name
ORDER BY uses DESC, tool_name
LIMIT 5;

-- name: mean_duration :scalar
SELECT AVG(duration) FROM jobs WHERE duration IS NOT NULL;

-- name: delete_finished_chunk :affected
-- Up to :chunk_size jobs that finished before :cutoff (results and logs go by ON DELETE CASCADE).
-- One short statement per chunk, so no lock is held long; rows another session holds are left
-- for the next run.
DELETE FROM jobs
WHERE id IN (
    SELECT id FROM jobs
    WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < :cutoff
    LIMIT :chunk_size
    FOR UPDATE SKIP LOCKED
);

-- name: export_jobs :many
-- Every job, oldest first, for agentdb.backup.export_jobs: it streams them (stream()), so a
-- table of any size is written in constant memory.
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message
FROM jobs
ORDER BY created_at, id;
