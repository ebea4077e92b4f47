// Drives confhub's Scheduler API with the official Nylas Node SDK, used as
// its users use it: camelCase objects in, camelCase objects out, the SDK's
// own methods and nothing else. Run by api/sdk_test.go, which sets:
//   NYLAS_SDK_DIR  the installed package (node_modules/nylas)
//   API_URI        confhub's base URL (the SDK's apiUri)
//   API_KEY        the application's API key
//   CAL_GRANT      the calendar grant that owns the configurations
//   CALENDAR_ID    its primary calendar
//   CONF_GRANT     the Zoom grant that hosts the meetings
//   SLOT_START     a free slot start (unix seconds) two days ahead
// It prints one JSON object on stdout: what each call returned, and every
// call that failed (steps[].error), so the test can say which ones did.
import { env, pkg, Nylas, steps } from './sdk.mjs';

const nylas = new Nylas({ apiKey: env('API_KEY'), apiUri: env('API_URI'), timeout: 60 });
const identifier = env('CAL_GRANT');
const calendarId = env('CALENDAR_ID');
const confGrantId = env('CONF_GRANT');
const start = Number(env('SLOT_START'));
const HALF_HOUR = 30 * 60;

const out = { sdkVersion: pkg.version, steps: [] };

const { step, expectError } = steps(out);

const zoom = { provider: 'Zoom Meeting', autocreate: { confGrantId } };
const configuration = (title, extra = {}) => ({
  participants: [
    {
      email: 'organizer@example.com',
      name: 'Olga Organizer',
      isOrganizer: true,
      availability: { calendarIds: [calendarId] },
      booking: { calendarId },
    },
  ],
  availability: {
    durationMinutes: 30,
    intervalMinutes: 30,
    availabilityRules: {
      defaultOpenHours: [{ days: [0, 1, 2, 3, 4, 5, 6], start: '00:00', end: '23:59', timezone: 'UTC' }],
    },
  },
  eventBooking: { title, description: 'Booked through the Node SDK', conferencing: zoom },
  scheduler: { minBookingNotice: 0, availableDaysInFuture: 14 },
  ...extra,
});
const guest = (email) => ({ name: 'Gina Guest', email });
const slotsOf = (r) => r?.data?.timeSlots?.map((s) => ({ startTime: s.startTime, endTime: s.endTime, emails: s.emails }));
const saltOf = (ref) => Buffer.from(ref, 'base64url').subarray(32).toString('base64url');

// Configurations.
const main = await step('configurations.create', () =>
  nylas.scheduler.configurations.create({ identifier, requestBody: configuration('SDK call') }));
const confirmCfg = await step('configurations.create organizer-confirmation', () =>
  nylas.scheduler.configurations.create({
    identifier,
    requestBody: configuration('Needs approval', {
      eventBooking: { title: 'Needs approval', bookingType: 'organizer-confirmation', conferencing: zoom },
    }),
  }));
const priv = await step('configurations.create private', () =>
  nylas.scheduler.configurations.create({
    identifier,
    requestBody: configuration('Private', { slug: 'sdk-private', requiresSessionAuth: true }),
  }));
out.configurationId = main?.data?.id;
out.confirmConfigurationId = confirmCfg?.data?.id;
out.privateConfigurationId = priv?.data?.id;
out.created = main?.data && {
  slug: main.data.slug,
  requiresSessionAuth: main.data.requiresSessionAuth,
  durationMinutes: main.data.availability?.durationMinutes,
  confGrantId: main.data.eventBooking?.conferencing?.autocreate?.confGrantId,
  calendarIds: main.data.participants?.[0]?.availability?.calendarIds,
};

const list = await step('configurations.list', () => nylas.scheduler.configurations.list({ identifier }));
out.listedIds = list?.data?.map((c) => c.id);

const found = await step('configurations.find', () =>
  nylas.scheduler.configurations.find({ identifier, configurationId: out.privateConfigurationId }));
out.foundSlug = found?.data?.slug;

const updated = await step('configurations.update', () =>
  nylas.scheduler.configurations.update({
    identifier,
    configurationId: out.privateConfigurationId,
    requestBody: { eventBooking: { title: 'Private, renamed', conferencing: zoom } },
  }));
out.updatedTitle = updated?.data?.eventBooking?.title;

// Sessions: a private configuration answers to its session.
const session = await step('sessions.create', () =>
  nylas.scheduler.sessions.create({ requestBody: { configurationId: out.privateConfigurationId, timeToLive: 10 } }));
out.sessionId = session?.data?.sessionId;
const win = { startTime: start, endTime: start + 2 * HALF_HOUR };
const bySession = await step('availability.get with the session', () =>
  nylas.scheduler.availability.get({ queryParams: win, overrides: { apiKey: out.sessionId } }));
