-- Workflow executions and their event history (ExecutionRepository).
-- Every change to an execution writes one execution_history row in the same unit of work.
-- Only a pending or running execution changes; a finished one (completed, failed, cancelled)
-- is history. An optional filter sits between /*if x*/ and /*end*/: the loader leaves it out
-- of the SQL when :x is None.

-- name: resolve_workflow_id :one
-- The workflow of a given id: its name is copied onto the execution.
SELECT id, name FROM workflows WHERE id = :workflow_id;

-- name: resolve_workflow_name :one
-- The workflow a name refers to for :user_id: their own first, then a public one, newest first.
-- Private workflows of other users are never linked by name.
SELECT id, name
FROM workflows
WHERE name = :workflow_name
  AND (owner_id = :user_id OR is_public = TRUE)
ORDER BY CASE WHEN owner_id = :user_id THEN 0 ELSE 1 END, created_at DESC, id
LIMIT 1;

-- name: insert_execution :exec
INSERT INTO executions (id, workflow_id, workflow_name, user_id, status, current_step, state,
                        error_message, started_at, completed_at, updated_at)
VALUES (:id, :workflow_id, :workflow_name, :user_id, :status, :current_step, :state,
        NULL, :started_at, NULL, :started_at);

-- name: get_execution :one
SELECT id, workflow_id, workflow_name, user_id, status, current_step, state, error_message,
       started_at, completed_at, updated_at
FROM executions
WHERE id = :id;

-- name: get_status :scalar
SELECT status FROM executions WHERE id = :id;

-- name: set_step :affected
-- A NULL :state keeps the current state.
UPDATE executions
SET current_step = :step,
    state = COALESCE(:state, state),
    status = 'running',
    updated_at = :now
WHERE id = :id AND status IN ('pending', 'running');

-- name: set_state :affected
UPDATE executions
SET state = :state,
    updated_at = :now
WHERE id = :id AND status IN ('pending', 'running');

-- name: finish_execution :affected
-- completed / failed / cancelled; a NULL :state keeps the current state.
UPDATE executions
SET status = :status,
    state = COALESCE(:state, state),
    error_message = :error_message,
    completed_at = :now,
    updated_at = :now
WHERE id = :id AND status IN ('pending', 'running');

-- name: delete_execution :affected
-- Its history goes with it (ON DELETE CASCADE).
DELETE FROM executions WHERE id = :id;

-- name: insert_history :exec
INSERT INTO execution_history (execution_id, event, status, step, state, message, created_at)
VALUES (:execution_id, :event, :status, :step, :state, :message, :created_at);

-- name: get_history :many
-- In the order the events happened (the id is assigned in commit order per execution, since
-- every change to one execution holds its row lock).
SELECT id, execution_id, event, status, step, state, message, created_at
FROM execution_history
WHERE execution_id = :execution_id
ORDER BY id;

-- name: list_executions :many
-- Newest first; every filter is optional; the time range applies to started_at, [since, until).
SELECT id, workflow_id, workflow_name, user_id, status, current_step, state, error_message,
       started_at, completed_at, updated_at
FROM executions
WHERE TRUE
  /*if status*/ AND status = :status /*end*/
  /*if workflow_id*/ AND workflow_id = :workflow_id /*end*/
  /*if workflow_name*/ AND workflow_name = :workflow_name /*end*/
  /*if user_id*/ AND user_id = :user_id /*end*/
  /*if since*/ AND started_at >= :since /*end*/
  /*if until*/ AND started_at < :until /*end*/
  /*if after_desc*/ AND (started_at, id) < (:after_desc, :after_id)
                    AND (started_at < :after_desc
                         OR (started_at = :after_desc AND id < :after_id)
                         OR started_at IS NULL) /*end*/
ORDER BY started_at DESC, id DESC
LIMIT :limit OFFSET :offset;

-- name: count_by_status :many
SELECT status, COUNT(*) AS n
FROM executions
WHERE TRUE
  /*if workflow_id*/ AND workflow_id = :workflow_id /*end*/
  /*if user_id*/ AND user_id = :user_id /*end*/
GROUP BY status;
