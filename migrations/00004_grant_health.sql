-- +goose Up
-- Grant health (a Temporal Schedule) walks valid Zoom grants by their last
-- refresh in batches: this index serves that query's filter, order and
-- keyset cursor, so a batch reads only its rows. It replaces an index on
-- last_refreshed_at alone, which the query (COALESCE with created_at for a
-- grant never refreshed) could not use.
DROP INDEX grants_refresh_due;
CREATE INDEX grants_idle ON grants ((COALESCE(last_refreshed_at, created_at)), id)
    WHERE provider = 'zoom' AND grant_status = 'valid' AND connector_id IS NOT NULL;

-- +goose Down
DROP INDEX grants_idle;
CREATE INDEX grants_refresh_due ON grants (last_refreshed_at) WHERE grant_status = 'valid' AND provider = 'zoom';
