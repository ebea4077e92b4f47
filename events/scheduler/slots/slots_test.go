package slots

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The engine never reads the clock (Now is an input), so the tests pin one
// reference day and derive every other day from it: weekdays by counting,
// daylight-saving change days by scanning the zone's offsets. The reference
// year only has to be one whose rules the tz database knows.
var reference = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

// date is a calendar date, held as midnight UTC.
type date = time.Time

func addDays(d date, n int) date { return d.AddDate(0, 0, n) }

// nextWeekday is the first date on or after d that is a wd.
func nextWeekday(d date, wd time.Weekday) date {
	return addDays(d, (int(wd)-int(d.Weekday())+7)%7)
}

// dstChange is the first date after from on which loc's clocks go forward
// (spring) or back; the change happens before local noon everywhere used here.
func dstChange(t testing.TB, loc *time.Location, from date, spring bool) date {
	t.Helper()
	offsetAt := func(d date) int {
		_, off := time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, loc).Zone()
		return off
	}
	for d := addDays(from, 1); d.Before(addDays(from, 400)); d = addDays(d, 1) {
		prev, cur := offsetAt(addDays(d, -1)), offsetAt(d)
		if (spring && cur > prev) || (!spring && cur < prev) {
			return d
		}
	}
	t.Fatalf("no DST change in %s within a year of %s", loc, from.Format(time.DateOnly))
	return date{}
}

func at(loc *time.Location, d date, h, m int) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, loc)
}

// monday is an ordinary Monday (no DST change near it).
var monday = nextWeekday(addDays(reference, 7), time.Monday)

var weekdays = []int{1, 2, 3, 4, 5}

// oneDay asks for the whole local day d in loc, with Now well before it.
func oneDay(loc *time.Location, d date, dur time.Duration, ps ...Participant) Query {
	start := at(loc, d, 0, 0)
	return Query{
		Start: start, End: at(loc, addDays(d, 1), 0, 0), Now: start.Add(-48 * time.Hour),
		Duration: dur, Participants: ps,
	}
}

func compute(t testing.TB, q Query) Result {
	t.Helper()
	r, err := Compute(q)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	return r
}

// local lists the slot starts as wall-clock times with the zone's abbreviation.
func local(r Result, loc *time.Location) []string {
	out := make([]string, len(r.Slots))
	for i, s := range r.Slots {
		out[i] = s.Start.In(loc).Format("Mon 15:04 MST")
	}
	return out
}

func hhmm(r Result, loc *time.Location) []string {
	out := make([]string, len(r.Slots))
	for i, s := range r.Slots {
		out[i] = s.Start.In(loc).Format("15:04")
	}
	return out
}

func series(from, to string, step time.Duration) []string {
	a, _ := time.Parse("15:04", from)
	b, _ := time.Parse("15:04", to)
	var out []string
	for t := a; !t.After(b); t = t.Add(step) {
		out = append(out, t.Format("15:04"))
	}
	return out
}

func equal(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func TestWorkWeek(t *testing.T) {
	q := Query{
		Start: monday, End: addDays(monday, 7), Now: monday.Add(-time.Hour), Duration: 30 * time.Minute,
		Participants: []Participant{{Email: "a@x.test", OpenHours: []OpenHours{{Days: weekdays, Start: "9:00", End: "17:00"}}}},
	}
	r := compute(t, q)
	if len(r.Slots) != 5*16 {
		t.Fatalf("got %d slots, want 80 (16 a day, Monday to Friday): %q", len(r.Slots), local(r, time.UTC))
	}
	if r.Order != nil {
		t.Fatalf("collective answered an order: %q", r.Order)
	}
	perDay := map[time.Weekday][]string{}
	for _, s := range r.Slots {
		if s.End.Sub(s.Start) != 30*time.Minute || !slices.Equal(s.Emails, []string{"a@x.test"}) {
			t.Fatalf("slot %v: want 30 minutes for a@x.test", s)
		}
		perDay[s.Start.Weekday()] = append(perDay[s.Start.Weekday()], s.Start.Format("15:04"))
	}
	for wd := time.Monday; wd <= time.Friday; wd++ {
		equal(t, wd.String(), perDay[wd], series("09:00", "16:30", 30*time.Minute))
	}
}

func TestClockForms(t *testing.T) {
	day := func(start, end string) []string {
		p := Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: start, End: end}}}
		return hhmm(compute(t, oneDay(time.UTC, monday, time.Hour, p)), time.UTC)
	}
	equal(t, "9:00-12:00", day("9:00", "12:00"), []string{"09:00", "10:00", "11:00"})
	equal(t, "09:00-12:00", day("09:00", "12:00"), []string{"09:00", "10:00", "11:00"})
	equal(t, "21:00-24:00", day("21:00", "24:00"), []string{"21:00", "22:00", "23:00"})
	equal(t, "21:00-23:59 (end of day)", day("21:00", "23:59"), []string{"21:00", "22:00", "23:00"})
	equal(t, "0:00-2:30", day("0:00", "2:30"), []string{"00:00", "01:00"})
}

