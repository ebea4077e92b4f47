-- +goose Up
-- Events of virtual-calendar grants. The Zoom meeting an event owns is
-- identified by (conf_grant_id, conf_meeting_id); conferencing holds what the
-- API shows. description is the caller's text: the join-details block is
-- added when the event is rendered, so it can never appear twice.
CREATE TABLE events (
    id              uuid PRIMARY KEY,
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    grant_id        uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    calendar_id     uuid NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    title           text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    location        text NOT NULL DEFAULT '',
    busy            boolean NOT NULL DEFAULT true,
    status          text NOT NULL DEFAULT 'confirmed',
    visibility      text NOT NULL DEFAULT 'default',
    participants    jsonb NOT NULL DEFAULT '[]',
    when_json       jsonb NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    metadata        jsonb,
    conferencing    jsonb,
    conf_grant_id   uuid,
    conf_meeting_id bigint,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_calendar_time ON events (application_id, calendar_id, starts_at, id);
CREATE UNIQUE INDEX events_one_per_meeting ON events (conf_meeting_id) WHERE conf_meeting_id IS NOT NULL;

-- Every Zoom meeting we create is recorded here before and after the call,
-- so a meeting can never exist without us knowing (see docs/decisions.md,
-- "No duplicate meetings").
CREATE TABLE conference_attempts (
    id             text PRIMARY KEY,               -- the operation's id (workflow id)
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_id       uuid NOT NULL,
    conf_grant_id  uuid NOT NULL,
    marker         text NOT NULL,                  -- written into the meeting's agenda
    attempts       int NOT NULL DEFAULT 0,
    -- An attempt whose outcome is unknown (sent without an answer, or its
    -- worker died mid-call): the next attempt must look before creating.
    uncertain      boolean NOT NULL DEFAULT false,
    meeting_id     bigint,
    state          text NOT NULL DEFAULT 'pending', -- pending, created, done, compensated
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Meetings we could not delete (grant invalid, meeting in progress, ...).
CREATE TABLE conference_orphans (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    conf_grant_id  uuid NOT NULL,
    meeting_id     bigint NOT NULL,
    event_id       uuid,
    reason         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conf_grant_id, meeting_id)
);

-- Idempotency-Key on POST /events: the same key and body give the same event.
CREATE TABLE idempotency_keys (
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    key            text NOT NULL,
    request_sha256 bytea NOT NULL,
    event_id       uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE conference_orphans;
DROP TABLE conference_attempts;
DROP TABLE events;
