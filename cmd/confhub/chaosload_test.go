package main

// The chaos load and its checks: a client that retries as a careful caller
// does and remembers what was acknowledged; mixed creates, updates and
// deletes; and the figures that compare that record with what confhub and
// the simulator hold once the system has settled.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/workflowservice/v1"
)

const (
	// answerBound: every request answers within it (RequestTimeout, 30 s, and slack).
	answerBound = 35 * time.Second
	// maxAttempts bounds one operation's tries, alternating between processes.
	maxAttempts = 10
	// settleWithin: the durable work left by the load (deletions retried
	// with backoff, work of a killed worker taken over once its activity's
	// 30 s timeout passes) is done within it.
	settleWithin = 90 * time.Second
)

// answer is one HTTP exchange.
type answer struct {
	status     int
	retryAfter string
	data       json.RawMessage
	body       []byte
	err        error
	killed     bool // no answer because the test killed the process
	took       time.Duration
}

// class names an answer in the tallies.
func (a answer) class() string {
	var ne net.Error
	switch {
	case a.err != nil && errors.As(a.err, &ne) && ne.Timeout():
		return "timeout"
	case a.err != nil && a.killed:
		return "no answer (killed by the test)"
	case a.err != nil:
		return "no answer"
	case a.status == http.StatusServiceUnavailable && a.retryAfter != "":
		return "503+Retry-After"
	case a.status < 300:
		return "2xx"
	}
	return strconv.Itoa(a.status)
}

// excerpt is the start of the body, for a message.
func (a answer) excerpt() string {
	return strings.TrimSpace(string(a.body[:min(len(a.body), 300)]))
}

// send makes one request to c, counted as in flight there meanwhile.
func (h *harness) send(c *child, method, path string, body []byte, idemKey string) answer {
	rd := io.Reader(http.NoBody)
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+c.addr+path, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	c.inflight.Add(1)
	defer c.inflight.Add(-1)
	if method == http.MethodDelete {
		c.inflightDeletes.Add(1)
		defer c.inflightDeletes.Add(-1)
	}
	select {
	case c.sends <- method:
	default:
	}
	run, start := c.cur.Load(), time.Now()
	resp, err := h.http.Do(req)
	a := answer{err: err}
	if err == nil {
		raw, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.retryAfter, a.body, a.err = resp.StatusCode, resp.Header.Get("Retry-After"), raw, rerr
		var env struct{ Data json.RawMessage }
		_ = json.Unmarshal(raw, &env)
		a.data = env.Data
	}
	a.took = time.Since(start)
	a.killed = a.err != nil && run.planned.Load()
	return a
}

// outcome is what the client knows of a write once it stops trying.
type outcome int

const (
	notDone  outcome = iota
	acked            // answered with success
	unacked          // never answered with success: it may or may not have applied
	rejected         // answered 4xx: it changed nothing
)

// span is an event's time.
type span struct{ start, end int64 }

// field is what an event field may hold: its last acknowledged value, or a
// value sent after that whose answer never came (it may have applied).
type field[T comparable] struct {
	acked T
	later []T
}

func (f *field[T]) settle(v T, o outcome) {
	switch o {
	case acked:
		f.acked, f.later = v, nil
	case unacked:
		f.later = append(f.later, v)
	}
}

func (f *field[T]) allows(v T) bool { return v == f.acked || slices.Contains(f.later, v) }

// logical is one event as the client knows it. Its tag starts its title
// (and so its meeting's topic) for good: meetings and events are traced
// back to it by that.
type logical struct {
	tag, grant       string
	created, deleted outcome
	id, meeting      string // from the acknowledged create
	title            field[string]
	when             field[span]
	version          int
	busy             bool // one operation at a time per event, as one user would
}

// load runs mixed writes and remembers what was acknowledged.
type load struct {
	h    *harness
	base int64

	mu       sync.Mutex
	rng      *rand.Rand
	evs      []*logical
	tally    map[string]map[string]int // method -> answer class -> count
	outcomes map[string]map[outcome]int
	slow     int // answers slower than answerBound
	maxTook  time.Duration
	// Answers other than success or 503 with Retry-After (the outage
	// test's complaint), by phase, method and class, with one example each.
	bad        map[string]int
	badExample map[string]string
	phase      string

	quit                       <-chan struct{}
	issued, finished, ackedOps atomic.Int32
}