func TestDaylightSavingDays(t *testing.T) {
	ny, berlin := mustLoc(t, "America/New_York"), mustLoc(t, "Europe/Berlin")
	cases := []struct {
		name       string
		loc        *time.Location
		spring     bool
		start, end string
		dur        time.Duration
		want       []string
		realHours  time.Duration // the real length of the open window
	}{
		{"NY spring 9-17", ny, true, "9:00", "17:00", time.Hour,
			[]string{"09:00 EDT", "10:00 EDT", "11:00 EDT", "12:00 EDT", "13:00 EDT", "14:00 EDT", "15:00 EDT", "16:00 EDT"}, 8},
		{"NY fall 9-17", ny, false, "9:00", "17:00", time.Hour,
			[]string{"09:00 EST", "10:00 EST", "11:00 EST", "12:00 EST", "13:00 EST", "14:00 EST", "15:00 EST", "16:00 EST"}, 8},
		{"NY spring 0-6 loses an hour", ny, true, "0:00", "6:00", time.Hour,
			[]string{"00:00 EST", "01:00 EST", "03:00 EDT", "04:00 EDT", "05:00 EDT"}, 5},
		{"NY fall 0-6 gains an hour", ny, false, "0:00", "6:00", time.Hour,
			[]string{"00:00 EDT", "01:00 EDT", "01:00 EST", "02:00 EST", "03:00 EST", "04:00 EST", "05:00 EST"}, 7},
		{"NY spring 1:30-3:30 across the gap", ny, true, "1:30", "3:30", 30 * time.Minute,
			[]string{"01:30 EST", "03:00 EDT"}, 1},
		{"NY spring 2:30-4:00 starts in the gap", ny, true, "2:30", "4:00", 30 * time.Minute,
			[]string{"03:00 EDT", "03:30 EDT"}, 1},
		{"NY fall 1:30-2:30 starts at the first 1:30", ny, false, "1:30", "2:30", 30 * time.Minute,
			[]string{"01:30 EDT", "01:00 EST", "01:30 EST", "02:00 EST"}, 2},
		{"Berlin spring 9-17", berlin, true, "9:00", "17:00", 2 * time.Hour,
			[]string{"09:00 CEST", "11:00 CEST", "13:00 CEST", "15:00 CEST"}, 8},
		{"Berlin fall 9-17", berlin, false, "9:00", "17:00", 2 * time.Hour,
			[]string{"09:00 CET", "11:00 CET", "13:00 CET", "15:00 CET"}, 8},
		{"Berlin spring 1:30-3:30 across the gap", berlin, true, "1:30", "3:30", 30 * time.Minute,
			[]string{"01:30 CET", "03:00 CEST"}, 1},
		{"Berlin spring 0-6 loses an hour", berlin, true, "0:00", "6:00", time.Hour,
			[]string{"00:00 CET", "01:00 CET", "03:00 CEST", "04:00 CEST", "05:00 CEST"}, 5},
		{"Berlin fall 0-6 gains an hour", berlin, false, "0:00", "6:00", time.Hour,
			[]string{"00:00 CEST", "01:00 CEST", "02:00 CEST", "02:00 CET", "03:00 CET", "04:00 CET", "05:00 CET"}, 7},
		{"Berlin fall 2:30-3:30 starts at the first 2:30", berlin, false, "2:30", "3:30", 30 * time.Minute,
			[]string{"02:30 CEST", "02:00 CET", "02:30 CET", "03:00 CET"}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := dstChange(t, c.loc, reference, c.spring)
			p := Participant{Email: "a@x.test", Timezone: c.loc.String(),
				OpenHours: []OpenHours{{Days: []int{int(d.Weekday())}, Start: c.start, End: c.end}}}
			q := oneDay(c.loc, d, c.dur, p)
			r := compute(t, q)
			got := make([]string, len(r.Slots))
			for i, s := range r.Slots {
				got[i] = s.Start.In(c.loc).Format("15:04 MST")
				if s.End.Sub(s.Start) != c.dur {
					t.Fatalf("slot %v lasts %v, want %v of real time", s.Start, s.End.Sub(s.Start), c.dur)
				}
			}
			equal(t, d.Format("Mon")+" "+c.loc.String(), got, c.want)
			// The open window's real length: a free day with 1-minute
			// back-to-back slots covers it exactly.
			q.Duration, q.RoundTo = time.Minute, time.Minute
			r = compute(t, q)
			if n := time.Duration(len(r.Slots)) * time.Minute; n != c.realHours*time.Hour {
				t.Fatalf("open window lasts %v of real time, want %v", n, c.realHours*time.Hour)
			}
		})
	}
}

// A date the clock skips entirely (Samoa moved across the date line) has no
// open hours and breaks nothing around it.
func TestSkippedDay(t *testing.T) {
	apia := mustLoc(t, "Pacific/Apia")
	var skipped date
	for d := addDays(reference, -20*366); d.Before(reference); d = addDays(d, 1) {
		if at(apia, d, 12, 0).Day() != d.Day() {
			skipped = d
			break
		}
	}
	if skipped.IsZero() {
		t.Fatal("the tz database has no skipped day for Pacific/Apia")
	}
	p := Participant{Email: "a@x.test", Timezone: "Pacific/Apia", OpenHours: []OpenHours{{Days: []int{0, 1, 2, 3, 4, 5, 6}, Start: "9:00", End: "17:00"}}}
	q := Query{Start: at(apia, addDays(skipped, -1), 0, 0), End: at(apia, addDays(skipped, 2), 0, 0), Duration: 8 * time.Hour, Participants: []Participant{p}}
	q.Now = q.Start
	r := compute(t, q)
	want := []string{addDays(skipped, -1).Format("Jan 2 ") + "09:00", addDays(skipped, 1).Format("Jan 2 ") + "09:00"}
	got := make([]string, len(r.Slots))
	for i, s := range r.Slots {
		got[i] = s.Start.In(apia).Format("Jan 2 15:04")
	}
	equal(t, "around the skipped day", got, want)
}

