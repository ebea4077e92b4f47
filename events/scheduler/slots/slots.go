// Package slots computes the time slots a scheduling configuration offers:
// participants' open hours minus their busy time, cut into meetings. It is
// pure (no clock, no I/O): the caller fetches busy time and passes Now.
package slots

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Interval is the half-open span [Start, End).
type Interval struct{ Start, End time.Time }

// Busy is time on a participant's availability calendars.
type Busy struct {
	Interval
	Tentative bool
}

// Participant is one person whose time the configuration offers.
type Participant struct {
	Email      string
	Timezone   string      // IANA; "" = UTC
	OpenHours  []OpenHours // empty: Query.DefaultOpenHours; both empty: always open
	Busy       []Busy
	LastBooked time.Time // max-fairness; zero = never booked
}

// Method is availability_rules.availability_method.
type Method string

const (
	Collective      Method = "collective" // "" reads the same
	MaxFairness     Method = "max-fairness"
	MaxAvailability Method = "max-availability"
)

const (
	// MaxWindow bounds the span the engine computes over (after the days in
	// future and minimum notice have cut the asked window), which bounds its
	// time and memory for any input.
	MaxWindow = 93 * 24 * time.Hour
	// DefaultRoundTo is Nylas' round_to default.
	DefaultRoundTo = 15 * time.Minute
	// MaxDaysInFuture keeps Now + DaysInFuture days far from overflow.
	MaxDaysInFuture = 3650
)

// Query is one availability question.
type Query struct {
	Start, End                time.Time     // the asked window; slots lie inside it
	Now                       time.Time     // required
	Duration                  time.Duration // meeting length, at least a minute
	Interval                  time.Duration // between slot starts; 0 = Duration
	RoundTo                   time.Duration // 0 = DefaultRoundTo
	BufferBefore, BufferAfter time.Duration // a slot [s,e) needs [s-before, e+after) free of busy time
	MinNotice                 time.Duration // slots start at or after Now+MinNotice
	DaysInFuture              int           // slots start at or before Now + this many 24-hour days; 0 = no limit
	TentativeAsBusy           bool
	Method                    Method
	DefaultOpenHours          []OpenHours
	Participants              []Participant
}

// Slot is one offered meeting time; Emails are the participants it would
// book (collective: all; round robin: the free ones, in Result.Order order).
type Slot struct {
	Start, End time.Time
	Emails     []string
}

// Result lists the slots in ascending start order. Order (round robin only)
// ranks every participant: the first free one in a slot's Emails is booked.
type Result struct {
	Order []string
	Slots []Slot
}

// Compute answers q. Its only errors are *FieldError, for a query it cannot
// answer (a bad time zone or open hours, non-positive duration, a window
// longer than MaxWindow ...); the field names follow the configuration's JSON.
func Compute(q Query) (Result, error) {
	e, err := prepare(q)
	if err != nil {
		return Result{}, err
	}
	return e.run(), nil
}

// Available reports whether Compute(q) offers exactly [start, end), and whom
// it would book. A booking re-checks its slot with it.
func Available(q Query, start, end time.Time) ([]string, bool) {
	if _, err := prepare(q); err != nil {
		return nil, false
	}
	if start.Before(q.Start) || end.After(q.End) || !end.Equal(start.Add(q.Duration)) {
		return nil, false
	}
	// A slot's grid depends only on the participants' free time near it,
	// never on the asked window, so a window of just the slot finds the
	// same slot. Only max-availability's order depends on the whole window.
	if q.Method != MaxAvailability {
		q.Start, q.End = start, end
	}
	e, err := prepare(q)
	if err != nil {
		return nil, false
	}
	r := e.run()
	i := sort.Search(len(r.Slots), func(k int) bool { return !r.Slots[k].Start.Before(start) })
	if i == len(r.Slots) || !r.Slots[i].Start.Equal(start) || !r.Slots[i].End.Equal(end) {
		return nil, false
	}
	return slices.Clone(r.Slots[i].Emails), true
}

type participant struct {
	loc  *time.Location // slot times round in it
	open []openHours    // nil: always open
	free []Interval
}

type engine struct {
	q                 Query
	interval, roundTo time.Duration
	ws, we            time.Time // slots start at or after ws and end at or before we
	horizon           time.Time // slots start at or before it; zero = no limit
	rs, re            time.Time // the span whose open hours and busy time are looked at
	parts             []participant
	days              map[*time.Location][]time.Time
}

