-- One statement per statement of 0011_keyset_indexes.sql, in reverse order: yoyo pairs them up.

DROP INDEX IF EXISTS ix_workflows_created_at_id;

CREATE INDEX ix_tasks_created_at ON tasks (created_at);

DROP INDEX IF EXISTS ix_tasks_created_at_id;

CREATE INDEX ix_alerts_created_at ON alerts (created_at);

DROP INDEX IF EXISTS ix_alerts_created_at_id;

CREATE INDEX ix_articles_created_at ON articles (created_at);

DROP INDEX IF EXISTS ix_articles_created_at_id;

CREATE INDEX ix_executions_started_at ON executions (started_at);

DROP INDEX IF EXISTS ix_executions_started_at_id;

CREATE INDEX ix_jobs_priority ON jobs (priority);

DROP INDEX IF EXISTS ix_jobs_priority_id;

CREATE INDEX ix_jobs_updated_at ON jobs (updated_at);

DROP INDEX IF EXISTS ix_jobs_updated_at_id;

CREATE INDEX ix_jobs_created_at ON jobs (created_at);

DROP INDEX IF EXISTS ix_jobs_created_at_id;
