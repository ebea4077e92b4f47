// Drives the hosted booking page (<nylas-scheduling>) in headless Chromium,
// as a guest would: book a slot, reschedule it, or cancel it. Run by
// TestBrowserBooking (cmd/confhub/browser_test.go), which checks the
// outcome at the API and the Zoom simulator.
//
// Environment: PLAYWRIGHT_CORE (the playwright-core package directory),
// CHROMIUM (the browser), PAGE_URL, STEP (book | reschedule | cancel),
// AVOID_START (reschedule: the booked slot's start, Unix seconds).
// Prints one line `RESULT {json}`; exits non-zero on any failure, and when
// the page tried to reach anything off this machine.
import { pathToFileURL } from "node:url";

const { chromium } = await import(pathToFileURL(process.env.PLAYWRIGHT_CORE + "/index.mjs").href);
const step = process.env.STEP;
const timeout = 60_000;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true, args: ["--no-sandbox"] });
const context = await browser.newContext({ timezoneId: "UTC", locale: "en-US" });
const offMachine = [];
const exchanges = [];
const problems = [];
// Every request the page makes must stay on this machine; anything else is
// refused and reported.
await context.route("**/*", (route) => {
  const u = new URL(route.request().url());
  if (u.protocol === "data:" || u.protocol === "blob:" || u.hostname === "127.0.0.1" || u.hostname === "localhost") {
    return route.continue();
  }
  offMachine.push(u.href);
  return route.abort("blockedbyclient");
});
const page = await context.newPage();
page.on("pageerror", (err) => problems.push("page error: " + err.message));
page.on("console", (msg) => { if (msg.type() === "error") problems.push("console: " + msg.text()); });
page.on("requestfailed", (req) => problems.push("request failed: " + req.method() + " " + req.url() + " " + (req.failure()?.errorText ?? "")));
page.on("response", async (resp) => {
  const u = new URL(resp.url());
  if (!u.pathname.startsWith("/v3/")) return;
  const req = resp.request();
  let body = "";
  try { body = await resp.text(); } catch { /* a preflight or a body already gone */ }
  exchanges.push({ method: req.method(), path: u.pathname + u.search, status: resp.status(), request: req.postData() ?? "", body });
});

async function fail(message) {
  console.error("FAILED (" + step + "): " + message);
  for (const p of problems) console.error("  " + p);
  for (const x of exchanges) console.error(`  ${x.method} ${x.path} -> ${x.status} ${x.request.slice(0, 300)} => ${x.body.slice(0, 400)}`);
  if (offMachine.length) console.error("  requests off this machine: " + offMachine.join(", "));
  await browser.close();
  process.exit(1);
}

// isAvailability matches the component's availability answers.
const isAvailability = (resp) => resp.request().method() === "GET" && new URL(resp.url()).pathname === "/v3/scheduling/availability";

// showSlots brings the first date with a future slot on screen: the
// component asks for the month shown (clipped to its horizon), so near a
// month's end the first slots may be in the next one.
async function showSlots(firstAnswer) {
  let answer = firstAnswer;
  for (let month = 0; month < 3; month++) {
    const data = JSON.parse(await (await answer).text()).data ?? {};
    if ((data.time_slots ?? []).some((s) => s.start_time * 1000 > Date.now())) {
      await page.locator("nylas-date-picker button.date:not([disabled])").first().click({ timeout });
      await page.locator("nylas-timeslot-picker button.time").first().waitFor({ timeout });
      return data.time_slots; // the month on screen: what its buttons stand for
    }
    answer = page.waitForResponse(isAvailability, { timeout });
    await page.locator('nylas-date-picker button[title="Next month"]').click({ timeout });
  }
  await fail("no month within the horizon offers a slot");
}

