-- Keyset pagination (agentdb/paging.py) reads a page as an index range on (sort column, id):
-- WHERE col <= :v AND (col < :v OR id < :id) ORDER BY col DESC, id DESC LIMIT n. With id in the
-- index the page is read in order and stops at LIMIT, however deep it is; without it SQLite
-- and PostgreSQL sort each run of equal values. Each list's sort column gets (col, id), which
-- replaces the single-column index it starts with; workflows had none.
-- depends: 0010_metric_summary_artifact_data

CREATE INDEX ix_jobs_created_at_id ON jobs (created_at, id);

DROP INDEX IF EXISTS ix_jobs_created_at;

CREATE INDEX ix_jobs_updated_at_id ON jobs (updated_at, id);

DROP INDEX IF EXISTS ix_jobs_updated_at;

CREATE INDEX ix_jobs_priority_id ON jobs (priority, id);

DROP INDEX IF EXISTS ix_jobs_priority;

CREATE INDEX ix_executions_started_at_id ON executions (started_at, id);

DROP INDEX IF EXISTS ix_executions_started_at;

CREATE INDEX ix_articles_created_at_id ON articles (created_at, id);

DROP INDEX IF EXISTS ix_articles_created_at;

CREATE INDEX ix_alerts_created_at_id ON alerts (created_at, id);

DROP INDEX IF EXISTS ix_alerts_created_at;

CREATE INDEX ix_tasks_created_at_id ON tasks (created_at, id);

DROP INDEX IF EXISTS ix_tasks_created_at;

CREATE INDEX ix_workflows_created_at_id ON workflows (created_at, id);