out.sessionSlots = slotsOf(bySession);
await step('sessions.destroy', () => nylas.scheduler.sessions.destroy({ sessionId: out.sessionId }));
out.endedSessionError = await expectError('availability.get with the ended session', () =>
  nylas.scheduler.availability.get({ queryParams: win, overrides: { apiKey: out.sessionId } }));

await step('configurations.destroy', () =>
  nylas.scheduler.configurations.destroy({ identifier, configurationId: out.privateConfigurationId }));

// Availability and bookings on the public configuration, with the API key.
const q = { configurationId: out.configurationId };
const avail = async (name) =>
  slotsOf(await step(name, () => nylas.scheduler.availability.get({ queryParams: { ...q, ...win } })));
out.slotsBefore = await avail('availability.get');

const a = await step('bookings.create', () =>
  nylas.scheduler.bookings.create({
    queryParams: q,
    requestBody: {
      startTime: start,
      endTime: start + HALF_HOUR,
      guest: guest('gina@example.com'),
      additionalGuests: [guest('al@example.com')],
      timezone: 'Europe/Berlin',
      emailLanguage: 'en',
    },
  }));
out.booking = a?.data && { ...a.data };
out.slotsAfterBooking = await avail('availability.get after booking');

// The event the booking made, read back with the SDK as well.
const eventA = await step('events.find the booking event', () =>
  nylas.events.find({ identifier, eventId: out.booking.eventId, queryParams: { calendarId } }));
out.joinUrlBooked = eventA?.data?.conferencing?.details?.url;

out.taken = await expectError('bookings.create of a taken slot', () =>
  nylas.scheduler.bookings.create({
    queryParams: q,
    requestBody: { startTime: start, endTime: start + HALF_HOUR, guest: guest('late@example.com') },
  }));

const gotA = await step('bookings.find', () =>
  nylas.scheduler.bookings.find({ bookingId: out.booking.bookingId, queryParams: q }));
out.foundBooking = gotA?.data && { bookingId: gotA.data.bookingId, eventId: gotA.data.eventId, status: gotA.data.status };

// A second booking, cancelled (timezone also as the query parameter the SDK documents).
const b = await step('bookings.create second', () =>
  nylas.scheduler.bookings.create({
    queryParams: { ...q, timezone: 'America/New_York' },
    requestBody: { startTime: start + HALF_HOUR, endTime: start + 2 * HALF_HOUR, guest: guest('bo@example.com') },
  }));
out.cancelledBooking = b?.data && { bookingId: b.data.bookingId, eventId: b.data.eventId };
await step('bookings.destroy', () =>
  nylas.scheduler.bookings.destroy({
    bookingId: out.cancelledBooking.bookingId,
    queryParams: q,
    requestBody: { cancellationReason: 'Double-booked myself' },
  }));
const gotB = await step('bookings.find cancelled', () =>
  nylas.scheduler.bookings.find({ bookingId: out.cancelledBooking.bookingId, queryParams: q }));
out.cancelledStatus = gotB?.data?.status;

// Move the first booking three hours later.
out.rescheduledTo = start + 6 * HALF_HOUR;
const moved = await step('bookings.reschedule', () =>
  nylas.scheduler.bookings.reschedule({
    bookingId: out.booking.bookingId,
    queryParams: q,
    requestBody: { startTime: out.rescheduledTo, endTime: out.rescheduledTo + HALF_HOUR },
  }));
out.rescheduled = moved?.data && { bookingId: moved.data.bookingId, eventId: moved.data.eventId, status: moved.data.status };
const eventMoved = await step('events.find after reschedule', () =>
  nylas.events.find({ identifier, eventId: out.booking.eventId, queryParams: { calendarId } }));
out.joinUrlRescheduled = eventMoved?.data?.conferencing?.details?.url;
out.eventStartRescheduled = eventMoved?.data?.when?.startTime;
out.slotsAfterMoves = await avail('availability.get after cancel and reschedule');

// Organizer confirmation: the salt is the tail of the booking reference.
const qc = { configurationId: out.confirmConfigurationId };
const c = await step('bookings.create pending', () =>
  nylas.scheduler.bookings.create({
    queryParams: qc,
    requestBody: { startTime: start + 4 * HALF_HOUR, endTime: start + 5 * HALF_HOUR, guest: guest('pat@example.com') },
  }));
out.pending = c?.data && { bookingId: c.data.bookingId, status: c.data.status, bookingRef: c.data.bookingRef };
const confirmed = await step('bookings.confirm', () =>
  nylas.scheduler.bookings.confirm({
    bookingId: out.pending.bookingId,
    queryParams: qc,
    requestBody: { salt: saltOf(out.pending.bookingRef), status: 'confirmed' },
  }));
out.confirmed = confirmed?.data && { bookingId: confirmed.data.bookingId, eventId: confirmed.data.eventId, status: confirmed.data.status };

process.stdout.write(JSON.stringify(out) + '\n');
