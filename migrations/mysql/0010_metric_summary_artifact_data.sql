-- Metric types summary and histogram (histogram was there; summary is new), and artifacts that
-- hold bytes: a data column beside the text content (an artifact has one or the other).
-- depends: 0009_queue

ALTER TABLE metric_snapshots DROP CONSTRAINT ck_metric_snapshots_metric_type;

ALTER TABLE metric_snapshots ADD CONSTRAINT ck_metric_snapshots_metric_type
    CHECK (metric_type IN ('counter', 'gauge', 'histogram', 'summary', 'timer'));

-- A no-op: its inverse deletes summary snapshots, which the old CHECK would refuse.
UPDATE metric_snapshots SET metric_type = metric_type WHERE 1 = 0;

ALTER TABLE artifacts ADD COLUMN data LONGBLOB NULL;
