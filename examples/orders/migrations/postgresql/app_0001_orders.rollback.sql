-- One statement per statement of app_0001_orders.sql, in reverse order.

DROP INDEX IF EXISTS ix_orders_user_id_created_at;

DROP TABLE IF EXISTS orders;
