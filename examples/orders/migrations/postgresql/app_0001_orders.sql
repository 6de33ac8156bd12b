-- The application's own table, beside agentdb's: every order belongs to one of agentdb's users.
-- depends: 0002_users

CREATE TABLE orders (
    id          VARCHAR(36)  NOT NULL,
    user_id     VARCHAR(36)  NOT NULL,
    item        VARCHAR(255) NOT NULL,
    quantity    INTEGER      NOT NULL,
    total_cents BIGINT       NOT NULL,
    status      VARCHAR(16)  NOT NULL DEFAULT 'open',
    created_at  TIMESTAMPTZ  NOT NULL,
    CONSTRAINT pk_orders PRIMARY KEY (id),
    CONSTRAINT fk_orders_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_orders_quantity CHECK (quantity > 0),
    CONSTRAINT ck_orders_status CHECK (status IN ('open', 'shipped', 'cancelled'))
);

CREATE INDEX ix_orders_user_id_created_at ON orders (user_id, created_at);
