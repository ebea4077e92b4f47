-- +goose Up
-- An application may have one user-level and one account-level Zoom
-- connector (issue 14): a company connects once while its other users
-- still connect their own Zoom accounts. The level follows from the kind,
-- which is fixed at creation (owned by connectors).
ALTER TABLE connectors ADD COLUMN level text NOT NULL
    GENERATED ALWAYS AS (CASE WHEN account_id IS NOT NULL OR account_level THEN 'account' ELSE 'user' END) STORED;
ALTER TABLE connectors DROP CONSTRAINT connectors_application_id_provider_key;
ALTER TABLE connectors ADD CONSTRAINT connectors_one_per_level UNIQUE (application_id, provider, level);

-- Hosted OAuth remembers which connector it started with, so the callback
-- exchanges the code with the same Zoom app (owned by grants).
ALTER TABLE oauth_states ADD COLUMN connector_id uuid REFERENCES connectors (id) ON DELETE SET NULL;

-- The credentials an account token was fetched with, as a MAC: a token of
-- other credentials (the connector moved to another account or app) is
-- never used (owned by grants).
ALTER TABLE zoom_account_tokens ADD COLUMN fetched_for text;

-- +goose Down
ALTER TABLE zoom_account_tokens DROP COLUMN fetched_for;
ALTER TABLE oauth_states DROP COLUMN connector_id;
ALTER TABLE connectors DROP CONSTRAINT connectors_one_per_level;
ALTER TABLE connectors ADD CONSTRAINT connectors_application_id_provider_key UNIQUE (application_id, provider);
ALTER TABLE connectors DROP COLUMN level;