func TestExdates(t *testing.T) {
	tuesday, wednesday := addDays(monday, 1), addDays(monday, 2)
	q := Query{
		Start: monday, End: addDays(monday, 3), Now: monday, Duration: 8 * time.Hour,
		Participants: []Participant{{Email: "a@x.test", OpenHours: []OpenHours{{
			Days: weekdays, Start: "9:00", End: "17:00",
			Exdates: []string{tuesday.Format(time.DateOnly), addDays(monday, -1).Format(time.DateOnly)},
		}}}},
	}
	equal(t, "UTC, Tuesday excluded", local(compute(t, q), time.UTC), []string{"Mon 09:00 UTC", "Wed 09:00 UTC"})

	// The exdate is a date in the open hours' zone: Tokyo's Wednesday
	// 9:00-17:00 is Wednesday 0:00-8:00 UTC, and goes; Tuesday's stays.
	tokyo := mustLoc(t, "Asia/Tokyo")
	q.Participants[0].OpenHours = []OpenHours{{Days: weekdays, Start: "9:00", End: "17:00", Timezone: "Asia/Tokyo",
		Exdates: []string{wednesday.Format(time.DateOnly)}}}
	q.Start, q.End, q.Now = at(tokyo, monday, 0, 0), at(tokyo, addDays(monday, 3), 24, 0), at(tokyo, monday, 0, 0)
	equal(t, "Tokyo open hours, UTC participant", local(compute(t, q), tokyo),
		[]string{"Mon 09:00 JST", "Tue 09:00 JST", "Thu 09:00 JST"})
}

func TestBuffers(t *testing.T) {
	busy := []Busy{{Interval: Interval{at(time.UTC, monday, 10, 0), at(time.UTC, monday, 11, 0)}}}
	p := Participant{Email: "a@x.test", Busy: busy, OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "13:00"}}}
	q := oneDay(time.UTC, monday, 30*time.Minute, p)
	equal(t, "no buffers", hhmm(compute(t, q), time.UTC), []string{"09:00", "09:30", "11:00", "11:30", "12:00", "12:30"})

	// Before: free time ahead of a meeting, so a slot cannot start within
	// 15 minutes of the busy event's end. After: free time behind it, so
	// 9:30-10:00 (10 minutes before the event) goes. Neither applies at the
	// edge of open hours: 9:00 stays.
	q.BufferBefore, q.BufferAfter = 15*time.Minute, 10*time.Minute
	equal(t, "before 15, after 10", hhmm(compute(t, q), time.UTC), []string{"09:00", "11:15", "11:45", "12:15"})

	q.BufferBefore, q.BufferAfter = 0, 30*time.Minute
	equal(t, "after 30", hhmm(compute(t, q), time.UTC), []string{"09:00", "11:00", "11:30", "12:00", "12:30"})
}

func TestRoundTo(t *testing.T) {
	busy := []Busy{{Interval: Interval{at(time.UTC, monday, 8, 0), at(time.UTC, monday, 10, 5)}}}
	for _, c := range []struct {
		round time.Duration
		first string
	}{{0, "10:15"}, {5 * time.Minute, "10:05"}, {15 * time.Minute, "10:15"}, {30 * time.Minute, "10:30"}, {60 * time.Minute, "11:00"}} {
		p := Participant{Email: "a@x.test", Busy: busy, OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "12:00"}}}
		q := oneDay(time.UTC, monday, 30*time.Minute, p)
		q.RoundTo = c.round
		got := hhmm(compute(t, q), time.UTC)
		if len(got) == 0 || got[0] != c.first {
			t.Fatalf("round_to %v: slots %q, want the first at %s", c.round, got, c.first)
		}
	}

	// Rounding follows the participant's wall clock, also at +5:45.
	ktm := mustLoc(t, "Asia/Kathmandu")
	p := Participant{Email: "a@x.test", Timezone: "Asia/Kathmandu",
		Busy:      []Busy{{Interval: Interval{at(ktm, monday, 9, 0), at(ktm, monday, 9, 10)}}},
		OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "12:00"}}}
	q := oneDay(ktm, monday, time.Hour, p)
	q.RoundTo = time.Hour
	equal(t, "Kathmandu, round_to 60", hhmm(compute(t, q), ktm), []string{"10:00", "11:00"})

	// A participant without a zone rounds in the zone of their open hours.
	q.Participants[0].Timezone = ""
	q.Participants[0].OpenHours[0].Timezone = "Asia/Kathmandu"
	equal(t, "open hours in Kathmandu, no participant zone", hhmm(compute(t, q), ktm), []string{"10:00", "11:00"})
}

func TestIntervalAndDuration(t *testing.T) {
	p := Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "11:00"}}}
	for _, c := range []struct {
		dur, interval time.Duration
		want          []string
	}{
		{30 * time.Minute, 0, series("09:00", "10:30", 30*time.Minute)},
		{30 * time.Minute, 15 * time.Minute, series("09:00", "10:30", 15*time.Minute)},
		{30 * time.Minute, 60 * time.Minute, []string{"09:00", "10:00"}},
		{45 * time.Minute, 0, []string{"09:00", "09:45"}},
		{45 * time.Minute, 30 * time.Minute, []string{"09:00", "09:30", "10:00"}},
		{3 * time.Hour, 0, nil},
	} {
		q := oneDay(time.UTC, monday, c.dur, p)
		q.Interval = c.interval
		r := compute(t, q)
		equal(t, fmt.Sprintf("duration %v interval %v", c.dur, c.interval), hhmm(r, time.UTC), c.want)
		for _, s := range r.Slots {
			if s.End.Sub(s.Start) != c.dur {
				t.Fatalf("slot %v lasts %v", s.Start, s.End.Sub(s.Start))
			}
		}
	}
}

