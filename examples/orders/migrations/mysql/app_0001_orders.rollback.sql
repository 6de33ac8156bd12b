-- The inverse of app_0001_orders.sql.

DROP TABLE IF EXISTS orders;