// setPhase names what is going on, for the answers noted from now on.
func (l *load) setPhase(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
}

// badAnswers is the number of answers other than success or 503 with
// Retry-After, and a line for each kind of them.
func (l *load) badAnswers() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	var lines []string
	for k, c := range l.bad {
		n += c
		lines = append(lines, fmt.Sprintf("%s ×%d, e.g. %s", k, c, l.badExample[k]))
	}
	sort.Strings(lines)
	return n, lines
}

func newLoad(h *harness, seed uint64) *load {
	return &load{h: h, rng: rand.New(rand.NewPCG(seed, seed>>1|1)), base: time.Now().Add(72 * time.Hour).Truncate(time.Hour).Unix(),
		tally: map[string]map[string]int{}, outcomes: map[string]map[outcome]int{}, bad: map[string]int{}, badExample: map[string]string{}, phase: "load"}
}

// run performs up to ops operations with workers concurrent callers, until
// stop (if any) is closed: then a write still being retried is given up.
func (l *load) run(ops, workers int, stop <-chan struct{}) {
	l.quit = stop
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if int(l.issued.Add(1)) > ops {
					return
				}
				l.step()
				l.finished.Add(1)
			}
		}()
	}
	wg.Wait()
}

// plan is one operation, chosen under l.mu.
type plan struct {
	method string
	ev     *logical
	title  *string
	when   *span
}

func (l *load) choose() plan {
	l.mu.Lock()
	defer l.mu.Unlock()
	var live []*logical
	for _, ev := range l.evs {
		if ev.created == acked && ev.deleted == notDone && !ev.busy {
			live = append(live, ev)
		}
	}
	r := l.rng.Float64()
	if len(live) == 0 || r < 0.45 {
		n := len(l.evs)
		ev := &logical{tag: fmt.Sprintf("chaos-%04d", n), grant: l.h.zoomGrants[n%len(l.h.zoomGrants)], busy: true}
		l.evs = append(l.evs, ev)
		title, when := ev.tag+" v0", span{l.base + int64(n)*1800, l.base + int64(n)*1800 + 1800}
		return plan{method: http.MethodPost, ev: ev, title: &title, when: &when}
	}
	ev := live[l.rng.IntN(len(live))]
	ev.busy = true
	if r < 0.8 {
		p := plan{method: http.MethodPut, ev: ev}
		switch l.rng.IntN(3) {
		case 0, 2:
			ev.version++
			title := fmt.Sprintf("%s v%d", ev.tag, ev.version)
			p.title = &title
		}
		if p.title == nil || l.rng.IntN(2) == 0 {
			start := ev.when.acked.start - ev.when.acked.start%86400 + int64(l.rng.IntN(96))*900
			when := span{start, start + int64(1+l.rng.IntN(4))*900}
			p.when = &when
		}
		return p
	}
	return plan{method: http.MethodDelete, ev: ev}
}

func (l *load) step() {
	p := l.choose()
	ev := p.ev
	events := "/v3/grants/" + l.h.cal + "/events"
	var o outcome
	switch p.method {
	case http.MethodPost:
		body, _ := json.Marshal(map[string]any{"title": *p.title, "when": map[string]any{"start_time": p.when.start, "end_time": p.when.end},
			"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": ev.grant}}})
		var a answer
		a, o = l.call(p.method, events+"?calendar_id=primary", body, uuid.NewString())
		ev.created = o
		if o == acked {
			var e apiEvent
			_ = json.Unmarshal(a.data, &e)
			ev.id, ev.meeting = e.ID, e.meetingCode()
		}
	case http.MethodPut:
		body := map[string]any{}
		if p.title != nil {
			body["title"] = *p.title
		}
		if p.when != nil {
			body["when"] = map[string]any{"start_time": p.when.start, "end_time": p.when.end}
		}
		raw, _ := json.Marshal(body)
		_, o = l.call(p.method, events+"/"+ev.id, raw, "")
	case http.MethodDelete:
		_, o = l.call(p.method, events+"/"+ev.id, nil, "")
		ev.deleted = o
	}
	if p.title != nil {
		ev.title.settle(*p.title, o)
	}
	if p.when != nil {
		ev.when.settle(*p.when, o)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.busy = false
	if l.outcomes[p.method] == nil {
		l.outcomes[p.method] = map[outcome]int{}
	}
	l.outcomes[p.method][o]++
	if o == acked {
		l.ackedOps.Add(1)
	}
}