func prepare(q Query) (*engine, error) {
	e := &engine{q: q, interval: q.Interval, roundTo: q.RoundTo}
	switch {
	case q.Now.IsZero():
		return nil, fieldErr("now", "is required")
	case q.Duration < time.Minute:
		return nil, fieldErr("availability.duration_minutes", "must be at least 1 minute")
	case q.Interval < 0 || (q.Interval > 0 && q.Interval < time.Minute):
		return nil, fieldErr("availability.interval_minutes", "must be at least 1 minute")
	case q.RoundTo < 0 || (q.RoundTo > 0 && q.RoundTo < time.Minute):
		return nil, fieldErr("availability.round_to", "must be at least 1 minute")
	case q.BufferBefore < 0:
		return nil, fieldErr("availability.availability_rules.buffer.before", "must not be negative")
	case q.BufferAfter < 0:
		return nil, fieldErr("availability.availability_rules.buffer.after", "must not be negative")
	case q.MinNotice < 0:
		return nil, fieldErr("scheduler.min_booking_notice", "must not be negative")
	case q.DaysInFuture < 0 || q.DaysInFuture > MaxDaysInFuture:
		return nil, fieldErr("scheduler.available_days_in_future", "must be 0 to %d", MaxDaysInFuture)
	case q.Method != "" && q.Method != Collective && q.Method != MaxFairness && q.Method != MaxAvailability:
		return nil, fieldErr("availability.availability_rules.availability_method", "must be collective, max-fairness or max-availability")
	case !q.End.After(q.Start):
		return nil, fieldErr("end_time", "must be after start_time")
	case len(q.Participants) == 0:
		return nil, fieldErr("participants", "must list at least one participant")
	}
	if e.interval == 0 {
		e.interval = q.Duration
	}
	if e.roundTo == 0 {
		e.roundTo = DefaultRoundTo
	}

	e.ws, e.we = q.Start, q.End
	if nb := q.Now.Add(q.MinNotice); nb.After(e.ws) {
		e.ws = nb
	}
	if q.DaysInFuture > 0 {
		e.horizon = q.Now.Add(time.Duration(q.DaysInFuture) * 24 * time.Hour)
		if last := e.horizon.Add(q.Duration); last.Before(e.we) {
			e.we = last
		}
	}
	if e.we.Sub(e.ws) > MaxWindow {
		return nil, fieldErr("end_time", "the window from start_time (or the minimum booking notice) is longer than %d days", MaxWindow/(24*time.Hour))
	}
	// Margins wider than a day (the longest local day is 25 hours, plus
	// the widest gap between two zones) keep the span's own edges away
	// from any local day a slot can start in: see grid.
	e.rs, e.re = e.ws.Add(-72*time.Hour), e.we.Add(48*time.Hour)

	defaults := make([]openHours, len(q.DefaultOpenHours))
	for i, oh := range q.DefaultOpenHours {
		p, err := parseOpenHours(fmt.Sprintf("availability.availability_rules.default_open_hours[%d]", i), oh, nil)
		if err != nil {
			return nil, err
		}
		defaults[i] = p
	}
	e.parts = make([]participant, len(q.Participants))
	for i, p := range q.Participants {
		loc := time.UTC
		if p.Timezone != "" {
			l, ok := loadLocation(p.Timezone)
			if !ok {
				return nil, fieldErr(fmt.Sprintf("participants[%d].timezone", i), "is not a known IANA time zone")
			}
			loc = l
		}
		e.parts[i].loc = loc
		if len(p.OpenHours) == 0 {
			for _, d := range defaults {
				if d.loc == nil {
					d.loc = loc
				}
				e.parts[i].open = append(e.parts[i].open, d)
			}
		}
		for j, oh := range p.OpenHours {
			parsed, err := parseOpenHours(fmt.Sprintf("participants[%d].availability.open_hours[%d]", i, j), oh, loc)
			if err != nil {
				return nil, err
			}
			e.parts[i].open = append(e.parts[i].open, parsed)
		}
		if p.Timezone == "" && len(e.parts[i].open) > 0 {
			// Rounding follows the clock the open hours are written in.
			e.parts[i].loc = e.parts[i].open[0].loc
		}
	}
	return e, nil
}