func TestCollectiveAcrossZones(t *testing.T) {
	berlin, la := mustLoc(t, "Europe/Berlin"), mustLoc(t, "America/Los_Angeles")
	people := func() []Participant {
		return []Participant{
			{Email: "berlin@x.test", Timezone: "Europe/Berlin", OpenHours: []OpenHours{{Days: weekdays, Start: "9:00", End: "18:00"}}},
			{Email: "la@x.test", Timezone: "America/Los_Angeles", OpenHours: []OpenHours{{Days: weekdays, Start: "8:00", End: "17:00"}}},
		}
	}
	// Winter: 9 hours apart, the overlap is 17:00-18:00 in Berlin.
	q := oneDay(time.UTC, monday, 30*time.Minute, people()...)
	r := compute(t, q)
	equal(t, "winter", local(r, berlin), []string{"Mon 17:00 CET", "Mon 17:30 CET"})
	equal(t, "winter, LA's view", local(r, la), []string{"Mon 08:00 PST", "Mon 08:30 PST"})
	for _, s := range r.Slots {
		equal(t, "emails", s.Emails, []string{"berlin@x.test", "la@x.test"})
	}

	// Between the US and the EU spring changes they are 8 hours apart.
	us := nextWeekday(dstChange(t, la, reference, true), time.Monday)
	if eu := dstChange(t, berlin, reference, true); !us.Before(eu) {
		t.Fatalf("expected the US change (%s) weeks before the EU one (%s)", us, eu)
	}
	q = oneDay(time.UTC, us, 30*time.Minute, people()...)
	equal(t, "US on summer time, EU not", local(compute(t, q), berlin),
		[]string{"Mon 16:00 CET", "Mon 16:30 CET", "Mon 17:00 CET", "Mon 17:30 CET"})

	// One busy person takes the slot away from everyone.
	ps := people()
	ps[1].Busy = []Busy{{Interval: Interval{at(la, us, 9, 0), at(la, us, 9, 30)}}}
	q = oneDay(time.UTC, us, 30*time.Minute, ps...)
	equal(t, "LA busy at 9:00", local(compute(t, q), berlin), []string{"Mon 16:00 CET", "Mon 16:30 CET", "Mon 17:30 CET"})
}

func TestMinNotice(t *testing.T) {
	p := Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: weekdays, Start: "9:00", End: "17:00"}}}
	q := oneDay(time.UTC, monday, 30*time.Minute, p)
	q.Now, q.MinNotice = at(time.UTC, monday, 10, 7), time.Hour
	r := compute(t, q)
	// The notice filters slots; it does not move the grid: 11:07 is not a slot.
	equal(t, "now 10:07, notice 60", hhmm(r, time.UTC), series("11:30", "16:30", 30*time.Minute))
	if _, ok := Available(q, at(time.UTC, monday, 11, 0), at(time.UTC, monday, 11, 30)); ok {
		t.Fatal("11:00 is within the notice but Available says yes")
	}
	if _, ok := Available(q, at(time.UTC, monday, 11, 30), at(time.UTC, monday, 12, 0)); !ok {
		t.Fatal("11:30 is offered but Available says no")
	}
}

func TestDaysInFuture(t *testing.T) {
	p := Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: weekdays, Start: "9:00", End: "17:00"}}}
	q := Query{Start: monday, End: addDays(monday, 7), Now: at(time.UTC, monday, 9, 0), Duration: 30 * time.Minute,
		DaysInFuture: 2, Participants: []Participant{p}}
	r := compute(t, q)
	last := r.Slots[len(r.Slots)-1]
	if want := at(time.UTC, addDays(monday, 2), 9, 0); !last.Start.Equal(want) {
		t.Fatalf("last slot %v, want %v (now + 2 days, inclusive)", last.Start, want)
	}
	if len(r.Slots) != 2*16+1 {
		t.Fatalf("got %d slots, want 33", len(r.Slots))
	}
	q.DaysInFuture = 0
	r = compute(t, q)
	if last := r.Slots[len(r.Slots)-1]; !last.Start.Equal(at(time.UTC, addDays(monday, 4), 16, 30)) {
		t.Fatalf("no limit: last slot %v, want Friday 16:30", last.Start)
	}
}

func TestTentative(t *testing.T) {
	p := Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "11:00"}},
		Busy: []Busy{{Interval: Interval{at(time.UTC, monday, 9, 0), at(time.UTC, monday, 10, 0)}, Tentative: true}}}
	q := oneDay(time.UTC, monday, time.Hour, p)
	equal(t, "tentative is free", hhmm(compute(t, q), time.UTC), []string{"09:00", "10:00"})
	q.TentativeAsBusy = true
	equal(t, "tentative as busy", hhmm(compute(t, q), time.UTC), []string{"10:00"})
}

func TestOpenHoursDefaults(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	def := []OpenHours{{Days: []int{1}, Start: "9:00", End: "11:00"}}
	// No open hours anywhere: always open.
	q := oneDay(time.UTC, monday, time.Hour, Participant{Email: "a@x.test"})
	if r := compute(t, q); len(r.Slots) != 24 {
		t.Fatalf("always open: %d slots, want 24", len(r.Slots))
	}
	// Defaults apply in the participant's zone; own open hours win.
	q = oneDay(ny, monday, time.Hour, Participant{Email: "a@x.test", Timezone: "America/New_York"},
		Participant{Email: "b@x.test", Timezone: "America/New_York", OpenHours: []OpenHours{{Days: []int{1}, Start: "10:00", End: "12:00"}}})
	q.DefaultOpenHours = def
	equal(t, "collective of default 9-11 and own 10-12", local(compute(t, q), ny), []string{"Mon 10:00 EST"})
	q.Method = MaxFairness
	equal(t, "round robin of the same", local(compute(t, q), ny), []string{"Mon 09:00 EST", "Mon 10:00 EST", "Mon 11:00 EST"})
}

func TestMaxFairness(t *testing.T) {
	open := []OpenHours{{Days: []int{1}, Start: "9:00", End: "11:00"}}
	q := oneDay(time.UTC, monday, time.Hour,
		Participant{Email: "c@x.test", LastBooked: at(time.UTC, monday, 0, 0).Add(-24 * time.Hour), OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "12:00"}}},
		Participant{Email: "b@x.test", OpenHours: open},
		Participant{Email: "d@x.test", LastBooked: at(time.UTC, monday, 0, 0).Add(-240 * time.Hour), OpenHours: open},
		Participant{Email: "a@x.test", OpenHours: open, Busy: []Busy{{Interval: Interval{at(time.UTC, monday, 9, 0), at(time.UTC, monday, 10, 0)}}}},
	)
	q.Method = MaxFairness
	r := compute(t, q)
	equal(t, "order: never booked (by email), then longest ago", r.Order, []string{"a@x.test", "b@x.test", "d@x.test", "c@x.test"})
	equal(t, "starts", hhmm(r, time.UTC), []string{"09:00", "10:00", "11:00"})
	equal(t, "9:00 (a busy)", r.Slots[0].Emails, []string{"b@x.test", "d@x.test", "c@x.test"})
	equal(t, "10:00", r.Slots[1].Emails, []string{"a@x.test", "b@x.test", "d@x.test", "c@x.test"})
	equal(t, "11:00 (only c open)", r.Slots[2].Emails, []string{"c@x.test"})

	emails, ok := Available(q, at(time.UTC, monday, 9, 0), at(time.UTC, monday, 10, 0))
	if !ok {
		t.Fatal("Available: 9:00 is offered")
	}
	equal(t, "Available 9:00", emails, []string{"b@x.test", "d@x.test", "c@x.test"})
}

