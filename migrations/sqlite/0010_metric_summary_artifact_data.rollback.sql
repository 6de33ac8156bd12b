-- One statement per statement of 0010_metric_summary_artifact_data.sql, in reverse order.

ALTER TABLE artifacts DROP COLUMN data;

DROP INDEX IF EXISTS ix_metric_snapshots_task_run_id;

DROP INDEX IF EXISTS ix_metric_snapshots_task_id;

DROP INDEX IF EXISTS ix_metric_snapshots_name_recorded_at;

ALTER TABLE metric_snapshots RENAME TO metric_snapshots_v2;

CREATE TABLE metric_snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     TEXT,
    task_run_id TEXT,
    name        TEXT    NOT NULL,
    metric_type TEXT    NOT NULL,
    value       REAL    NOT NULL,
    unit        TEXT,
    labels      TEXT,
    recorded_at TEXT    NOT NULL,
    CONSTRAINT ck_metric_snapshots_metric_type
        CHECK (metric_type IN ('counter', 'gauge', 'histogram', 'timer')),
    CONSTRAINT ck_metric_snapshots_labels CHECK (labels IS NULL OR json_valid(labels)),
    CONSTRAINT fk_metric_snapshots_task_id
        FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE CASCADE,
    CONSTRAINT fk_metric_snapshots_task_run_id
        FOREIGN KEY (task_run_id) REFERENCES task_runs (id) ON DELETE CASCADE
);

INSERT INTO metric_snapshots (id, task_id, task_run_id, name, metric_type, value, unit, labels,
                              recorded_at)
SELECT id, task_id, task_run_id, name, metric_type, value, unit, labels, recorded_at
FROM metric_snapshots_v2 WHERE metric_type <> 'summary';

DROP TABLE IF EXISTS metric_snapshots_v2;

CREATE INDEX ix_metric_snapshots_task_run_id ON metric_snapshots (task_run_id);

CREATE INDEX ix_metric_snapshots_task_id ON metric_snapshots (task_id);

CREATE INDEX ix_metric_snapshots_name_recorded_at ON metric_snapshots (name, recorded_at);