func (e *engine) run() Result {
	rr := e.q.Method == MaxFairness || e.q.Method == MaxAvailability
	var r Result
	if e.ws.Before(e.we) {
		for i := range e.parts {
			e.parts[i].free = subtract(e.open(i), e.busy(i))
		}
		e.days = make(map[*time.Location][]time.Time)
		if rr {
			return e.roundRobin()
		}
		r.Slots = e.collective()
	} else if rr {
		for _, p := range e.order(make([]int, len(e.parts))) {
			r.Order = append(r.Order, e.q.Participants[p].Email)
		}
	}
	return r
}

func (e *engine) collective() []Slot {
	free := e.parts[0].free
	for _, p := range e.parts[1:] {
		free = intersect(free, p.free)
	}
	var starts []time.Time
	e.grid(e.parts[0].loc, free, func(s time.Time) { starts = append(starts, s) })
	n := len(e.q.Participants)
	emails := make([]string, 0, n*len(starts))
	out := make([]Slot, len(starts))
	for i, s := range starts {
		for _, p := range e.q.Participants {
			emails = append(emails, p.Email)
		}
		out[i] = Slot{Start: s, End: s.Add(e.q.Duration), Emails: emails[i*n : (i+1)*n : (i+1)*n]}
	}
	return out
}

func (e *engine) roundRobin() Result {
	var starts []time.Time
	for i := range e.parts {
		e.grid(e.parts[i].loc, e.parts[i].free, func(s time.Time) { starts = append(starts, s) })
	}
	slices.SortFunc(starts, time.Time.Compare)
	starts = slices.CompactFunc(starts, time.Time.Equal)

	// Every participant free for a slot is offered in it, not only those
	// whose own grid produced it.
	type slot struct{ start, from, to int }
	var (
		found []slot
		who   []int
		count = make([]int, len(e.parts))
		next  = make([]int, len(e.parts))
	)
	for si, s := range starts {
		end := s.Add(e.q.Duration)
		from := len(who)
		for p := range e.parts {
			f := e.parts[p].free
			j := next[p]
			for j < len(f) && !f[j].End.After(s) {
				j++
			}
			next[p] = j
			if j < len(f) && !f[j].Start.After(s) && !end.After(f[j].End) {
				who = append(who, p)
				count[p]++
			}
		}
		if len(who) > from {
			found = append(found, slot{si, from, len(who)})
		}
	}

	order := e.order(count)
	rank := make([]int, len(e.parts))
	for r, p := range order {
		rank[p] = r
	}
	res := Result{Order: make([]string, len(order)), Slots: make([]Slot, len(found))}
	for r, p := range order {
		res.Order[r] = e.q.Participants[p].Email
	}
	emails := make([]string, len(who))
	for i, f := range found {
		ps := who[f.from:f.to]
		slices.SortFunc(ps, func(a, b int) int { return rank[a] - rank[b] })
		for k, p := range ps {
			emails[f.from+k] = e.q.Participants[p].Email
		}
		s := starts[f.start]
		res.Slots[i] = Slot{Start: s, End: s.Add(e.q.Duration), Emails: emails[f.from:f.to:f.to]}
	}
	return res
}

// order ranks the participants for round robin: max-fairness puts the one
// booked longest ago (or never) first, max-availability the one with the most
// offered slots; ties go by email, then by position.
func (e *engine) order(count []int) []int {
	ps := e.q.Participants
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		var c int
		if e.q.Method == MaxAvailability {
			c = cmp.Compare(count[b], count[a])
		} else {
			c = ps[a].LastBooked.Compare(ps[b].LastBooked)
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(ps[a].Email, ps[b].Email)
	})
	return idx
}

// open is participant i's open time within [rs, re), sorted and merged.
func (e *engine) open(i int) []Interval {
	p := &e.parts[i]
	if p.open == nil {
		return []Interval{{e.rs, e.re}}
	}
	var w []Interval
	for k := range p.open {
		oh := &p.open[k]
		w = oh.windows(civilDay(e.rs.In(oh.loc)), civilDay(e.re.In(oh.loc)), w)
	}
	return merge(w)
}

// busy is participant i's busy time widened by the buffers (a slot must not
// start within BufferBefore after it nor end within BufferAfter before it),
// within [rs, re), sorted and merged.
func (e *engine) busy(i int) []Interval {
	src := e.q.Participants[i].Busy
	w := make([]Interval, 0, len(src))
	for _, b := range src {
		if (b.Tentative && !e.q.TentativeAsBusy) || !b.Start.Before(b.End) {
			continue
		}
		s, en := b.Start.Add(-e.q.BufferAfter), b.End.Add(e.q.BufferBefore)
		if s.Before(e.rs) {
			s = e.rs
		}
		if en.After(e.re) {
			en = e.re
		}
		if s.Before(en) {
			w = append(w, Interval{s, en})
		}
	}
	return merge(w)
}

