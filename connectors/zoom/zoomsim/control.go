package zoomsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Faults is the body of PUT /_sim/faults.
type Faults struct {
	LatencyMS int                `json:"latency_ms"`
	Ops       map[string]OpFault `json:"ops"`
}

// OpFault injects failures into one op. ErrorRate answers ErrorStatus before
// any effect; DropRate lets the call take effect and then closes the
// connection without an answer: the fault that makes naive retries duplicate.
type OpFault struct {
	ErrorRate   float64 `json:"error_rate"`
	ErrorStatus int     `json:"error_status"`
	DropRate    float64 `json:"drop_rate"`
}

var knownOps = []string{OpAuthorize, OpToken, OpRevoke, OpUsersMe, OpCreateMeeting, OpGetMeeting, OpUpdateMeeting, OpDeleteMeeting, OpListMeetings}

func ctlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func decodeCtl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		ctlError(w, http.StatusBadRequest, "invalid body: "+err.Error())
		return false
	}
	return true
}

func (s *Sim) ctlCreateApp(w http.ResponseWriter, r *http.Request) {
	var a AppSpec
	if !decodeCtl(w, r, &a) {
		return
	}
	if err := s.AddApp(a); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"client_id": a.ClientID, "redirect_uris": a.RedirectURIs, "scopes": a.Scopes,
		"webhook_url": a.WebhookURL, "account_id": a.AccountID, "account_level": a.AccountLevel})
}

// ErrAppNotFound: no app has that client id.
var ErrAppNotFound = errors.New("zoomsim: no such app")

// DeactivateApp deactivates an app, as its developer (or Zoom) does in the
// Marketplace: from now on its token requests are refused with
// 400 {"reason":"The app has been disabled","error":"invalid_client"}, its
// consent page shows an error, its access tokens answer 401 code 124 and
// it gets no events. Access tokens issued before stay dead even if the
// client id is registered again (AddApp makes it active anew).
func (s *Sim) DeactivateApp(clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.apps[clientID]
	if a == nil {
		return fmt.Errorf("%w: %q", ErrAppNotFound, clientID)
	}
	a.deactivated = true
	for tok, t := range s.st.access {
		if t.clientID == clientID {
			delete(s.st.access, tok)
		}
	}
	return nil
}

func (s *Sim) ctlDeactivateApp(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("client_id")
	if err := s.DeactivateApp(id); err != nil {
		ctlError(w, http.StatusNotFound, "unknown client_id "+strconv.Quote(id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"client_id": id, "status": "deactivated"})
}

func (s *Sim) ctlCreateUser(w http.ResponseWriter, r *http.Request) {
	var u UserSpec
	if !decodeCtl(w, r, &u) {
		return
	}
	created, err := s.AddUser(UserSpec{Email: u.Email, Plan: u.Plan, AccountID: u.AccountID, Role: u.Role})
	if err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": created.ID, "email": created.Email, "account_id": created.AccountID, "role": created.Role})
}

// ctlDeauthorize acts as the user removing the app in Zoom: the tokens die
// and the app gets app_deauthorized.
func (s *Sim) ctlDeauthorize(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ClientID string `json:"client_id"`
	}
	if !decodeCtl(w, r, &body) {
		return
	}
	s.mu.Lock()
	u := s.st.users[r.PathValue("id")]
	a := s.st.apps[body.ClientID]
	if u == nil || a == nil {
		s.mu.Unlock()
		ctlError(w, http.StatusNotFound, "unknown user or client_id")
		return
	}
	s.st.revokeGrant(u.ID, a.ClientID)
	user := *u
	s.mu.Unlock()
	s.sendDeauthorized(body.ClientID, user)
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "sent"})
}

func (s *Sim) ctlMeetings(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ms := make([]*meeting, 0, len(s.st.meetings))
	for _, m := range s.st.meetings {
		ms = append(ms, m)
	}
	s.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool {
		return ms[i].Created.Before(ms[j].Created) || (ms[i].Created.Equal(ms[j].Created) && ms[i].ID < ms[j].ID)
	})
	out := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.render("http://"+r.Host))
	}
	writeJSON(w, http.StatusOK, map[string]any{"meetings": out})
}

// Stats is the body of GET /_sim/stats.
type Stats struct {
	Calls     map[string]map[string]int `json:"calls"`
	Refreshes map[string]int            `json:"refreshes"`
	// AccountTokens counts every account_credentials request per client id
	// whose client credentials were right, refused ones too.
	AccountTokens map[string]int `json:"account_tokens"`
}

// Stats returns a copy of the call counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Calls: map[string]map[string]int{}, Refreshes: map[string]int{}, AccountTokens: maps.Clone(s.st.accountTokens)}
	for op, m := range s.st.calls {
		out.Calls[op] = map[string]int{}
		for k, v := range m {
			out.Calls[op][k] = v
		}
	}
	for k, v := range s.st.refreshes {
		out.Refreshes[k] = v
	}
	return out
}

func (s *Sim) ctlStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// SetFaults replaces the fault configuration.
func (s *Sim) SetFaults(f Faults) error {
	for op, of := range f.Ops {
		known := false
		for _, k := range knownOps {
			known = known || k == op
		}
		if !known {
			return errUnknownOp(op)
		}
		if of.ErrorRate < 0 || of.ErrorRate > 1 || of.DropRate < 0 || of.DropRate > 1 {
			return errRate(op)
		}
		if of.ErrorStatus != 0 && (of.ErrorStatus < 400 || of.ErrorStatus > 599) {
			return errStatus(op)
		}
	}
	if f.LatencyMS < 0 {
		return errLatency{}
	}
	s.mu.Lock()
	s.st.faults = f
	s.mu.Unlock()
	return nil
}