func TestMaxAvailability(t *testing.T) {
	q := oneDay(time.UTC, monday, 30*time.Minute,
		Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "12:00"}}},
		Participant{Email: "d@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "17:00"}}},
		Participant{Email: "c@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "17:00"}},
			Busy: []Busy{{Interval: Interval{at(time.UTC, monday, 10, 0), at(time.UTC, monday, 11, 0)}}}},
		Participant{Email: "b@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "17:00"}}, LastBooked: monday},
	)
	q.Method = MaxAvailability
	r := compute(t, q)
	// b and d have 16 slots each (tie: by email), c 14, a 6.
	equal(t, "order", r.Order, []string{"b@x.test", "d@x.test", "c@x.test", "a@x.test"})
	if len(r.Slots) != 16 {
		t.Fatalf("%d slots, want 16", len(r.Slots))
	}
	equal(t, "9:00", r.Slots[0].Emails, []string{"b@x.test", "d@x.test", "c@x.test", "a@x.test"})
	equal(t, "10:00", r.Slots[2].Emails, []string{"b@x.test", "d@x.test", "a@x.test"})
	equal(t, "16:30", r.Slots[15].Emails, []string{"b@x.test", "d@x.test", "c@x.test"})

	// Available judges the order on the whole window too.
	emails, ok := Available(q, at(time.UTC, monday, 10, 0), at(time.UTC, monday, 10, 30))
	if !ok {
		t.Fatal("Available: 10:00 is offered")
	}
	equal(t, "Available 10:00", emails, []string{"b@x.test", "d@x.test", "a@x.test"})
}

// Round robin offers each participant's own grid, and lists everyone free
// for a slot, not only the participant whose grid produced it.
func TestRoundRobinGrids(t *testing.T) {
	q := oneDay(time.UTC, monday, 30*time.Minute,
		Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "10:00"}}},
		Participant{Email: "b@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "10:30"}},
			Busy: []Busy{{Interval: Interval{at(time.UTC, monday, 8, 0), at(time.UTC, monday, 9, 10)}}}},
	)
	q.Method = MaxFairness
	r := compute(t, q)
	equal(t, "starts", hhmm(r, time.UTC), []string{"09:00", "09:15", "09:30", "09:45"})
	want := [][]string{{"a@x.test"}, {"a@x.test", "b@x.test"}, {"a@x.test", "b@x.test"}, {"b@x.test"}}
	for i, s := range r.Slots {
		equal(t, s.Start.Format("15:04"), s.Emails, want[i])
	}
}

func TestAvailable(t *testing.T) {
	p := Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: weekdays, Start: "9:00", End: "17:00"}},
		Busy: []Busy{{Interval: Interval{at(time.UTC, monday, 12, 0), at(time.UTC, monday, 13, 0)}}}}
	q := Query{Start: monday, End: addDays(monday, 5), Now: monday, Duration: 30 * time.Minute, Participants: []Participant{p}}
	for _, c := range []struct {
		h, m int
		dur  time.Duration
		want bool
	}{
		{9, 0, 30 * time.Minute, true},
		{9, 0, time.Hour, false},         // not the configured duration
		{9, 15, 30 * time.Minute, false}, // off the grid
		{12, 0, 30 * time.Minute, false}, // busy
		{16, 30, 30 * time.Minute, true},
		{17, 0, 30 * time.Minute, false}, // closed
	} {
		s := at(time.UTC, monday, c.h, c.m)
		emails, ok := Available(q, s, s.Add(c.dur))
		if ok != c.want {
			t.Fatalf("%02d:%02d for %v: got %v, want %v", c.h, c.m, c.dur, ok, c.want)
		}
		if ok && !slices.Equal(emails, []string{"a@x.test"}) {
			t.Fatalf("emails %q", emails)
		}
	}
	// Outside the asked window.
	s := at(time.UTC, addDays(monday, 7), 9, 0)
	if _, ok := Available(q, s, s.Add(30*time.Minute)); ok {
		t.Fatal("a slot after the window is available")
	}
	// A bad query is never available.
	bad := q
	bad.Participants = []Participant{{Email: "a@x.test", Timezone: "Mars/Olympus"}}
	if _, ok := Available(bad, at(time.UTC, monday, 9, 0), at(time.UTC, monday, 9, 30)); ok {
		t.Fatal("a query with a bad time zone answered available")
	}
}

