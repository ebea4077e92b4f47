-- +goose Up
-- Zoom's notices are single use (issue 11). A grant remembers when it was
-- last connected (OAuth or a brought token), so a deauthorization that
-- happened before it never undoes the newer connection. Grants connected
-- before this column existed take their creation time: no later connection
-- than that is known.
ALTER TABLE grants ADD COLUMN connected_at timestamptz;
UPDATE grants SET connected_at = created_at;
ALTER TABLE grants ALTER COLUMN connected_at SET NOT NULL, ALTER COLUMN connected_at SET DEFAULT now();

-- A notice applied is remembered by its signature's SHA-256 for as long as
-- its timestamp would pass the 5-minute check (plus a margin for replicas'
-- clocks), so a replay within the window is acknowledged and ignored. Rows
-- are pruned as notices arrive; the table holds minutes of notices.
CREATE TABLE zoom_webhook_receipts (
    signature_sha256 bytea PRIMARY KEY,
    expires_at       timestamptz NOT NULL
);

-- +goose Down
DROP TABLE zoom_webhook_receipts;
ALTER TABLE grants DROP COLUMN connected_at;
