-- MariaDB (10.6+) / MySQL overrides of sql/jobs.sql. MariaDB has no UPDATE ... RETURNING and
-- cannot select from the table it updates in a subquery, so claim_due_jobs is never run here:
-- JobStore claims with lock_due_jobs + mark_claimed inside one transaction instead.

-- name: finish_job :affected
-- TIMESTAMPDIFF counts whole microseconds; dividing by the DOUBLE 1e6 (not the integer
-- 1000000, which would be DECIMAL division rounded to 4 places) keeps them all.
UPDATE jobs
SET status = :status, completed_at = :now, updated_at = :now,
    duration = TIMESTAMPDIFF(MICROSECOND, started_at, :now) / 1e6,
    error_message = :error_message, lease_expires_at = NULL
WHERE id = :id AND status IN (:from_statuses)
  AND ((status = 'running' AND worker_id = :worker_id)
       OR (:anyone AND (status <> 'running' OR worker_id IS NULL
                        OR lease_expires_at IS NULL)));

-- name: save_result :affected
-- MariaDB counts 1 for an insert and 2 for a replacement; 0 means no such job (agentdb's
-- connections set CLIENT_FOUND_ROWS, so rewriting identical values still counts).
INSERT INTO job_results (job_id, stdout, stderr, return_code, output_files, created_at)
SELECT id, :stdout, :stderr, :return_code, :output_files, :now
FROM jobs
WHERE id = :job_id
  AND ((status = 'running' AND worker_id = :worker_id)
       OR (:anyone AND (status <> 'running' OR worker_id IS NULL
                        OR lease_expires_at IS NULL)))
ON DUPLICATE KEY UPDATE
    stdout = VALUES(stdout), stderr = VALUES(stderr), return_code = VALUES(return_code),
    output_files = VALUES(output_files), created_at = VALUES(created_at);

-- name: delete_finished_chunk :affected
-- A single-table DELETE may carry LIMIT here (a LIMIT inside an IN subquery may not).
DELETE FROM jobs
WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < :cutoff
LIMIT :chunk_size;

-- name: insert_unique_job :affected
-- No ON CONFLICT here: a duplicate key is error 1062, which JobStore takes as "0 rows" (in
-- MariaDB a failed statement does not abort the transaction around it). The unique index is on
-- dedupe_active, a generated column that holds dedupe_key only while the job is pending or
-- running (MariaDB has no partial indexes).
INSERT INTO jobs (id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters,
                  created_at, updated_at, run_at, max_attempts, dedupe_key)
VALUES (:id, :tool_name, :status, :priority, :batch_id, :workflow_id, :user_id, :parameters,
        :created_at, :created_at, :run_at, :max_attempts, :dedupe_key);

-- name: get_active_by_dedupe_key :one
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs
WHERE dedupe_active = :dedupe_key;

-- name: lock_due_jobs :many
-- The claim's step 1 (see sql/jobs.sql). MariaDB's FOR UPDATE locks every row it reads, so it
-- must read only the rows it takes: USE INDEX keeps the optimizer on the claim indexes, which
-- hold candidates in claim order (left alone, it may pick ix_jobs_tool_name_created_at for a
-- rare tool, then read, lock and sort every job of that tool, finished ones included).
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs USE INDEX (ix_jobs_claim, ix_jobs_claim_tool)
WHERE status = 'pending' /*if tool_name*/ AND tool_name = :tool_name /*end*/ AND run_at <= :now
ORDER BY priority DESC, run_at
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: lock_expired :many
-- The rescue's lock, kept on ix_jobs_lease for the same reason.
SELECT id, worker_id, attempt, max_attempts, cancel_requested
FROM jobs USE INDEX (ix_jobs_lease)
WHERE status = 'running' AND lease_expires_at < :now
ORDER BY lease_expires_at
LIMIT :limit
FOR UPDATE SKIP LOCKED;
