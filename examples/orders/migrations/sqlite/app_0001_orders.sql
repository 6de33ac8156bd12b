-- The application's own table, beside agentdb's: every order belongs to one of agentdb's users.
-- depends: 0002_users

CREATE TABLE orders (
    id          TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    item        TEXT    NOT NULL,
    quantity    INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'open',
    created_at  TEXT    NOT NULL,
    CONSTRAINT pk_orders PRIMARY KEY (id),
    CONSTRAINT fk_orders_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_orders_quantity CHECK (quantity > 0),
    CONSTRAINT ck_orders_status CHECK (status IN ('open', 'shipped', 'cancelled'))
);

CREATE INDEX ix_orders_user_id_created_at ON orders (user_id, created_at);
