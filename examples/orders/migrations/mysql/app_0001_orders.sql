-- The application's own table, beside agentdb's: every order belongs to one of agentdb's users.
-- depends: 0002_users

CREATE TABLE orders (
    id          CHAR(36)     NOT NULL,
    user_id     CHAR(36)     NOT NULL,
    item        VARCHAR(255) NOT NULL,
    quantity    INT          NOT NULL,
    total_cents BIGINT       NOT NULL,
    status      VARCHAR(16)  NOT NULL DEFAULT 'open',
    created_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY ix_orders_user_id_created_at (user_id, created_at),
    CONSTRAINT fk_orders_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_orders_quantity CHECK (quantity > 0),
    CONSTRAINT ck_orders_status CHECK (status IN ('open', 'shipped', 'cancelled'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
