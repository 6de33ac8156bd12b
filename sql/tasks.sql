-- Tasks, their numbered runs, metrics and artifacts (TaskRepository).
-- total_runs counts started runs and is the source of run_number: start_run bumps it (which
-- locks the task row until commit) and numbers the new run with the bumped value, so
-- concurrent starts get 1, 2, 3 ... with no gap or duplicate. successful_runs / failed_runs
-- move in the same unit of work that finishes a run.

-- name: insert_task :exec
INSERT INTO tasks (id, name, description, config, max_rounds, memory_size, status, total_runs,
                   successful_runs, failed_runs, created_at, updated_at)
VALUES (:id, :name, :description, :config, :max_rounds, :memory_size, :status, 0, 0, 0,
        :created_at, :created_at);

-- name: get_task :one
SELECT id, name, description, config, max_rounds, memory_size, status, total_runs,
       successful_runs, failed_runs, created_at, updated_at
FROM tasks
WHERE id = :id;

-- name: list_tasks :many
-- Newest first; :status is optional.
SELECT id, name, description, config, max_rounds, memory_size, status, total_runs,
       successful_runs, failed_runs, created_at, updated_at
FROM tasks
WHERE TRUE
  /*if status*/ AND status = :status /*end*/
  /*if after_desc*/ AND (created_at, id) < (:after_desc, :after_id)
                    AND (created_at < :after_desc
                         OR (created_at = :after_desc AND id < :after_id)
                         OR created_at IS NULL) /*end*/
ORDER BY created_at DESC, id DESC
LIMIT :limit OFFSET :offset;

-- name: update_task :affected
-- A NULL argument keeps the column; description, max_rounds and memory_size, which may be
-- NULL, change only when their :set_* flag is true.
UPDATE tasks
SET name = COALESCE(:name, name),
    description = CASE WHEN :set_description THEN :description ELSE description END,
    config = CASE WHEN :set_config THEN :config ELSE config END,
    max_rounds = CASE WHEN :set_max_rounds THEN :max_rounds ELSE max_rounds END,
    memory_size = CASE WHEN :set_memory_size THEN :memory_size ELSE memory_size END,
    status = COALESCE(:status, status),
    updated_at = :updated_at
WHERE id = :id;

-- name: delete_task :affected
-- Its runs, metrics and artifacts go with it (ON DELETE CASCADE).
DELETE FROM tasks WHERE id = :id;

-- name: bump_total_runs :affected
-- Locks the task row until the unit of work ends: the next start_run of this task waits here.
UPDATE tasks
SET total_runs = total_runs + 1,
    updated_at = :now
WHERE id = :id;