// A slot shown to a guest is still bookable when they book it later: the grid
// depends neither on Now nor on the window the page asked for.
func TestSlotsStableOverTime(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	q := Query{
		Start: at(berlin, monday, 0, 0), End: at(berlin, addDays(monday, 14), 0, 0), Now: at(berlin, monday, 8, 3),
		Duration: 45 * time.Minute, Interval: 20 * time.Minute, RoundTo: 10 * time.Minute, MinNotice: 90 * time.Minute,
		Participants: []Participant{{Email: "a@x.test", Timezone: "Europe/Berlin",
			OpenHours: []OpenHours{{Days: weekdays, Start: "8:05", End: "18:00"}},
			Busy:      []Busy{{Interval: Interval{at(berlin, addDays(monday, 1), 14, 7), at(berlin, addDays(monday, 1), 15, 2)}}}}},
	}
	shown := compute(t, q).Slots
	later := q
	// Now + notice is then Tuesday 11:55, off the 8:10 + 20k grid.
	later.Now = q.Now.Add(26*time.Hour + 22*time.Minute)
	later.Start = at(berlin, addDays(monday, 1), 0, 0)
	again := map[time.Time]bool{}
	for _, s := range compute(t, later).Slots {
		again[s.Start] = true
	}
	for _, s := range shown {
		_, ok := Available(later, s.Start, s.End)
		want := !s.Start.Before(later.Now.Add(later.MinNotice))
		if ok != want || again[s.Start] != want {
			t.Fatalf("slot %v shown at %v: at %v Available = %v, offered = %v, want %v", s.Start, q.Now, later.Now, ok, again[s.Start], want)
		}
	}
}

func TestValidateOpenHours(t *testing.T) {
	ok := []OpenHours{
		{Days: []int{0, 6}, Start: "0:00", End: "24:00"},
		{Days: []int{1}, Start: "09:00", End: "23:59", Timezone: "Asia/Kathmandu", Exdates: []string{reference.Format(time.DateOnly)}},
	}
	if err := ValidateOpenHours("f", ok); err != nil {
		t.Fatalf("valid open hours refused: %v", err)
	}
	base := OpenHours{Days: []int{1}, Start: "9:00", End: "17:00"}
	with := func(f func(*OpenHours)) []OpenHours {
		o := base
		f(&o)
		return []OpenHours{base, o}
	}
	const f = "participants[0].availability.open_hours"
	for _, c := range []struct {
		oh   []OpenHours
		want string
	}{
		{with(func(o *OpenHours) { o.Days = nil }), f + "[1].days: must list at least one day (0 = Sunday to 6 = Saturday)"},
		{with(func(o *OpenHours) { o.Days = []int{1, 7} }), f + "[1].days[1]: must be 0 (Sunday) to 6 (Saturday)"},
		{with(func(o *OpenHours) { o.Days = []int{-1} }), f + "[1].days[0]: must be 0 (Sunday) to 6 (Saturday)"},
		{with(func(o *OpenHours) { o.Start = "9" }), f + "[1].start: is not a time of day (H:MM, 0:00 to 23:59)"},
		{with(func(o *OpenHours) { o.Start = "9:0" }), f + "[1].start: is not a time of day (H:MM, 0:00 to 23:59)"},
		{with(func(o *OpenHours) { o.Start = "24:00" }), f + "[1].start: is not a time of day (H:MM, 0:00 to 23:59)"},
		{with(func(o *OpenHours) { o.Start = "9:60" }), f + "[1].start: is not a time of day (H:MM, 0:00 to 23:59)"},
		{with(func(o *OpenHours) { o.Start = "+9:00" }), f + "[1].start: is not a time of day (H:MM, 0:00 to 23:59)"},
		{with(func(o *OpenHours) { o.Start = "9:00am" }), f + "[1].start: is not a time of day (H:MM, 0:00 to 23:59)"},
		{with(func(o *OpenHours) { o.End = "24:30" }), f + "[1].end: is not a time of day (H:MM, 0:00 to 24:00)"},
		{with(func(o *OpenHours) { o.End = "" }), f + "[1].end: is not a time of day (H:MM, 0:00 to 24:00)"},
		{with(func(o *OpenHours) { o.End = "9:00" }), f + "[1].end: must be after start (open hours cannot run past midnight: use two entries)"},
		{with(func(o *OpenHours) { o.Start, o.End = "22:00", "2:00" }), f + "[1].end: must be after start (open hours cannot run past midnight: use two entries)"},
		{with(func(o *OpenHours) { o.Timezone = "Mars/Olympus" }), f + "[1].timezone: is not a known IANA time zone"},
		{with(func(o *OpenHours) { o.Timezone = "Local" }), f + "[1].timezone: is not a known IANA time zone"},
		{with(func(o *OpenHours) {
			o.Exdates = []string{reference.Format(time.DateOnly), fmt.Sprintf("%d-02-30", reference.Year())}
		}), f + "[1].exdates[1]: is not a date (YYYY-MM-DD)"},
		{with(func(o *OpenHours) { o.Exdates = []string{reference.Format("2006-1-2")} }), f + "[1].exdates[0]: is not a date (YYYY-MM-DD)"},
	} {
		err := ValidateOpenHours(f, c.oh)
		var fe *FieldError
		if !errors.As(err, &fe) || err.Error() != c.want {
			t.Fatalf("got %v, want %q", err, c.want)
		}
		// Compute refuses the same open hours, naming the same field.
		q := oneDay(time.UTC, monday, time.Hour, Participant{Email: "a@x.test", OpenHours: c.oh})
		if _, err := Compute(q); err == nil || err.Error() != c.want {
			t.Fatalf("Compute: got %v, want %q", err, c.want)
		}
	}
}

