// Package zoomsim is an in-memory Zoom: OAuth, the Meetings REST API, rate
// limits, webhooks and fault injection, behaving as shared/reference/zoom.md
// describes the real one, never friendlier. It is an http.Handler, for tests
// (httptest) and for `confhub zoomsim`. A control API under /_sim/ sets it up
// and inspects it.
package zoomsim

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Ops name the simulated operations in stats and faults.
const (
	OpAuthorize     = "authorize"
	OpToken         = "token"
	OpRevoke        = "revoke"
	OpUsersMe       = "users_me"
	OpCreateMeeting = "create_meeting"
	OpGetMeeting    = "get_meeting"
	OpUpdateMeeting = "update_meeting"
	OpDeleteMeeting = "delete_meeting"
	OpListMeetings  = "list_meetings"
)

// Options configure a simulator.
type Options struct {
	TokenTTL   time.Duration // access-token lifetime; default 3599s
	DailyLimit int           // meeting create/update requests per user per UTC day; default 100
	Now        func() time.Time
	Log        *slog.Logger
	// WebhookClient delivers webhooks; default a client with a 3s timeout.
	WebhookClient *http.Client
	Seed          uint64 // for fault injection; 0 picks a random seed
	// AccountTokenTTL is a server-to-server (account_credentials) token's
	// lifetime; default 3600s, as Zoom answers.
	AccountTokenTTL time.Duration
}

// AppSpec registers a Zoom app (POST /_sim/apps). By default it is a
// user-managed OAuth app: each user who consents grants it access to their
// own resources.
type AppSpec struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
	Scopes       []string `json:"scopes"`
	WebhookURL   string   `json:"webhook_url"`
	SecretToken  string   `json:"secret_token"`
	// AccountID makes a Server-to-Server OAuth app of that (existing)
	// account: no consent and no redirect URIs; it gets tokens with
	// grant_type=account_credentials, and its scopes are :admin (or
	// :master) forms only, as Zoom allows for such apps.
	AccountID string `json:"account_id,omitempty"`
	// AccountLevel makes an admin-managed OAuth app: only an account's
	// owner or admin may consent, and the tokens act for every user of
	// that account.
	AccountLevel bool `json:"account_level,omitempty"`
}

// UserSpec creates a Zoom user (POST /_sim/users). ID and AccountID are
// generated when empty; users given the same AccountID share an account
// (its plan, its per-second limits, its account-level apps).
type UserSpec struct {
	ID        string `json:"id,omitempty"`
	Email     string `json:"email"`
	Plan      string `json:"plan"` // basic, pro, business
	AccountID string `json:"account_id,omitempty"`
	// Role is "admin" or "member". The first user of an account is always
	// its owner (an admin); later users are members unless "admin".
	Role string `json:"role,omitempty"`
}

// Sim is the simulator.
type Sim struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	mu       sync.Mutex
	st       *state
	rng      *rand.Rand
	preApps  []AppSpec
	preUsers []UserSpec

	webhooks sync.WaitGroup
}

