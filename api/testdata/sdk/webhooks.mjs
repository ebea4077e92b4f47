// Drives confhub's webhook destinations with the official Nylas Node SDK,
// as its users use it: nylas.webhooks.* and nylas.events.*, camelCase in
// and out, nothing else. Run by api/sdk_webhooks_test.go (TestNodeSDKWebhooks),
// which sets:
//   NYLAS_SDK_DIR  the installed package (node_modules/nylas)
//   API_URI        confhub's base URL (the SDK's apiUri)
//   API_KEY        the application's API key
//   CAL_GRANT      the calendar grant that owns the event
//   CALENDAR_ID    its primary calendar
//   CONF_GRANT     the Zoom grant that hosts the meeting
//   WEBHOOK_URL    the test's receiver (it answers the challenge)
//   EVENT_START    the event's start (unix seconds), some days ahead
// It runs in two parts and prints one JSON object (what each call returned,
// and every call that failed, steps[].error) after each:
//   1. the destination created, listed, found, updated and its secret
//      rotated; then an event with a Zoom meeting created, moved, deleted;
//   2. after a line on stdin (the test has its notifications by then: a
//      destination deleted earlier would take pending deliveries with it),
//      the destination deleted and looked for again.
// stdin closed without a line ends the run after part 1.
import { createInterface } from 'node:readline';
import { env, pkg, Nylas, steps } from './sdk.mjs';

const nylas = new Nylas({ apiKey: env('API_KEY'), apiUri: env('API_URI'), timeout: 60 });
const identifier = env('CAL_GRANT');
const calendarId = env('CALENDAR_ID');
const confGrantId = env('CONF_GRANT');
const webhookUrl = env('WEBHOOK_URL');
const start = Number(env('EVENT_START'));
const HOUR = 60 * 60;

const out = { sdkVersion: pkg.version, steps: [] };
const report = () => process.stdout.write(JSON.stringify(out) + '\n');

const { step, expectError } = steps(out);

// A destination as the SDK gave it back; hasSecret says whether the answer
// carried a secret at all (only create and rotate may).
const destination = (d) =>
  d && {
    id: d.id,
    description: d.description,
    triggerTypes: d.triggerTypes,
    webhookUrl: d.webhookUrl,
    status: d.status,
    notificationEmailAddresses: d.notificationEmailAddresses,
    hasSecret: 'webhookSecret' in d,
  };

// Part 1: the destination.
const triggerTypes = ['event.created', 'event.updated', 'event.deleted'];
const created = await step('webhooks.create', () =>
  nylas.webhooks.create({ requestBody: { triggerTypes, webhookUrl, description: 'SDK receiver' } }));
out.created = destination(created?.data);
out.firstSecret = created?.data?.webhookSecret;
const webhookId = created?.data?.id;

const list = await step('webhooks.list', () => nylas.webhooks.list());
out.listed = list?.data?.map(destination);

const found = await step('webhooks.find', () => nylas.webhooks.find({ webhookId }));
out.found = destination(found?.data);

const updated = await step('webhooks.update', () =>
  nylas.webhooks.update({
    webhookId,
    requestBody: { description: 'SDK receiver, renamed', notificationEmailAddresses: ['ops@example.com'] },
  }));
out.updated = destination(updated?.data);

// Rotated before anything happens: every notification below must be signed
// with this secret, none with the first.
const rotated = await step('webhooks.rotateSecret', () => nylas.webhooks.rotateSecret({ webhookId }));
out.rotated = destination(rotated?.data);
out.rotatedSecret = rotated?.data?.webhookSecret;

// The event: created with a Zoom meeting, moved an hour later, deleted.
const queryParams = { calendarId };
const ev = await step('events.create', () =>
  nylas.events.create({
    identifier,
    queryParams,
    requestBody: {
      title: 'SDK webhooks',
      description: 'Notified through the Node SDK',
      when: { startTime: start, endTime: start + HOUR / 2 },
      conferencing: { provider: 'Zoom Meeting', autocreate: { confGrantId } },
    },
  }));
out.eventId = ev?.data?.id;
out.joinUrl = ev?.data?.conferencing?.details?.url;
out.movedTo = start + HOUR;
const moved = await step('events.update', () =>
  nylas.events.update({
    identifier,
    eventId: out.eventId,
    queryParams,
    requestBody: { when: { startTime: out.movedTo, endTime: out.movedTo + HOUR / 2 } },
  }));
out.movedStart = moved?.data?.when?.startTime;
out.joinUrlMoved = moved?.data?.conferencing?.details?.url;
await step('events.destroy', () => nylas.events.destroy({ identifier, eventId: out.eventId, queryParams }));
out.part = 1;
report();

// Part 2, once the test says its receiver has what it waits for.
const rl = createInterface({ input: process.stdin });
const go = await new Promise((resolve) => {
  rl.once('line', () => resolve(true));
  rl.once('close', () => resolve(false));
});
rl.close();
process.stdin.destroy();
if (go) {
  const destroyed = await step('webhooks.destroy', () => nylas.webhooks.destroy({ webhookId }));
  out.destroyedStatus = destroyed?.data?.status;
  out.findAfterDestroy = await expectError('webhooks.find after destroy', () => nylas.webhooks.find({ webhookId }));
  const after = await step('webhooks.list after destroy', () => nylas.webhooks.list());
  out.listedAfterDestroy = after?.data?.map((d) => d.id);
  out.part = 2;
  report();
}