// pickSlot chooses the first offered slot whose start is not avoid, moving
// on through the dates and months as needed, and returns its start (Unix
// seconds) and label.
async function pickSlot(firstAnswer, avoid) {
  let offered = await showSlots(firstAnswer);
  const slots = page.locator("nylas-timeslot-picker button.time");
  for (let tries = 0; tries < 40; tries++) {
    const n = await slots.count();
    for (let i = 0; i < n; i++) {
      const label = (await slots.nth(i).innerText()).trim();
      await slots.nth(i).click();
      const start = await selectedStart(offered, label);
      if (start !== undefined && String(start) !== avoid) return { start, label };
    }
    // Every slot of this date is the one to avoid: the next date with slots.
    const dates = page.locator("nylas-date-picker button.date:not([disabled])");
    const selected = await page.locator("nylas-date-picker button.date.selected").getAttribute("aria-label");
    const labels = await dates.evaluateAll((bs) => bs.map((b) => b.getAttribute("aria-label")));
    const next = labels.indexOf(selected) + 1;
    if (next > 0 && next < labels.length) {
      await dates.nth(next).click();
      await slots.first().waitFor({ timeout });
    } else {
      const answer = page.waitForResponse(isAvailability, { timeout });
      await page.locator('nylas-date-picker button[title="Next month"]').click({ timeout });
      offered = await showSlots(answer);
    }
  }
  await fail("no slot other than " + avoid + " could be picked");
}

// selectedStart finds the offered slot a clicked button stands for, by its
// label (hh:mm AM in UTC) and the selected date.
async function selectedStart(offered, label) {
  const dateLabel = await page.locator("nylas-date-picker button.date.selected").getAttribute("aria-label");
  const day = new Date(dateLabel + " UTC");
  const hhmm = label.slice(0, 8);
  for (const s of offered) {
    const d = new Date(s.start_time * 1000);
    const text = d.toLocaleTimeString("en-US", { hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
    if (text === hhmm && d.getUTCFullYear() === day.getUTCFullYear() && d.getUTCMonth() === day.getUTCMonth() && d.getUTCDate() === day.getUTCDate()) {
      return s.start_time;
    }
  }
  return undefined;
}

try {
  const firstAnswer = page.waitForResponse(isAvailability, { timeout });
  firstAnswer.catch(() => {}); // the cancel page asks for none
  await page.goto(process.env.PAGE_URL, { timeout });
  let result = {};
  if (step === "book" || step === "reschedule") {
    const slot = await pickSlot(firstAnswer, process.env.AVOID_START ?? "");
    await page.locator('nylas-timeslot-picker button:has-text("Next")').click();
    const name = page.locator('nylas-booking-form input[name="name"]');
    await name.waitFor({ timeout });
    // The reschedule form is prefilled from ui-settings' booking.guest
    // once the component has it; the guest types the same either way.
    await name.fill("Grace Guest");
    await page.locator('nylas-booking-form input[name="email"]').fill("grace@example.com");
    // The answer is awaited itself: the exchange log fills asynchronously,
    // and may lag behind what the component shows.
    const method = step === "book" ? "POST" : "PATCH";
    const answered = page.waitForResponse((r) => r.request().method() === method &&
      new URL(r.url()).pathname.startsWith("/v3/scheduling/bookings"), { timeout });
    await page.locator('nylas-booking-form button[type="submit"]').click();
    const want = step === "book" ? "Booking confirmed!" : "Booking rescheduled!";
    await page.locator("nylas-booked-event-card h2", { hasText: want }).waitFor({ timeout });
    const resp = await answered;
    const answer = JSON.parse(await resp.text());
    result = { start: slot.start, label: slot.label, booking_id: answer.data?.booking_id, event_id: answer.data?.event_id,
      request: JSON.parse(resp.request().postData() ?? "{}") };
  } else if (step === "cancel") {
    const reason = page.locator('nylas-cancel-booking-form textarea[name="cancel-reason"]');
    await reason.waitFor({ timeout });
    await reason.fill("Something came up");
    const answered = page.waitForResponse((r) => r.request().method() === "DELETE" &&
      new URL(r.url()).pathname.startsWith("/v3/scheduling/bookings/"), { timeout });
    await page.locator('nylas-cancel-booking-form button[type="submit"]').click();
    await page.locator("nylas-cancelled-event-card h3", { hasText: "Your booking has been cancelled successfully!" }).waitFor({ timeout });
    const resp = await answered;
    const u = new URL(resp.url());
    result = { path: u.pathname + u.search, status: resp.status() };
  } else {
    await fail("STEP must be book, reschedule or cancel");
  }
  if (offMachine.length) await fail("the page tried to reach " + offMachine.join(", "));
  console.log("RESULT " + JSON.stringify(result));
  await browser.close();
} catch (err) {
  await fail(err.stack || String(err));
}
