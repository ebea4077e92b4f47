-- +goose Up
-- A grant is a user's connection to a provider in one application. For Zoom it
-- holds the user's tokens (sealed by the vault); token_version counts refreshes
-- so a process can tell whether the token it used is still the stored one.
CREATE TABLE grants (
    id                  uuid PRIMARY KEY,
    application_id      uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    provider            text NOT NULL,
    -- The connector the grant was made with; NULL once it is deleted, and then
    -- the grant stops working until the user connects again.
    connector_id        uuid REFERENCES connectors (id) ON DELETE SET NULL,
    grant_status        text NOT NULL DEFAULT 'valid' CHECK (grant_status IN ('valid', 'invalid')),
    invalid_reason      text,
    email               text NOT NULL,
    name                text,
    provider_user_id    text NOT NULL,
    provider_account_id text,
    scope               text[] NOT NULL DEFAULT '{}',
    access_token_enc    text,
    refresh_token_enc   text,
    access_expires_at   timestamptz,
    token_version       bigint NOT NULL DEFAULT 0,
    last_refreshed_at   timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_id, provider, provider_user_id)
);
CREATE INDEX grants_app_created ON grants (application_id, created_at, id);
CREATE INDEX grants_refresh_due ON grants (last_refreshed_at) WHERE grant_status = 'valid' AND provider = 'zoom';
CREATE INDEX connectors_client_id ON connectors (client_id) WHERE provider = 'zoom';

-- Hosted OAuth: our state towards Zoom (single use, 10 minutes), bound to the
-- application, its redirect URI and the client's PKCE challenge.
CREATE TABLE oauth_states (
    id                    text PRIMARY KEY,
    application_id        uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    redirect_uri          text NOT NULL,
    client_state          text,
    code_challenge        text,
    code_challenge_method text,
    zoom_verifier_enc     text NOT NULL,
    expires_at            timestamptz NOT NULL,
    used_at               timestamptz
);

-- Our authorization codes to the application (single use, 10 minutes); only
-- their SHA-256 is stored.
CREATE TABLE oauth_codes (
    code_sha256           bytea PRIMARY KEY,
    application_id        uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    grant_id              uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    redirect_uri          text NOT NULL,
    code_challenge        text,
    code_challenge_method text,
    expires_at            timestamptz NOT NULL,
    used_at               timestamptz
);

-- Grant-scoped access tokens handed out by /v3/connect/token (never Zoom's).
CREATE TABLE grant_access_tokens (
    token_sha256   bytea PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    grant_id       uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    expires_at     timestamptz NOT NULL
);

-- A virtual-calendar grant's calendars (the first is its primary).
CREATE TABLE calendars (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    grant_id       uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    name           text NOT NULL,
    description    text,
    timezone       text,
    is_primary     boolean NOT NULL DEFAULT false,
    read_only      boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX calendars_one_primary ON calendars (grant_id) WHERE is_primary;

-- +goose Down
DROP TABLE calendars;
DROP TABLE grant_access_tokens;
DROP TABLE oauth_codes;
DROP TABLE oauth_states;
DROP TABLE grants;
DROP INDEX connectors_client_id;
