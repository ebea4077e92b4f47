-- +goose Up
-- Every row that belongs to an application carries application_id, and every
-- query filters on it: applications are tenants.
CREATE TABLE applications (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- API keys are "ck_<id>_<secret>"; only the SHA-256 of the secret is stored.
CREATE TABLE api_keys (
    id             text PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    secret_sha256  bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_application_id ON api_keys (application_id);

CREATE TABLE redirect_uris (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    url            text NOT NULL,
    platform       text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, url)
);

-- *_enc columns hold vault ciphertexts bound to (application_id, table, id, column).
CREATE TABLE connectors (
    id                uuid PRIMARY KEY,
    application_id    uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    provider          text NOT NULL,
    name              text NOT NULL,
    client_id         text,
    client_secret_enc text,
    secret_token_enc  text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, provider)
);

-- +goose Down
DROP TABLE connectors;
DROP TABLE redirect_uris;
DROP TABLE api_keys;
DROP TABLE applications;
