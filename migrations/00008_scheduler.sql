-- +goose Up
-- Scheduler configurations (booking pages). The configuration is kept as
-- the validated JSON the API shows; the columns beside it are what lookups
-- and uniqueness need.
CREATE TABLE scheduling_configurations (
    id                    uuid PRIMARY KEY,
    application_id        uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    grant_id              uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    slug                  text,
    requires_session_auth boolean NOT NULL DEFAULT false,
    body                  jsonb NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX scheduling_configurations_slug ON scheduling_configurations (application_id, slug) WHERE slug IS NOT NULL;
CREATE INDEX scheduling_configurations_by_slug ON scheduling_configurations (slug) WHERE slug IS NOT NULL;
CREATE INDEX scheduling_configurations_list ON scheduling_configurations (application_id, grant_id, created_at, id);

-- Sessions give a private configuration's page access for a short while.
-- Only a hash of the session id is kept: the id is a bearer credential.
CREATE TABLE scheduling_sessions (
    id_sha256        bytea PRIMARY KEY,
    application_id   uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    configuration_id uuid NOT NULL REFERENCES scheduling_configurations (id) ON DELETE CASCADE,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX scheduling_sessions_expiry ON scheduling_sessions (expires_at);

-- A booking holds its time on the calendars it was checked against
-- (held_calendars) for as long as it is booked or pending: the claim that
-- makes double bookings impossible (docs/decisions.md, "No double
-- booking"). Its event is made and changed through the events path.
CREATE TABLE scheduling_bookings (
    id               uuid PRIMARY KEY,
    application_id   uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    configuration_id uuid NOT NULL,
    event_id         uuid NOT NULL,
    event_grant_id   uuid NOT NULL,
    calendar_id      uuid NOT NULL,
    salt             bytea NOT NULL,
    status           text NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    held_calendars   uuid[] NOT NULL,
    organizer_email  text NOT NULL DEFAULT '',
    details          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scheduling_bookings_holds ON scheduling_bookings USING gin (held_calendars) WHERE status IN ('booked', 'pending');
CREATE INDEX scheduling_bookings_time ON scheduling_bookings (application_id, starts_at) WHERE status IN ('booked', 'pending');
CREATE INDEX scheduling_bookings_config ON scheduling_bookings (configuration_id);

-- +goose Down
DROP TABLE scheduling_bookings;
DROP TABLE scheduling_sessions;
DROP TABLE scheduling_configurations;
