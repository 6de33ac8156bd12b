-- The application's own queries, over its own table (and agentdb's users).

-- name: insert_order :exec
INSERT INTO orders (id, user_id, item, quantity, total_cents, status, created_at)
VALUES (:id, :user_id, :item, :quantity, :total_cents, :status, :created_at);

-- name: get_order :one
SELECT id, user_id, item, quantity, total_cents, status, created_at
FROM orders
WHERE id = :id;

-- name: orders_of_user :many
-- Newest first; :status is optional; :after_desc/:after_id start the page after a cursor
-- (Repository.paged; the condition is written as agentdb/paging.py explains).
SELECT id, user_id, item, quantity, total_cents, status, created_at
FROM orders
WHERE user_id = :user_id
  /*if status*/ AND status = :status /*end*/
  /*if after_desc*/ AND (created_at, id) < (:after_desc, :after_id)
                    AND (created_at < :after_desc
                         OR (created_at = :after_desc AND id < :after_id)
                         OR created_at IS NULL) /*end*/
ORDER BY created_at DESC, id DESC
LIMIT :limit OFFSET :offset;

-- name: set_status :affected
UPDATE orders SET status = :status WHERE id = :id AND status = 'open';

-- name: revenue_by_user :many
-- Joins agentdb's users: the application's SQL may read agentdb's tables.
SELECT u.username AS username, COUNT(o.id) AS orders, COALESCE(SUM(o.total_cents), 0) AS cents
FROM users u
JOIN orders o ON o.user_id = u.id
WHERE o.status <> 'cancelled'
GROUP BY u.username
ORDER BY u.username;