// call sends a write until it is acknowledged or refused, at most
// maxAttempts times, moving to the other process after a failure. Creates
// carry the same Idempotency-Key and body on every try; a DELETE answered
// 404 after a try whose answer was lost is done.
func (l *load) call(method, path string, body []byte, idemKey string) (answer, outcome) {
	var last *child
	var a answer
	mayHaveApplied := false
	for attempt := 1; ; attempt++ {
		if c := l.h.pick(last); c != nil {
			a = l.h.send(c, method, path, body, idemKey)
			afterLoss := method == http.MethodDelete && a.status == http.StatusNotFound && mayHaveApplied
			l.note(method, a, afterLoss)
			switch {
			case a.err == nil && a.status < 300, afterLoss:
				return a, acked
			case a.err == nil && a.status < 500 && a.status != http.StatusTooManyRequests &&
				!(a.status == http.StatusConflict && method == http.MethodPut): // "busy with another update"
				return a, rejected
			}
			mayHaveApplied, last = true, c
		}
		if attempt == maxAttempts {
			return a, unacked
		}
		select {
		case <-l.quit:
			return a, unacked
		case <-time.After(backoff(attempt, a.retryAfter)):
		}
	}
}

// backoff before the next try: what Retry-After asks (up to 5 s), else
// exponential from 100 ms to 2 s.
func backoff(attempt int, retryAfter string) time.Duration {
	if s, err := strconv.Atoi(retryAfter); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, 5*time.Second)
	}
	return min(100*time.Millisecond<<(attempt-1), 2*time.Second)
}

func (l *load) note(method string, a answer, afterLoss bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	class := a.class()
	if afterLoss {
		class = "404 after a lost answer"
	}
	if l.tally[method] == nil {
		l.tally[method] = map[string]int{}
	}
	l.tally[method][class]++
	l.maxTook = max(l.maxTook, a.took)
	if a.took > answerBound {
		l.slow++
	}
	if class != "2xx" && class != "503+Retry-After" && !afterLoss && !a.killed {
		key := fmt.Sprintf("%s: %s %s", l.phase, method, class)
		l.bad[key]++
		if _, ok := l.badExample[key]; !ok {
			ex := fmt.Sprintf("after %v", a.took.Round(time.Millisecond))
			if a.err != nil {
				ex += ": " + a.err.Error()
			} else {
				ex += ": " + a.excerpt()
			}
			l.badExample[key] = ex
		}
	}
}

// summary is the load's tallies in a line each.
func (l *load) summary() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		o := l.outcomes[m]
		out = append(out, fmt.Sprintf("%-6s %d acknowledged, %d unacknowledged, %d refused; answers %s", m,
			o[acked], o[unacked], o[rejected], counts(l.tally[m])))
	}
	out = append(out, fmt.Sprintf("slowest answer %v; answers past %v: %d", l.maxTook.Round(time.Millisecond), answerBound, l.slow))
	return out
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// apiEvent is what the checks read of an event.
type apiEvent struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	When  struct {
		Start int64 `json:"start_time"`
		End   int64 `json:"end_time"`
	} `json:"when"`
	Conferencing *struct {
		Details *struct {
			MeetingCode string `json:"meeting_code"`
		} `json:"details"`
	} `json:"conferencing"`
}

