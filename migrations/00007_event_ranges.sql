-- +goose NO TRANSACTION
-- +goose Up
-- Time-range lookups (GET /events with start, busy times) need the events
-- that started before a window and still run in it. "ends_at > start" is
-- not index-backed by events_calendar_time; a GiST index on each event's
-- [starts_at, ends_at) per calendar answers "which events of this calendar
-- contain instant t" without scanning the earlier ones (docs/decisions.md,
-- "Time-range queries (issue 12)"). btree_gist gives GiST the uuid column;
-- it ships with PostgreSQL's contrib and is a trusted extension (the
-- database owner may create it).
CREATE EXTENSION IF NOT EXISTS btree_gist;
-- Built CONCURRENTLY so a populated table keeps taking writes meanwhile
-- (hence no transaction). A build that failed half-way leaves an invalid
-- index behind: drop it, so running this again builds it afresh.
DROP INDEX CONCURRENTLY IF EXISTS events_calendar_during;
CREATE INDEX CONCURRENTLY events_calendar_during ON events USING gist (calendar_id, tstzrange(starts_at, ends_at));
-- The planner needs the new expression's statistics at once to tell a
-- window far into a calendar from one near its beginning.
ANALYZE events;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS events_calendar_during;