-- name: get_run_budget :one
-- The bumped total_runs (the new run's number) and the task's max_rounds.
SELECT total_runs, max_rounds FROM tasks WHERE id = :id;

-- name: insert_run :exec
INSERT INTO task_runs (id, task_id, run_number, status, plan, results, error_message,
                       error_details, started_at, completed_at, duration)
VALUES (:id, :task_id, :run_number, 'running', :plan, NULL, NULL, NULL, :started_at, NULL,
        NULL);

-- name: get_run :one
SELECT id, task_id, run_number, status, plan, results, error_message, error_details,
       started_at, completed_at, duration
FROM task_runs
WHERE id = :id;

-- name: lock_run :one
-- One run, to be finished; portable SQL cannot say FOR UPDATE, SQLite's write unit serializes.
SELECT id, task_id, run_number, status, plan, results, error_message, error_details,
       started_at, completed_at, duration
FROM task_runs
WHERE id = :id;

-- name: get_run_by_number :one
SELECT id, task_id, run_number, status, plan, results, error_message, error_details,
       started_at, completed_at, duration
FROM task_runs
WHERE task_id = :task_id AND run_number = :run_number;

-- name: list_runs :many
-- In run order; :status is optional.
SELECT id, task_id, run_number, status, plan, results, error_message, error_details,
       started_at, completed_at, duration
FROM task_runs
WHERE task_id = :task_id
  /*if status*/ AND status = :status /*end*/
  /*if after_asc*/ AND (run_number, id) > (:after_asc, :after_id)
                   AND (run_number > :after_asc
                        OR (run_number = :after_asc AND id > :after_id)
                        OR run_number IS NULL) /*end*/
ORDER BY run_number, id
LIMIT :limit OFFSET :offset;

-- name: finish_run :affected
-- completed / failed / cancelled, once: a finished run never changes again.
UPDATE task_runs
SET status = :status,
    results = :results,
    error_message = :error_message,
    error_details = :error_details,
    completed_at = :completed_at,
    duration = :duration
WHERE id = :id AND status IN ('pending', 'running');

-- name: count_finished_run :affected
-- :succeeded and :failed are 0 or 1.
UPDATE tasks
SET successful_runs = successful_runs + :succeeded,
    failed_runs = failed_runs + :failed,
    updated_at = :now
WHERE id = :id;

-- name: insert_metric :one
-- A metric of a run belongs to the run's task too, unless another task_id is given.
INSERT INTO metric_snapshots (task_id, task_run_id, name, metric_type, value, unit, labels,
                              recorded_at)
VALUES (COALESCE(:task_id, (SELECT r.task_id FROM task_runs r WHERE r.id = :task_run_id)),
        :task_run_id, :name, :metric_type, :value, :unit, :labels, :recorded_at)
RETURNING id, task_id;

-- name: list_metrics :many
-- Oldest first; every filter is optional; the time range is [since, until).
SELECT id, task_id, task_run_id, name, metric_type, value, unit, labels, recorded_at
FROM metric_snapshots
WHERE TRUE
  /*if task_id*/ AND task_id = :task_id /*end*/
  /*if task_run_id*/ AND task_run_id = :task_run_id /*end*/
  /*if name*/ AND name = :name /*end*/
  /*if since*/ AND recorded_at >= :since /*end*/
  /*if until*/ AND recorded_at < :until /*end*/
ORDER BY recorded_at, id
LIMIT :limit OFFSET :offset;

-- name: summarize_metric :one
-- count, min, max, average and sum of one metric's values (filters as in list_metrics).
SELECT COUNT(*) AS n, MIN(value) AS min_value, MAX(value) AS max_value,
       AVG(value) AS avg_value, SUM(value) AS sum_value
FROM metric_snapshots
WHERE name = :name
  /*if task_id*/ AND task_id = :task_id /*end*/
  /*if task_run_id*/ AND task_run_id = :task_run_id /*end*/
  /*if since*/ AND recorded_at >= :since /*end*/
  /*if until*/ AND recorded_at < :until /*end*/;

-- name: insert_artifact :one
-- An artifact of a run belongs to the run's task too, unless another task_id is given.
INSERT INTO artifacts (id, task_id, task_run_id, name, artifact_type, path, content, file_hash,
                       size_bytes, metadata, created_at, data)
VALUES (:id,
        COALESCE(:task_id, (SELECT r.task_id FROM task_runs r WHERE r.id = :task_run_id)),
        :task_run_id, :name, :artifact_type, :path, :content, :file_hash, :size_bytes,
        :metadata, :created_at, :data)
RETURNING task_id;

-- name: get_artifact :one
SELECT id, task_id, task_run_id, name, artifact_type, path, content, file_hash, size_bytes,
       metadata, created_at, data
FROM artifacts
WHERE id = :id;

-- name: list_artifacts :many
-- Oldest first; every filter is optional.
SELECT id, task_id, task_run_id, name, artifact_type, path, content, file_hash, size_bytes,
       metadata, created_at, data
FROM artifacts
WHERE TRUE
  /*if task_id*/ AND task_id = :task_id /*end*/
  /*if task_run_id*/ AND task_run_id = :task_run_id /*end*/
  /*if artifact_type*/ AND artifact_type = :artifact_type /*end*/
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;

-- name: delete_artifact :affected
DELETE FROM artifacts WHERE id = :id;
