-- +goose Up
-- The outbox: work that must outlive the request that caused it (a meeting
-- to delete once its event is gone; notifications later), written in the
-- same transaction as its cause. The request that wrote an entry hands it
-- to Temporal at once and removes it; a sweeper on the worker hands over
-- whatever is left (the process died in between, Temporal was down) once it
-- is due. Owned by internal/outbox.
CREATE TABLE outbox (
    id             bigserial PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    kind           text NOT NULL,
    payload        jsonb NOT NULL,
    attempts       int NOT NULL DEFAULT 0,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    due_at         timestamptz NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_at, id);

-- The last write of an event: a replayed update (its worker died after the
-- row was written, before Temporal recorded it) recognises its own write
-- instead of taking it for a concurrent one.
ALTER TABLE events ADD COLUMN last_write text;

-- Deleted events, by id: a create workflow replayed after its event was
-- deleted (its worker died before Temporal recorded the row write) must not
-- write the row again.
CREATE TABLE event_tombstones (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    deleted_at     timestamptz NOT NULL DEFAULT now()
);

-- Create attempts still open (no event recorded their meeting, no answer
-- settled them): the sweeper looks at the old ones.
CREATE INDEX conference_attempts_open ON conference_attempts (updated_at) WHERE state = 'pending' AND uncertain;

-- +goose Down
DROP INDEX conference_attempts_open;
DROP TABLE event_tombstones;
ALTER TABLE events DROP COLUMN last_write;
DROP TABLE outbox;
