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
    error_message = :error_message
WHERE id = :id AND status IN (:from_statuses);

-- name: claim_next_job :one
UPDATE jobs
SET status = 'running', worker_id = :worker_id, started_at = :now, updated_at = :now
WHERE id = (
    SELECT id FROM jobs
    WHERE status = 'pending' /*if tool_name*/ AND tool_name = :tool_name /*end*/
    ORDER BY priority DESC, created_at
    LIMIT 1
)
RETURNING id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
          created_at, updated_at, started_at, completed_at, duration, error_message;

-- name: lock_next_job :one
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message
FROM jobs
WHERE status = 'pending' /*if tool_name*/ AND tool_name = :tool_name /*end*/
ORDER BY priority DESC, created_at
LIMIT 1;

-- name: delete_finished_chunk :affected
DELETE FROM jobs
WHERE id IN (
    SELECT id FROM jobs
    WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < :cutoff
    LIMIT :chunk_size
);
