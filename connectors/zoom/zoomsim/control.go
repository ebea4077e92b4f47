package zoomsim

import (
	"encoding/json"
	"net/http"
	"sort"
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
	writeJSON(w, http.StatusCreated, map[string]any{"client_id": a.ClientID, "redirect_uris": a.RedirectURIs, "scopes": a.Scopes, "webhook_url": a.WebhookURL})
}

func (s *Sim) ctlCreateUser(w http.ResponseWriter, r *http.Request) {
	var u UserSpec
	if !decodeCtl(w, r, &u) {
		return
	}
	created, err := s.AddUser(UserSpec{Email: u.Email, Plan: u.Plan})
	if err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": created.ID, "email": created.Email, "account_id": created.AccountID})
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
}

// Stats returns a copy of the call counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Calls: map[string]map[string]int{}, Refreshes: map[string]int{}}
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
