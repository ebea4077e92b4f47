-- +goose Up
-- Webhook destinations: where an application is told what changed. The
-- secret is sealed by the vault; the health columns drive the statuses
-- (failing after 15 minutes of at least 95% failed deliveries, failed after
-- 72 hours) and the destination-wide backoff. Owned by internal/webhooks.
CREATE TABLE webhooks (
    id                           uuid PRIMARY KEY,
    application_id               uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    description                  text NOT NULL DEFAULT '',
    trigger_types                text[] NOT NULL,
    webhook_url                  text NOT NULL,
    notification_email_addresses text[] NOT NULL DEFAULT '{}',
    secret_enc                   text NOT NULL,
    status                       text NOT NULL CHECK (status IN ('active', 'pause', 'failing', 'failed')),
    status_updated_at            timestamptz NOT NULL DEFAULT now(),
    -- The current bad period: since when, and its delivery outcomes.
    bad_since                    timestamptz,
    bad_count                    bigint NOT NULL DEFAULT 0,
    good_count                   bigint NOT NULL DEFAULT 0,
    -- Destination-wide backoff after a failed delivery: nothing is sent
    -- before retry_at; backoff_step grows the pause.
    retry_at                     timestamptz,
    backoff_step                 int NOT NULL DEFAULT 0,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_application ON webhooks (application_id);

-- One notification still to deliver to one destination: written in the
-- same transaction as the change it tells of (the notifications' own
-- outbox), removed once delivered. object is kept as written (json, not
-- jsonb) so every attempt sends the same bytes.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    notification_id uuid NOT NULL,
    type            text NOT NULL,
    object          json NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    last_error      text
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (occurred_at);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
