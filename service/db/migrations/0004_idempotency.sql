-- Idempotency keys: the first response to a POST sent with `Idempotency-Key`, kept for
-- 24 hours so a retry gets it again instead of creating a second resource. Scoped per API
-- key, so callers never see each other's responses. The request is kept only as a hash;
-- the stored body is the response body itself, nothing more.
CREATE TABLE idempotency_keys (
    key_id          uuid NOT NULL REFERENCES api_keys ON DELETE CASCADE,
    idempotency_key text NOT NULL,
    request_sha256  bytea NOT NULL,   -- SHA-256 of method, path, query string and body
    status          smallint,         -- NULL only inside the transaction that claimed the key
    headers         jsonb,            -- [[name, value], ...] as the app sent them
    body            bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, idempotency_key)
);
-- For the opportunistic sweep of expired keys.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