type errUnknownOp string

func (e errUnknownOp) Error() string { return "unknown op " + string(e) }

type errRate string

func (e errRate) Error() string { return string(e) + ": rates must be between 0 and 1" }

type errStatus string

func (e errStatus) Error() string { return string(e) + ": error_status must be 4xx or 5xx" }

type errLatency struct{}

func (errLatency) Error() string { return "latency_ms must not be negative" }

func (s *Sim) ctlFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if !decodeCtl(w, r, &f) {
		return
	}
	if err := s.SetFaults(f); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Sim) ctlReset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	writeJSON(w, http.StatusOK, map[string]string{"status": "reset"})
}

// HostPatch is a change the host makes to a meeting in Zoom's own app or web
// portal (PATCH /_sim/meetings/{id}, UpdateMeetingAsHost). Nil fields stay
// as they are.
type HostPatch struct {
	Topic     *string
	StartTime *time.Time
	Duration  *int // minutes
	Timezone  *string
	Agenda    *string
}

var (
	// ErrMeetingNotFound: no meeting has that id.
	ErrMeetingNotFound = errors.New("zoomsim: no such meeting")
	// ErrInvalidPatch: Zoom would refuse the change; the error names the fields.
	ErrInvalidPatch = errors.New("zoomsim: invalid meeting change")
)

// UpdateMeetingAsHost changes a meeting as its host would in Zoom itself.
// Zoom's validation applies, as on PATCH /v2/meetings/{id}; tokens, rate
// limits, daily limits and faults do not, since no app made the call. The
// apps the host authorized get meeting.updated if something changed.
func (s *Sim) UpdateMeetingAsHost(id int64, p HostPatch) error {
	in := map[string]any{}
	if p.Topic != nil {
		in["topic"] = *p.Topic
	}
	if p.StartTime != nil {
		in["start_time"] = p.StartTime.UTC().Format(zoomTime)
	}
	if p.Duration != nil {
		in["duration"] = json.Number(strconv.Itoa(*p.Duration)) // as the REST body decodes it
	}
	if p.Timezone != nil {
		in["timezone"] = *p.Timezone
	}
	if p.Agenda != nil {
		in["agenda"] = *p.Agenda
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.st.meetings[id]
	if m == nil {
		return fmt.Errorf("%w: %d", ErrMeetingNotFound, id)
	}
	updated := m.clone()
	if errs := s.applyMeeting(updated, in, false); errs != nil {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Field + ": " + e.Message
		}
		return fmt.Errorf("%w: %s", ErrInvalidPatch, strings.Join(msgs, "; "))
	}
	s.st.meetings[id] = updated
	s.meetingUpdated(m, updated, s.st.users[m.HostID])
	return nil
}

// DeleteMeetingAsHost deletes a meeting as its host would in Zoom itself:
// no token, limit or fault applies; the apps the host authorized get
// meeting.deleted.
func (s *Sim) DeleteMeetingAsHost(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.st.meetings[id]
	if m == nil {
		return fmt.Errorf("%w: %d", ErrMeetingNotFound, id)
	}
	delete(s.st.meetings, id)
	s.meetingDeleted(m, s.st.users[m.HostID])
	return nil
}

func ctlMeetingID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		ctlError(w, http.StatusBadRequest, "meeting id must be an integer, got "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// ctlHostAnswer maps UpdateMeetingAsHost's and DeleteMeetingAsHost's errors.
func ctlHostAnswer(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrMeetingNotFound):
		ctlError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrInvalidPatch):
		ctlError(w, http.StatusBadRequest, err.Error())
	default:
		ctlError(w, http.StatusInternalServerError, err.Error())
	}
}

// ctlUpdateMeeting is the host editing a meeting in Zoom.
func (s *Sim) ctlUpdateMeeting(w http.ResponseWriter, r *http.Request) {
	id, ok := ctlMeetingID(w, r)
	if !ok {
		return
	}
	var body struct {
		Topic     *string `json:"topic"`
		StartTime *string `json:"start_time"`
		Duration  *int    `json:"duration"`
		Timezone  *string `json:"timezone"`
		Agenda    *string `json:"agenda"`
	}
	if !decodeCtl(w, r, &body) {
		return
	}
	p := HostPatch{Topic: body.Topic, Duration: body.Duration, Timezone: body.Timezone, Agenda: body.Agenda}
	if body.StartTime != nil {
		t, err := time.Parse(time.RFC3339, *body.StartTime)
		if err != nil {
			ctlError(w, http.StatusBadRequest, "start_time must be an RFC 3339 time with a zone, got "+strconv.Quote(*body.StartTime))
			return
		}
		p.StartTime = &t
	}
	ctlHostAnswer(w, s.UpdateMeetingAsHost(id, p))
}

// ctlDeleteMeeting is the host deleting a meeting in Zoom.
func (s *Sim) ctlDeleteMeeting(w http.ResponseWriter, r *http.Request) {
	if id, ok := ctlMeetingID(w, r); ok {
		ctlHostAnswer(w, s.DeleteMeetingAsHost(id))
	}
}
