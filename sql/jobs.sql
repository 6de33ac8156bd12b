-- Jobs, their results and log lines: the queries behind agentdb.repositories.jobs.JobStore.
-- Portable SQL (written against PostgreSQL); sql/<dialect>/jobs.sql overrides only what differs.
-- Every timestamp is bound by the application (UTC), so all three backends store the same values.

-- name: insert_job :exec
-- One new pending job. Only placeholders inside VALUES (...), so PyMySQL can fold a batch into
-- one multi-row INSERT and psycopg can pipeline it (create_job_batch runs it with run_many).
INSERT INTO jobs (id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters,
                  created_at, updated_at)
VALUES (:id, :tool_name, :status, :priority, :batch_id, :workflow_id, :user_id, :parameters,
        :created_at, :created_at);

-- name: get_job :one
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message
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
    started_at = :now, updated_at = :now
WHERE id = :id AND status = 'pending';

-- name: finish_job :affected
-- -> completed / failed / cancelled, from one of the statuses that may lead there. duration is
-- completed_at - started_at in seconds (NULL for a job that never started), exact to the
-- microsecond on every backend.
UPDATE jobs
SET status = :status, completed_at = :now, updated_at = :now,
    duration = EXTRACT(EPOCH FROM (:now - started_at)),
    error_message = :error_message
WHERE id = :id AND status IN (:from_statuses);

-- name: claim_next_job :one
-- Take the most urgent, oldest pending job and mark it running, in one statement (one round
-- trip, no explicit transaction): the subquery locks the row it picks and skips rows other
-- workers have locked, so two workers never get the same job. (PostgreSQL, and SQLite's
-- override; MariaDB has no UPDATE ... RETURNING and uses lock_next_job + mark_claimed.)
UPDATE jobs
SET status = 'running', worker_id = :worker_id, started_at = :now, updated_at = :now
WHERE id = (
    SELECT id FROM jobs
    WHERE status = 'pending' /*if tool_name*/ AND tool_name = :tool_name /*end*/
    ORDER BY priority DESC, created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
          created_at, updated_at, started_at, completed_at, duration, error_message;

-- name: lock_next_job :one
-- The two-statement claim, step 1 (inside a transaction): lock the most urgent, oldest pending
-- job, skipping rows other workers hold.
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message
FROM jobs
WHERE status = 'pending' /*if tool_name*/ AND tool_name = :tool_name /*end*/
ORDER BY priority DESC, created_at
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: mark_claimed :affected
-- The two-statement claim, step 2: the row locked by lock_next_job becomes running.
UPDATE jobs
SET status = 'running', worker_id = :worker_id, started_at = :now, updated_at = :now
WHERE id = :id;

-- name: get_batch_jobs :many
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message
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
-- do not overlap.
-- sort_by: one of created_at, updated_at, priority, status, tool_name
-- sort_order: one of desc, asc
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message
FROM jobs
WHERE TRUE
  /*if status*/ AND status = :status /*end*/
  /*if workflow_id*/ AND workflow_id = :workflow_id /*end*/
  /*if tool_name*/ AND tool_name = :tool_name /*end*/
  /*if batch_id*/ AND batch_id = :batch_id /*end*/
  /*if created_after*/ AND created_at >= :created_after /*end*/
  /*if created_before*/ AND created_at < :created_before /*end*/
ORDER BY {sort_by} {sort_order}, id {sort_order}
LIMIT :limit OFFSET :offset;

-- name: save_result :affected
-- Insert or replace the job's result. Selecting from jobs makes a missing job 0 rows (the
-- caller then reports NotFound) rather than a foreign-key error.
INSERT INTO job_results (job_id, stdout, stderr, return_code, output_files, created_at)
SELECT id, :stdout, :stderr, :return_code, :output_files, :now
FROM jobs
WHERE id = :job_id
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