func (e apiEvent) meetingCode() string {
	if e.Conferencing == nil || e.Conferencing.Details == nil {
		return ""
	}
	return e.Conferencing.Details.MeetingCode
}

func tagOf(title string) string {
	tag, _, _ := strings.Cut(title, " ")
	return tag
}

// snapshot is what confhub and the simulator hold at one moment.
type snapshot struct {
	events   []apiEvent
	meetings []simMeeting
	orphans  map[string]bool // meeting ids on the orphan lists
}

// getData GETs path from a serve process that is up and decodes its data.
func (h *harness) getData(path string, out any) (string, error) {
	c := h.pick(nil)
	if c == nil {
		return "", errors.New("no serve process is up")
	}
	a := h.send(c, http.MethodGet, path, nil, "")
	if a.err != nil || a.status != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s %s", path, a.class(), a.excerpt())
	}
	var env struct {
		NextCursor *string `json:"next_cursor"`
	}
	_ = json.Unmarshal(a.body, &env)
	next := ""
	if env.NextCursor != nil {
		next = *env.NextCursor
	}
	return next, json.Unmarshal(a.data, out)
}

func (h *harness) snapshot() (snapshot, error) {
	s := snapshot{orphans: map[string]bool{}}
	for page := ""; ; {
		var evs []apiEvent
		next, err := h.getData("/v3/grants/"+h.cal+"/events?calendar_id=primary&limit=200&page_token="+url.QueryEscape(page), &evs)
		if err != nil {
			return s, err
		}
		s.events = append(s.events, evs...)
		if next == "" {
			break
		}
		page = next
	}
	for _, g := range h.zoomGrants {
		var list []struct {
			MeetingID string `json:"meeting_id"`
		}
		if _, err := h.getData("/v3/grants/"+g+"/conferencing/orphans", &list); err != nil {
			return s, err
		}
		for _, o := range list {
			s.orphans[o.MeetingID] = true
		}
	}
	s.meetings = simMeetings(h.t, h.simURL)
	return s, nil
}

// figures are the chaos test's findings; all zero is a pass.
type figures struct {
	lost        int // acknowledged writes not (or no longer) in the event
	disagree    int // events whose meeting is missing or shows other values
	dupMeetings int // meetings beyond one per event (not on the orphan list)
	dupEvents   int // events beyond one per create
	untracked   int // meetings on no event and not on the orphan list
	deletesLeft int // acknowledged deletes whose meeting is still there, unlisted
	orphans     int // on the orphan list (allowed: tracked)
	running     int // event workflows still running: the state may yet change
	err         error
	notes       []string
}

func (f figures) zero() bool {
	return f.err == nil && f.lost+f.disagree+f.dupMeetings+f.dupEvents+f.untracked+f.deletesLeft+f.running == 0
}

func (f *figures) notef(format string, args ...any) {
	if len(f.notes) < 12 {
		f.notes = append(f.notes, fmt.Sprintf(format, args...))
	}
}

func (f figures) lines() []string {
	out := []string{
		fmt.Sprintf("lost acknowledged writes: %d", f.lost),
		fmt.Sprintf("event/meeting disagreements: %d", f.disagree),
		fmt.Sprintf("duplicates: %d (meetings %d, events %d)", f.dupMeetings+f.dupEvents, f.dupMeetings, f.dupEvents),
		fmt.Sprintf("untracked meetings: %d", f.untracked),
		fmt.Sprintf("acknowledged deletes whose meeting is neither removed nor listed: %d", f.deletesLeft),
		fmt.Sprintf("orphans listed: %d", f.orphans),
	}
	if f.running > 0 {
		out = append(out, fmt.Sprintf("event workflows still running: %d", f.running))
	}
	if f.err != nil {
		out = append(out, "could not read the state: "+f.err.Error())
	}
	for _, n := range f.notes {
		out = append(out, "  "+n)
	}
	return out
}