// New returns an empty simulator.
func New(opts Options) *Sim {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 3599 * time.Second
	}
	if opts.AccountTokenTTL <= 0 {
		opts.AccountTokenTTL = 3600 * time.Second
	}
	if opts.DailyLimit <= 0 {
		opts.DailyLimit = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.WebhookClient == nil {
		opts.WebhookClient = &http.Client{Timeout: 3 * time.Second}
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Sim{opts: opts, log: opts.Log, st: newState(), rng: rand.New(rand.NewPCG(seed, seed^0x5a5a))}
	s.routes()
	return s
}

// Preload adds apps and users that exist from the start and survive
// POST /_sim/reset (used by `confhub zoomsim` flags). Users come first, so
// that a server-to-server app can name a preloaded user's account.
func (s *Sim) Preload(apps []AppSpec, users []UserSpec) ([]User, error) {
	var out []User
	for i, u := range users {
		created, err := s.AddUser(u)
		if err != nil {
			return nil, err
		}
		users[i].ID, users[i].AccountID = created.ID, created.AccountID // keep ids stable across resets
		out = append(out, created)
	}
	for _, a := range apps {
		if err := s.AddApp(a); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.preApps = append(s.preApps, apps...)
	s.preUsers = append(s.preUsers, users...)
	s.mu.Unlock()
	return out, nil
}

// Reset forgets everything but the preloaded apps and users.
func (s *Sim) Reset() {
	s.mu.Lock()
	s.st = newState()
	apps, users := s.preApps, s.preUsers
	s.mu.Unlock()
	for _, u := range users {
		_, _ = s.AddUser(u)
	}
	for _, a := range apps {
		_ = s.AddApp(a)
	}
}

// WaitWebhooks blocks until every webhook sent so far was delivered or failed.
func (s *Sim) WaitWebhooks() { s.webhooks.Wait() }

func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Sim) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /oauth/authorize", s.op(OpAuthorize, s.authorizePage))
	m.HandleFunc("POST /oauth/authorize", s.op(OpAuthorize, s.authorizeSubmit))
	m.HandleFunc("POST /oauth/token", s.op(OpToken, s.token))
	m.HandleFunc("POST /oauth/revoke", s.op(OpRevoke, s.revoke))

	m.HandleFunc("GET /v2/users/{userId}", s.op(OpUsersMe, s.rest(OpUsersMe, s.usersMe)))
	m.HandleFunc("POST /v2/users/{userId}/meetings", s.op(OpCreateMeeting, s.rest(OpCreateMeeting, s.createMeeting)))
	m.HandleFunc("GET /v2/users/{userId}/meetings", s.op(OpListMeetings, s.rest(OpListMeetings, s.listMeetings)))
	m.HandleFunc("GET /v2/meetings/{meetingId}", s.op(OpGetMeeting, s.rest(OpGetMeeting, s.getMeeting)))
	m.HandleFunc("PATCH /v2/meetings/{meetingId}", s.op(OpUpdateMeeting, s.rest(OpUpdateMeeting, s.updateMeeting)))
	m.HandleFunc("DELETE /v2/meetings/{meetingId}", s.op(OpDeleteMeeting, s.rest(OpDeleteMeeting, s.deleteMeeting)))

	m.HandleFunc("POST /_sim/apps", s.ctlCreateApp)
	m.HandleFunc("POST /_sim/apps/{client_id}/deactivate", s.ctlDeactivateApp)
	m.HandleFunc("POST /_sim/users", s.ctlCreateUser)
	m.HandleFunc("POST /_sim/users/{id}/deauthorize", s.ctlDeauthorize)
	m.HandleFunc("GET /_sim/meetings", s.ctlMeetings)
	// The host's own changes in Zoom: outside s.op, as no app calls them.
	m.HandleFunc("PATCH /_sim/meetings/{id}", s.ctlUpdateMeeting)
	m.HandleFunc("DELETE /_sim/meetings/{id}", s.ctlDeleteMeeting)
	m.HandleFunc("GET /_sim/stats", s.ctlStats)
	m.HandleFunc("PUT /_sim/faults", s.ctlFaults)
	m.HandleFunc("POST /_sim/reset", s.ctlReset)

	// Zoom's API answers unknown paths with its JSON error shape.
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, zoomErr{Code: 404, Message: "Not Found"})
	})
	s.mux = m
}

// op wraps a simulated operation: latency, injected errors, commit-then-drop,
// and call statistics.
func (s *Sim) op(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := s.st.faults
		of := f.Ops[name]
		inject := of.ErrorRate > 0 && s.rng.Float64() < of.ErrorRate
		drop := !inject && of.DropRate > 0 && s.rng.Float64() < of.DropRate
		s.mu.Unlock()

		if f.LatencyMS > 0 {
			select {
			case <-time.After(time.Duration(f.LatencyMS) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if inject {
			status := of.ErrorStatus
			if status == 0 {
				status = http.StatusInternalServerError
			}
			s.count(name, strconv.Itoa(status))
			if status == http.StatusTooManyRequests {
				writeQPS429(w, "Light", 0, s.opts.Now())
				return
			}
			writeJSON(w, status, zoomErr{Code: status, Message: http.StatusText(status)})
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		h(rec, r)
		if drop {
			// The operation took effect; its answer is lost with the connection.
			s.count(name, "dropped")
			panic(http.ErrAbortHandler)
		}
		s.count(name, strconv.Itoa(rec.status))
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	}
}

func (s *Sim) count(op, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.st.calls[op]
	if m == nil {
		m = map[string]int{}
		s.st.calls[op] = m
	}
	m[status]++
}

// recorder buffers a response so that a drop can discard it after the effect.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// zoomErr is Zoom's error body.
type zoomErr struct {
	Code    int          `json:"code"`
	Message string       `json:"message"`
	Errors  []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// oauthErr is the token endpoint's error body.
type oauthErr struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
