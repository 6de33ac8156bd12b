-- Indexes for JobStore.list(): each filter it takes alone (status, tool_name, workflow_id),
-- then the default order (created_at, with id breaking ties), so a page is read from the index
-- in order and stops at LIMIT instead of sorting every match. They replace the single-column
-- tool_name and workflow_id indexes, which are their leading columns.
-- depends: 0007_tasks

CREATE INDEX ix_jobs_status_created_at ON jobs (status, created_at, id);

CREATE INDEX ix_jobs_tool_name_created_at ON jobs (tool_name, created_at, id);

CREATE INDEX ix_jobs_workflow_id_created_at ON jobs (workflow_id, created_at, id);

DROP INDEX IF EXISTS ix_jobs_tool_name;

DROP INDEX IF EXISTS ix_jobs_workflow_id;