// check compares the client's record with a snapshot.
func check(s snapshot, evs []*logical) figures {
	f := figures{orphans: len(s.orphans)}
	meetings := map[string]simMeeting{}
	perTag := map[string]int{}
	for _, m := range s.meetings {
		id := strconv.FormatInt(m.ID, 10)
		meetings[id] = m
		if !s.orphans[id] {
			perTag[tagOf(m.Topic)]++
		}
	}
	byID := map[string]apiEvent{}
	owned := map[string]bool{}
	eventsPerTag := map[string]int{}
	for _, e := range s.events {
		byID[e.ID] = e
		eventsPerTag[tagOf(e.Title)]++
		code := e.meetingCode()
		owned[code] = true
		m, ok := meetings[code]
		minutes := int((e.When.End - e.When.Start + 59) / 60)
		start := time.Unix(e.When.Start, 0).UTC().Format("2006-01-02T15:04:05Z")
		switch {
		case !ok:
			f.disagree++
			f.notef("event %s (%q) names meeting %q, which the simulator does not have", e.ID, e.Title, code)
		case m.Topic != e.Title || m.StartTime != start || m.Duration != minutes:
			f.disagree++
			f.notef("event %s is %q at %s for %d min; its meeting %s is %q at %s for %d min", e.ID, e.Title, start, minutes, code, m.Topic, m.StartTime, m.Duration)
		}
	}
	for tag, n := range eventsPerTag {
		if n > 1 {
			f.dupEvents += n - 1
			f.notef("%d events for one create (%s)", n, tag)
		}
	}
	for tag, n := range perTag {
		if n > 1 {
			f.dupMeetings += n - 1
			f.notef("%d meetings for %s", n, tag)
		}
	}
	for id, m := range meetings {
		if !owned[id] && !s.orphans[id] {
			f.untracked++
			f.notef("meeting %s (%q) is on no event and not on the orphan list", id, m.Topic)
		}
	}
	for _, ev := range evs {
		if ev.created != acked {
			continue // never acknowledged: it may exist or not, and is held to the rules above if it does
		}
		e, exists := byID[ev.id]
		switch {
		case ev.deleted == acked && exists:
			f.lost++
			f.notef("%s: deleted (acknowledged) but still there as %q with meeting %q (the acknowledged create named %q)", ev.tag, e.Title, e.meetingCode(), ev.meeting)
		case ev.deleted == notDone && !exists:
			f.lost++
			f.notef("%s: acknowledged, never deleted, and gone", ev.tag)
		case exists && !ev.title.allows(e.Title):
			f.lost++
			f.notef("%s: title %q, acknowledged %q (unacknowledged after it: %q)", ev.tag, e.Title, ev.title.acked, ev.title.later)
		case exists && !ev.when.allows(span{e.When.Start, e.When.End}):
			f.lost++
			f.notef("%s: time %d-%d, acknowledged %v (unacknowledged after it: %v)", ev.tag, e.When.Start, e.When.End, ev.when.acked, ev.when.later)
		}
		if _, there := meetings[ev.meeting]; ev.deleted == acked && there && !s.orphans[ev.meeting] {
			f.deletesLeft++
			f.notef("%s: deleted (acknowledged); its meeting %s is still at Zoom and not on the orphan list", ev.tag, ev.meeting)
		}
	}
	return f
}

// eventWorkflows are the workflows that change events and meetings.
const eventWorkflows = "WorkflowType IN ('CreateEvent', 'UpdateEvent', 'DeleteMeeting')"

// settle waits until the figures are all zero with no event workflow left
// running (one taken over from a killed worker may still change things),
// or until settleWithin has passed; it returns the last figures and how
// long it waited.
func (h *harness) settle(l *load) (figures, time.Duration) {
	start := time.Now()
	var f figures
	eventually(settleWithin, func() bool {
		s, err := h.snapshot()
		if err != nil {
			f.err = err
			return false
		}
		f = check(s, l.evs)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := h.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default",
			Query: "ExecutionStatus = 'Running' AND " + eventWorkflows})
		if err != nil {
			f.err = fmt.Errorf("counting running workflows: %w", err)
			return false
		}
		f.running = int(n.GetCount())
		return f.zero()
	})
	return f, time.Since(start)
}
