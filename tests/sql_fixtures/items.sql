-- Queries the tests in test_queries.py run against their own q_items / q_parent tables.

-- name: add_item :exec
-- Insert one item; every column a parameter, so PyMySQL can batch it into one INSERT.
INSERT INTO q_items (id, label, body, data, at, flag, parent_id, qty)
VALUES (:id, :label, :body, :data, :at, :flag, :parent_id, :qty);

-- name: get_item :one
-- One item by id.
SELECT id, label, body, data, at, flag, qty FROM q_items WHERE id = :id;

-- name: list_items :many
-- Items with the given ids, in id order.
SELECT id, label FROM q_items WHERE id IN (:ids) ORDER BY id;

-- name: items_except :many
SELECT id FROM q_items WHERE id NOT IN (:ids) ORDER BY id;

-- name: all_items :many
SELECT id, label FROM q_items ORDER BY id;

-- name: count_items :scalar
SELECT COUNT(*) AS n FROM q_items;

-- name: body_of :scalar
SELECT body FROM q_items WHERE id = :id;

-- name: data_of :scalar
SELECT data FROM q_items WHERE id = :id;

-- name: items_since :many
-- Items at or after a time, oldest first (on SQLite this compares ISO-8601 text).
SELECT id, at FROM q_items WHERE at >= :since ORDER BY at;

-- name: rename :affected
UPDATE q_items SET label = :label WHERE id = :id;

-- name: delete_items :affected
DELETE FROM q_items;

-- name: echo :one
-- A parameter and a literal full of characters the converter must leave alone.
SELECT :value AS value, '100% :x ;-- /* ''q'' */' AS literal;

-- name: add_parent :exec
INSERT INTO q_parent (id) VALUES (:id);

-- name: delete_parent :exec
DELETE FROM q_parent WHERE id = :id;

-- name: delete_parents :exec
DELETE FROM q_parent;

-- name: no_such_table :many
SELECT * FROM q_no_such_table WHERE id = :id;

-- name: current_statement :scalar
-- The text of the statement running now, as the server sees it (SQLite has no such view).
SELECT 'n/a' AS statement;

-- name: find_items :many
-- Items matching every filter given (a None filter is left out of the SQL).
-- sort_by: one of id, qty, label
-- sort_order: one of asc, desc
SELECT id, label, qty FROM q_items
WHERE TRUE
  /*if min_qty*/ AND qty >= :min_qty /*end*/
  /*if body*/ AND body = :body /*end*/
  /*if ids*/ AND id IN (:ids) /*end*/
ORDER BY {sort_by} {sort_order}, id {sort_order}
LIMIT :limit;
