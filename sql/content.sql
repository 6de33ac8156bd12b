-- Articles (one row per URL) and alerts (ArticleRepository, AlertRepository).

-- name: insert_article :exec
-- A URL already stored is a unique violation (ConflictError).
INSERT INTO articles (id, title, url, source, summary, content, published_at, fetched_at,
                      created_at, metadata)
VALUES (:id, :title, :url, :source, :summary, :content, :published_at, :fetched_at,
        :created_at, :metadata);

-- name: insert_article_if_new :affected
-- The same row, silently skipped when its URL is stored already (1 = inserted, 0 = skipped).
INSERT INTO articles (id, title, url, source, summary, content, published_at, fetched_at,
                      created_at, metadata)
VALUES (:id, :title, :url, :source, :summary, :content, :published_at, :fetched_at,
        :created_at, :metadata)
ON CONFLICT (url) DO NOTHING;

-- name: get_article :one
SELECT id, title, url, source, summary, content, published_at, fetched_at, created_at, metadata
FROM articles
WHERE id = :id;

-- name: get_article_by_url :one
SELECT id, title, url, source, summary, content, published_at, fetched_at, created_at, metadata
FROM articles
WHERE url = :url;

-- name: recent_articles :many
-- Newest stored first; :source and :since (created_at >= since) are optional.
SELECT id, title, url, source, summary, content, published_at, fetched_at, created_at, metadata
FROM articles
WHERE TRUE
  /*if source*/ AND source = :source /*end*/
  /*if since*/ AND created_at >= :since /*end*/
  /*if after_desc*/ AND (created_at, id) < (:after_desc, :after_id)
                    AND (created_at < :after_desc
                         OR (created_at = :after_desc AND id < :after_id)
                         OR created_at IS NULL) /*end*/
ORDER BY created_at DESC, id DESC
LIMIT :limit OFFSET :offset;

-- name: count_articles :scalar
SELECT COUNT(*) FROM articles;

-- name: delete_article :affected
DELETE FROM articles WHERE id = :id;

-- name: insert_alert :exec
INSERT INTO alerts (id, title, message, severity, source_url, created_at, metadata)
VALUES (:id, :title, :message, :severity, :source_url, :created_at, :metadata);

-- name: get_alert :one
SELECT id, title, message, severity, source_url, created_at, metadata
FROM alerts
WHERE id = :id;

-- name: recent_alerts :many
-- Newest first; :severity and :since (created_at >= since) are optional.
SELECT id, title, message, severity, source_url, created_at, metadata
FROM alerts
WHERE TRUE
  /*if severity*/ AND severity = :severity /*end*/
  /*if since*/ AND created_at >= :since /*end*/
  /*if after_desc*/ AND (created_at, id) < (:after_desc, :after_id)
                    AND (created_at < :after_desc
                         OR (created_at = :after_desc AND id < :after_id)
                         OR created_at IS NULL) /*end*/
ORDER BY created_at DESC, id DESC
LIMIT :limit OFFSET :offset;

-- name: alerts_by_source_url :many
-- Newest first.
SELECT id, title, message, severity, source_url, created_at, metadata
FROM alerts
WHERE source_url = :source_url
  /*if after_desc*/ AND (created_at, id) < (:after_desc, :after_id)
                    AND (created_at < :after_desc
                         OR (created_at = :after_desc AND id < :after_id)
                         OR created_at IS NULL) /*end*/
ORDER BY created_at DESC, id DESC
LIMIT :limit OFFSET :offset;

-- name: delete_alert :affected
DELETE FROM alerts WHERE id = :id;
