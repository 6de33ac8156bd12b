-- SQLite overrides of sql/jobs.sql. No FOR UPDATE / SKIP LOCKED here: every write runs in a
-- write transaction (BEGIN IMMEDIATE behind the pool's per-file writer lock), which already
-- serializes writers, so a row picked inside one cannot be taken by anyone else.

-- name: finish_job :affected
-- Timestamps are fixed-width ISO-8601 text (YYYY-MM-DDTHH:MM:SS.ffffff+00:00): whole seconds
-- from strftime('%s'), microseconds from characters 21-26, so duration is exact (julianday()
-- would round to about a millisecond).
UPDATE jobs
SET status = :status, completed_at = :now, updated_at = :now,
    duration = ((CAST(strftime('%s', :now) AS INTEGER) - CAST(strftime('%s', started_at) AS INTEGER))
                * 1000000
                + CAST(substr(:now, 21, 6) AS INTEGER) - CAST(substr(started_at, 21, 6) AS INTEGER)
               ) / 1000000.0,
    error_message = :error_message, lease_expires_at = NULL
WHERE id = :id AND status IN (:from_statuses)
  AND ((status = 'running' AND worker_id = :worker_id)
       OR (:anyone AND (status <> 'running' OR worker_id IS NULL
                        OR lease_expires_at IS NULL)));

-- name: claim_due_jobs :many
WITH picked AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE status = 'pending' /*if tool_name*/ AND tool_name = :tool_name /*end*/ AND run_at <= :now
    ORDER BY priority DESC, run_at
    LIMIT :limit
)
UPDATE jobs
SET status = 'running', worker_id = :worker_id, started_at = :now, updated_at = :now,
    attempt = attempt + 1, lease_expires_at = :lease_until, cancel_requested = FALSE
WHERE id IN (SELECT id FROM picked)
RETURNING id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested;

-- name: lock_job :one
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message,
       attempt, max_attempts, run_at, lease_expires_at, dedupe_key, cancel_requested
FROM jobs
WHERE id = :id;

-- name: lock_expired :many
SELECT id, worker_id, attempt, max_attempts, cancel_requested
FROM jobs
WHERE status = 'running' AND lease_expires_at < :now
ORDER BY lease_expires_at
LIMIT :limit;

-- name: delete_finished_chunk :affected
DELETE FROM jobs
WHERE id IN (
    SELECT id FROM jobs
    WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < :cutoff
    LIMIT :chunk_size
);
