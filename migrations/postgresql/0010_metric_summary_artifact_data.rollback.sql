-- One statement per statement of 0010_metric_summary_artifact_data.sql, in reverse order.

ALTER TABLE artifacts DROP COLUMN data;

DELETE FROM metric_snapshots WHERE metric_type = 'summary';

ALTER TABLE metric_snapshots DROP CONSTRAINT ck_metric_snapshots_metric_type;

ALTER TABLE metric_snapshots ADD CONSTRAINT ck_metric_snapshots_metric_type
    CHECK (metric_type IN ('counter', 'gauge', 'histogram', 'timer'));
