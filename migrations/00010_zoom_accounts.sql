-- +goose Up
-- Account-level Zoom (issue 14). A Zoom connector with an account id is a
-- Server-to-Server OAuth app of that Zoom account (owned by connectors).
ALTER TABLE connectors ADD COLUMN account_id text;

-- The account token of an account-level connector: one per connector,
-- shared by every process and every grant under it, sealed by the vault.
-- version counts fetches, so a caller that saw a token refused asks for a
-- newer one only once. Owned by grants.
CREATE TABLE zoom_account_tokens (
    id               uuid PRIMARY KEY REFERENCES connectors (id) ON DELETE CASCADE, -- the connector's
    application_id   uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    access_token_enc text,
    expires_at       timestamptz,
    version          bigint NOT NULL DEFAULT 0,
    fetched_at       timestamptz
);

-- A grant for a user of an account-level connector's account: it holds no
-- tokens of its own and uses the account token.
ALTER TABLE grants ADD COLUMN account_level boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE grants DROP COLUMN account_level;
DROP TABLE zoom_account_tokens;
ALTER TABLE connectors DROP COLUMN account_id;
