-- +goose Up
-- Admin installs of account-level Zoom OAuth apps (issue 14). A Zoom
-- connector with account_level is an admin-managed OAuth app: an owner or
-- admin of a Zoom account installs it through hosted OAuth (owned by
-- connectors).
ALTER TABLE connectors ADD COLUMN account_level boolean NOT NULL DEFAULT false;
ALTER TABLE connectors ADD CONSTRAINT connectors_one_account_kind CHECK (NOT (account_level AND account_id IS NOT NULL));

-- The admin's grant made by the install is the installation: its rotating
-- tokens act for every user of the admin's account. The grants of those
-- users (account_level) point at it and hold no tokens. Owned by grants.
ALTER TABLE grants ADD COLUMN installation boolean NOT NULL DEFAULT false;
ALTER TABLE grants ADD COLUMN installation_grant_id uuid REFERENCES grants (id) ON DELETE CASCADE;
CREATE INDEX grants_installation ON grants (installation_grant_id) WHERE installation_grant_id IS NOT NULL;

-- +goose Down
DROP INDEX grants_installation;
ALTER TABLE grants DROP COLUMN installation_grant_id;
ALTER TABLE grants DROP COLUMN installation;
ALTER TABLE connectors DROP CONSTRAINT connectors_one_account_kind;
ALTER TABLE connectors DROP COLUMN account_level;