func merge(w []Interval) []Interval {
	if len(w) == 0 {
		return w
	}
	slices.SortFunc(w, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	out := w[:1]
	for _, iv := range w[1:] {
		last := &out[len(out)-1]
		if !iv.Start.After(last.End) {
			if iv.End.After(last.End) {
				last.End = iv.End
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// subtract is open minus busy; both sorted and merged.
func subtract(open, busy []Interval) []Interval {
	var out []Interval
	j := 0
	for _, o := range open {
		s := o.Start
		for j < len(busy) && !busy[j].End.After(s) {
			j++
		}
		for k := j; k < len(busy) && busy[k].Start.Before(o.End); k++ {
			if busy[k].Start.After(s) {
				out = append(out, Interval{s, busy[k].Start})
			}
			if busy[k].End.After(s) {
				s = busy[k].End
			}
		}
		if s.Before(o.End) {
			out = append(out, Interval{s, o.End})
		}
	}
	return out
}

// intersect of two sorted, merged lists.
func intersect(a, b []Interval) []Interval {
	var out []Interval
	for i, j := 0, 0; i < len(a) && j < len(b); {
		s, en := a[i].Start, a[i].End
		if b[j].Start.After(s) {
			s = b[j].Start
		}
		if b[j].End.Before(en) {
			en = b[j].End
		}
		if s.Before(en) {
			out = append(out, Interval{s, en})
		}
		if a[i].End.Before(b[j].End) {
			i++
		} else {
			j++
		}
	}
	return out
}

// dayStarts are the first instants of the local days in loc around
// [ws, we), strictly ascending (a day the clock skips entirely is dropped).
func (e *engine) dayStarts(loc *time.Location) []time.Time {
	if d, ok := e.days[loc]; ok {
		return d
	}
	var d []time.Time
	for day, last := civilDay(e.ws.In(loc))-1, civilDay(e.we.In(loc))+1; day <= last; day++ {
		y, m, dd := time.Unix(day*86400, 0).UTC().Date()
		t := wall(y, m, dd, 0, loc)
		if len(d) == 0 || t.After(d[len(d)-1]) {
			d = append(d, t)
		}
	}
	e.days[loc] = d
	return d
}

// grid emits, in ascending order, the slot starts inside the free stretches:
// in each stretch, the first start is its beginning rounded up to RoundTo,
// then one every Interval. Rounding counts from local midnight in loc (so a
// +5:45 zone rounds to its own hours), and the count starts again at each
// local midnight: slot times then never depend on the asked window, Now or
// where a long stretch was cut off, only on the stretch itself, so a slot
// offered to one request is found again when the booking re-checks it.
func (e *engine) grid(loc *time.Location, free []Interval, emit func(time.Time)) {
	d, step, round := e.q.Duration, e.interval, e.roundTo
	days := e.dayStarts(loc)
	for _, f := range free {
		a, b := f.Start, f.End
		if b.After(e.we) {
			b = e.we
		}
		lo := a
		if lo.Before(e.ws) {
			lo = e.ws
		}
		if lo.Add(d).After(b) {
			continue
		}
		i := sort.Search(len(days), func(k int) bool { return days[k].After(lo) }) - 1
		if i < 0 {
			i = 0
		}
		for ; i < len(days) && days[i].Before(b); i++ {
			dayStart, dayEnd := days[i], b
			if i+1 < len(days) && days[i+1].Before(dayEnd) {
				dayEnd = days[i+1]
			}
			anchor := a
			if anchor.Before(dayStart) {
				anchor = dayStart
			}
			s := dayStart.Add(ceilDiv(anchor.Sub(dayStart), round) * round)
			if s.Before(lo) {
				s = s.Add(ceilDiv(lo.Sub(s), step) * step)
			}
			for ; s.Before(dayEnd) && !s.Add(d).After(b); s = s.Add(step) {
				if !e.horizon.IsZero() && s.After(e.horizon) {
					return
				}
				emit(s)
			}
		}
	}
}

// ceilDiv rounds x/y up, for x >= 0, y > 0, without overflowing for a huge y.
func ceilDiv(x, y time.Duration) time.Duration {
	if x <= 0 {
		return 0
	}
	return (x-1)/y + 1
}
