-- One statement per statement of 0008_list_indexes.sql, in reverse order: yoyo pairs them up.

CREATE INDEX ix_jobs_workflow_id ON jobs (workflow_id);

CREATE INDEX ix_jobs_tool_name ON jobs (tool_name);

DROP INDEX IF EXISTS ix_jobs_workflow_id_created_at;

DROP INDEX IF EXISTS ix_jobs_tool_name_created_at;

DROP INDEX IF EXISTS ix_jobs_status_created_at;