func TestComputeErrors(t *testing.T) {
	good := func() Query {
		return oneDay(time.UTC, monday, time.Hour, Participant{Email: "a@x.test", OpenHours: []OpenHours{{Days: []int{1}, Start: "9:00", End: "17:00"}}})
	}
	if _, err := Compute(good()); err != nil {
		t.Fatalf("good query: %v", err)
	}
	for _, c := range []struct {
		f     func(*Query)
		field string
	}{
		{func(q *Query) { q.Now = time.Time{} }, "now"},
		{func(q *Query) { q.Duration = 0 }, "availability.duration_minutes"},
		{func(q *Query) { q.Duration = -time.Hour }, "availability.duration_minutes"},
		{func(q *Query) { q.Duration = time.Second }, "availability.duration_minutes"},
		{func(q *Query) { q.Interval = -time.Minute }, "availability.interval_minutes"},
		{func(q *Query) { q.Interval = time.Nanosecond }, "availability.interval_minutes"},
		{func(q *Query) { q.RoundTo = -time.Minute }, "availability.round_to"},
		{func(q *Query) { q.BufferBefore = -time.Minute }, "availability.availability_rules.buffer.before"},
		{func(q *Query) { q.BufferAfter = -time.Minute }, "availability.availability_rules.buffer.after"},
		{func(q *Query) { q.MinNotice = -time.Minute }, "scheduler.min_booking_notice"},
		{func(q *Query) { q.DaysInFuture = -1 }, "scheduler.available_days_in_future"},
		{func(q *Query) { q.DaysInFuture = MaxDaysInFuture + 1 }, "scheduler.available_days_in_future"},
		{func(q *Query) { q.Method = "round-robin" }, "availability.availability_rules.availability_method"},
		{func(q *Query) { q.End = q.Start }, "end_time"},
		{func(q *Query) { q.End = q.Start.Add(MaxWindow + 25*time.Hour) }, "end_time"},
		{func(q *Query) { q.Participants = nil }, "participants"},
		{func(q *Query) { q.Participants[0].Timezone = "Nowhere/City" }, "participants[0].timezone"},
		{func(q *Query) {
			q.Participants[0].OpenHours = nil
			q.DefaultOpenHours = []OpenHours{{Days: []int{1}, Start: "9:00", End: "8:00"}}
		}, "availability.availability_rules.default_open_hours[0].end"},
	} {
		q := good()
		c.f(&q)
		_, err := Compute(q)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.HasPrefix(err.Error(), c.field+": ") {
			t.Fatalf("got %v, want an error for %s", err, c.field)
		}
	}

	// The window limit applies to what is computed: a year asked with 30
	// days in future is fine.
	q := good()
	q.End, q.DaysInFuture = q.Start.Add(365*24*time.Hour), 30
	if _, err := Compute(q); err != nil {
		t.Fatalf("a year's window cut to 30 days: %v", err)
	}
}

// randomQuery builds a query mixing zones with odd offsets and DST, busy
// time, buffers and methods; seeded, so a failure reproduces.
func randomQuery(rng *rand.Rand) Query {
	zones := []string{"", "UTC", "America/New_York", "Europe/Berlin", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago", "Asia/Tokyo"}
	minutes := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	start := reference.Add(minutes(rng.IntN(366 * 24 * 60)))
	q := Query{
		Start:        start,
		End:          start.Add(minutes(1 + rng.IntN(10*24*60))),
		Now:          start.Add(minutes(rng.IntN(48*60) - 24*60)),
		Duration:     minutes(5 * (1 + rng.IntN(24))),
		Interval:     minutes(5 * rng.IntN(13)),
		RoundTo:      minutes(5 * rng.IntN(13)),
		BufferBefore: minutes(5 * rng.IntN(5)),
		BufferAfter:  minutes(5 * rng.IntN(5)),
		MinNotice:    minutes(rng.IntN(3 * 60)),
		DaysInFuture: rng.IntN(8),
		Method:       []Method{"", Collective, MaxFairness, MaxAvailability}[rng.IntN(4)],
	}
	q.TentativeAsBusy = rng.IntN(2) == 0
	if rng.IntN(3) == 0 {
		q.DefaultOpenHours = []OpenHours{{Days: []int{1, 2, 3, 4, 5}, Start: "8:00", End: "18:00"}}
	}
	for i := range 1 + rng.IntN(4) {
		p := Participant{Email: fmt.Sprintf("p%d@x.test", rng.IntN(10)), Timezone: zones[rng.IntN(len(zones))]}
		if i%2 == 0 {
			p.LastBooked = start.Add(-minutes(rng.IntN(1000)))
		}
		for range rng.IntN(3) {
			s := rng.IntN(24 * 60)
			e := s + 1 + rng.IntN(24*60-s)
			end := fmt.Sprintf("%d:%02d", e/60, e%60)
			p.OpenHours = append(p.OpenHours, OpenHours{
				Days: []int{rng.IntN(7), rng.IntN(7), rng.IntN(7)}, Start: fmt.Sprintf("%d:%02d", s/60, s%60), End: end,
				Timezone: zones[rng.IntN(len(zones))], Exdates: []string{start.AddDate(0, 0, rng.IntN(5)).Format(time.DateOnly)},
			})
		}
		for range rng.IntN(40) {
			s := start.Add(minutes(rng.IntN(12*24*60) - 24*60))
			p.Busy = append(p.Busy, Busy{Interval: Interval{s, s.Add(minutes(rng.IntN(240) - 10))}, Tentative: rng.IntN(4) == 0})
		}
		q.Participants = append(q.Participants, p)
	}
	return q
}

// Every offered slot obeys the query (checked against the raw busy list by
// brute force), Available agrees with Compute slot by slot, and times that
// are not offered are not available.
func TestRandomQueries(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 34))
	offered := 0
	for n := range 400 {
		q := randomQuery(rng)
		r, err := Compute(q)
		if err != nil {
			t.Fatalf("query %d: %v", n, err)
		}
		rr := q.Method == MaxFairness || q.Method == MaxAvailability
		if rr != (len(r.Order) == len(q.Participants)) {
			t.Fatalf("query %d: order %q for method %q", n, r.Order, q.Method)
		}
		byEmail := map[string][]int{}
		for i, p := range q.Participants {
			byEmail[p.Email] = append(byEmail[p.Email], i)
		}
		for i, s := range r.Slots {
			if i > 0 && !r.Slots[i-1].Start.Before(s.Start) {
				t.Fatalf("query %d: slots out of order at %d", n, i)
			}
			if s.End.Sub(s.Start) != q.Duration || s.Start.Before(q.Start) || s.End.After(q.End) ||
				s.Start.Before(q.Now.Add(q.MinNotice)) || (q.DaysInFuture > 0 && s.Start.After(q.Now.Add(time.Duration(q.DaysInFuture)*24*time.Hour))) {
				t.Fatalf("query %d: slot %v-%v breaks the window, notice or horizon", n, s.Start, s.End)
			}
			if len(s.Emails) == 0 || (!rr && len(s.Emails) != len(q.Participants)) {
				t.Fatalf("query %d: slot %v emails %q", n, s.Start, s.Emails)
			}
			// Every participant listed (collective: all) is free of busy
			// time, buffers included. (With duplicate emails, one of them.)
			for _, email := range s.Emails {
				free := false
				for _, pi := range byEmail[email] {
					if !conflicts(q, q.Participants[pi], s) {
						free = true
					}
				}
				if !free {
					t.Fatalf("query %d: slot %v-%v offers busy %s", n, s.Start, s.End, email)
				}
			}
			offered++
		}
		// Available recomputes, so check a sample (always the ends).
		for k := range min(len(r.Slots), 25) {
			s := r.Slots[rng.IntN(len(r.Slots))]
			switch k {
			case 0:
				s = r.Slots[0]
			case 1:
				s = r.Slots[len(r.Slots)-1]
			}
			emails, ok := Available(q, s.Start, s.End)
			if !ok || !slices.Equal(emails, s.Emails) {
				t.Fatalf("query %d: slot %v offered with %q, Available says %v %q", n, s.Start, s.Emails, ok, emails)
			}
		}
		for range 20 {
			s := q.Start.Add(time.Duration(rng.IntN(int(q.End.Sub(q.Start)/time.Minute)+1)) * time.Minute)
			_, ok := Available(q, s, s.Add(q.Duration))
			_, found := slices.BinarySearchFunc(r.Slots, s, func(sl Slot, t time.Time) int { return sl.Start.Compare(t) })
			if ok != found {
				t.Fatalf("query %d: %v offered=%v, Available=%v", n, s, found, ok)
			}
		}
	}
	if offered < 1000 {
		t.Fatalf("only %d slots offered over all queries: the generator no longer exercises the engine", offered)
	}
}

