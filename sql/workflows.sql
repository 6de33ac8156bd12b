-- Workflows, their numbered versions and their shares (WorkflowRepository).
-- Access rule: the owner may do everything; anyone may read a public workflow; a share grants
-- its permission and no more ('write' implies read). Deleting and sharing are the owner's.

-- name: insert_workflow :exec
INSERT INTO workflows (id, name, description, owner_id, is_public, definition, created_at,
                       updated_at)
VALUES (:id, :name, :description, :owner_id, :is_public, :definition, :created_at, :updated_at);

-- name: get_workflow :one
SELECT id, name, description, owner_id, is_public, definition, created_at, updated_at
FROM workflows
WHERE id = :id;

-- name: list_workflows :many
-- Oldest first; :owner_id and :is_public are optional.
SELECT id, name, description, owner_id, is_public, definition, created_at, updated_at
FROM workflows
WHERE TRUE
  /*if owner_id*/ AND owner_id = :owner_id /*end*/
  /*if is_public*/ AND is_public = :is_public /*end*/
  /*if after_asc*/ AND (created_at, id) > (:after_asc, :after_id)
                   AND (created_at > :after_asc
                        OR (created_at = :after_asc AND id > :after_id)
                        OR created_at IS NULL) /*end*/
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;

-- name: update_workflow :affected
-- A NULL argument keeps the column (name, is_public and definition are never NULL);
-- description, which may be NULL, changes only when :set_description is true.
UPDATE workflows
SET name = COALESCE(:name, name),
    description = CASE WHEN :set_description THEN :description ELSE description END,
    is_public = COALESCE(:is_public, is_public),
    definition = COALESCE(:definition, definition),
    updated_at = :updated_at
WHERE id = :id;

-- name: update_workflow_as :affected
-- update_workflow, only if :user_id owns the workflow or holds a 'write' share: the database
-- checks the permission in the same statement that writes, so no revocation can slip between.
UPDATE workflows
SET name = COALESCE(:name, name),
    description = CASE WHEN :set_description THEN :description ELSE description END,
    is_public = COALESCE(:is_public, is_public),
    definition = COALESCE(:definition, definition),
    updated_at = :updated_at
WHERE id = :id
  AND (owner_id = :user_id
       OR EXISTS (SELECT 1 FROM workflow_shares s
                  WHERE s.workflow_id = workflows.id
                    AND s.user_id = :user_id
                    AND s.permission = 'write'));

-- name: delete_workflow :affected
-- Versions and shares go with it (ON DELETE CASCADE).
DELETE FROM workflows WHERE id = :id;

-- name: delete_workflow_as :affected
-- Only the owner deletes; a 'write' share edits but never deletes.
DELETE FROM workflows WHERE id = :id AND owner_id = :user_id;

-- name: access_of :one
-- What :user_id may do with one workflow: no row when the workflow does not exist.
SELECT w.owner_id, w.is_public, s.permission
FROM workflows w
LEFT JOIN workflow_shares s ON s.workflow_id = w.id AND s.user_id = :user_id
WHERE w.id = :workflow_id;

-- name: list_accessible :many
-- Every workflow :user_id may read (or, with :include_read false, write), in one query.
SELECT w.id, w.name, w.description, w.owner_id, w.is_public, w.definition, w.created_at,
       w.updated_at
FROM workflows w
LEFT JOIN workflow_shares s ON s.workflow_id = w.id AND s.user_id = :user_id
WHERE w.owner_id = :user_id
   OR s.permission = 'write'
   OR (:include_read AND (s.permission = 'read' OR w.is_public = TRUE))
ORDER BY w.created_at, w.id
LIMIT :limit OFFSET :offset;

-- -- versions ------------------------------------------------------------------------------------

-- name: lock_workflow :one
-- Taken first by every version write: savers of one workflow queue here, one at a time, so
-- MAX(version_number) + 1 below is never read by two of them at once.
SELECT id, owner_id, definition FROM workflows WHERE id = :id FOR UPDATE;

-- name: share_permission :scalar
SELECT permission FROM workflow_shares WHERE workflow_id = :workflow_id AND user_id = :user_id;

-- name: next_version_number :scalar
-- Right after lock_workflow. A plain read, on purpose, on every backend: PostgreSQL (READ
-- COMMITTED) takes a fresh snapshot per statement and MariaDB (REPEATABLE READ) takes its
-- snapshot at the unit's first plain read -- this one, after the lock -- so both see every
-- version committed before the lock was granted. (A locking read here would take gap locks on
-- MariaDB, and savers of neighbouring workflows would deadlock on each other's inserts.)
SELECT COALESCE(MAX(version_number), 0) + 1
FROM workflow_versions
WHERE workflow_id = :workflow_id;

-- name: insert_version :exec
INSERT INTO workflow_versions (id, workflow_id, version_number, definition, change_notes,
                               created_by, created_at)
VALUES (:id, :workflow_id, :version_number, :definition, :change_notes, :created_by,
        :created_at);

-- name: set_definition :exec
UPDATE workflows SET definition = :definition, updated_at = :updated_at WHERE id = :id;

-- name: get_version :one
SELECT id, workflow_id, version_number, definition, change_notes, created_by, created_at
FROM workflow_versions
WHERE workflow_id = :workflow_id AND version_number = :version_number;

-- name: get_latest_version :one
SELECT id, workflow_id, version_number, definition, change_notes, created_by, created_at
FROM workflow_versions
WHERE workflow_id = :workflow_id
ORDER BY version_number DESC
LIMIT 1;

-- name: list_versions :many
SELECT id, workflow_id, version_number, definition, change_notes, created_by, created_at
FROM workflow_versions
WHERE workflow_id = :workflow_id
ORDER BY version_number
LIMIT :limit OFFSET :offset;

-- -- shares --------------------------------------------------------------------------------------

-- name: share_target :one
-- The workflow's owner and whether the user to share with exists: no row when the workflow
-- does not exist.
SELECT w.owner_id,
       (SELECT COUNT(*) FROM users u WHERE u.id = :user_id) AS user_found
FROM workflows w
WHERE w.id = :workflow_id;

-- name: upsert_share :exec
-- A second share of the same workflow with the same user changes its permission.
INSERT INTO workflow_shares (workflow_id, user_id, permission, created_at)
VALUES (:workflow_id, :user_id, :permission, :created_at)
ON CONFLICT (workflow_id, user_id) DO UPDATE SET permission = excluded.permission;

-- name: get_share :one
SELECT workflow_id, user_id, permission, created_at
FROM workflow_shares
WHERE workflow_id = :workflow_id AND user_id = :user_id;

-- name: delete_share :affected
DELETE FROM workflow_shares WHERE workflow_id = :workflow_id AND user_id = :user_id;

-- name: list_shares :many
SELECT workflow_id, user_id, permission, created_at
FROM workflow_shares
WHERE workflow_id = :workflow_id
ORDER BY created_at, user_id;