func conflicts(q Query, p Participant, s Slot) bool {
	for _, b := range p.Busy {
		if b.Tentative && !q.TentativeAsBusy {
			continue
		}
		if b.Start.Before(s.End.Add(q.BufferAfter)) && b.End.After(s.Start.Add(-q.BufferBefore)) && b.Start.Before(b.End) {
			return true
		}
	}
	return false
}

func FuzzCompute(f *testing.F) {
	f.Add(int64(0), int64(600), int64(30), int64(15), int64(15), "9:00", "17:00", "America/New_York", uint8(0x3e), int64(120), int64(60))
	f.Add(int64(-1e9), int64(1e5), int64(1), int64(0), int64(0), "0:00", "24:00", "Pacific/Apia", uint8(0x7f), int64(-5), int64(3))
	f.Add(int64(1e12), int64(1), int64(1e9), int64(-1), int64(7), "23:59", "23:59", "", uint8(0), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, startMin, lenMin, dur, interval, round int64, s, e, tz string, days uint8, busyAt, busyLen int64) {
		start := reference.Add(time.Duration(startMin%(1<<40)) * time.Minute)
		q := Query{
			Start: start, End: start.Add(time.Duration(lenMin%(1<<40)) * time.Minute), Now: start,
			Duration: time.Duration(dur%(1<<30)) * time.Minute, Interval: time.Duration(interval%(1<<30)) * time.Minute,
			RoundTo: time.Duration(round%(1<<30)) * time.Minute, Method: MaxAvailability,
		}
		p := Participant{Email: "a@x.test", Timezone: tz,
			Busy: []Busy{{Interval: Interval{start.Add(time.Duration(busyAt%(1<<30)) * time.Minute), start.Add(time.Duration((busyAt+busyLen)%(1<<30)) * time.Minute)}}}}
		var ds []int
		for d := range 7 {
			if days&(1<<d) != 0 {
				ds = append(ds, d)
			}
		}
		p.OpenHours = []OpenHours{{Days: ds, Start: s, End: e, Timezone: tz}}
		q.Participants = []Participant{p, {Email: "b@x.test"}}
		r, err := Compute(q)
		if err != nil {
			return
		}
		for _, sl := range r.Slots {
			if sl.Start.Before(q.Start) || sl.End.After(q.End) {
				t.Fatalf("slot %v outside the window", sl)
			}
		}
	})
}

// benchQuery: 30 days, 3 participants in three zones, 2,000 busy events.
func benchQuery() Query {
	rng := rand.New(rand.NewPCG(1, 2))
	start := monday
	q := Query{Start: start, End: start.AddDate(0, 0, 30), Now: start, Duration: 30 * time.Minute, Interval: 15 * time.Minute,
		BufferBefore: 5 * time.Minute, BufferAfter: 10 * time.Minute, MinNotice: time.Hour, DaysInFuture: 30}
	for i, tz := range []string{"Europe/Berlin", "America/New_York", "Asia/Kolkata"} {
		p := Participant{Email: fmt.Sprintf("p%d@x.test", i), Timezone: tz,
			OpenHours: []OpenHours{{Days: weekdays, Start: "7:00", End: "21:00"}}}
		for range 667 {
			s := start.Add(time.Duration(rng.IntN(30*24*4)) * 15 * time.Minute)
			p.Busy = append(p.Busy, Busy{Interval: Interval{s, s.Add(time.Duration(1+rng.IntN(4)) * 15 * time.Minute)}})
		}
		q.Participants = append(q.Participants, p)
	}
	return q
}

func BenchmarkCompute(b *testing.B) {
	for _, m := range []Method{Collective, MaxAvailability} {
		b.Run(string(m), func(b *testing.B) {
			q := benchQuery()
			q.Method = m
			var r Result
			for b.Loop() {
				var err error
				if r, err = Compute(q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(r.Slots)), "slots")
		})
	}
}
