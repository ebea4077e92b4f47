package zoomsim

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// User is a simulated Zoom user, as POST /_sim/users answers.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	AccountID string    `json:"account_id"`
	Plan      string    `json:"plan"`
	PMI       int64     `json:"-"`
	Created   time.Time `json:"-"`
}

type app struct {
	AppSpec
	webhookValidated bool
}

type authCode struct {
	clientID, redirectURI, userID string
	challenge                     string
	expires                       time.Time
}

// tokenInfo is what an access or refresh token stands for. An account token
// (account_credentials) has no user.
type tokenInfo struct {
	clientID  string
	userID    string
	accountID string
	scopes    []string
	expires   time.Time // access tokens only
}

type grantKey struct{ userID, clientID string }

type state struct {
	apps      map[string]*app
	users     map[string]*User
	codes     map[string]*authCode
	access    map[string]*tokenInfo
	refresh   map[string]*tokenInfo
	current   map[grantKey][2]string // the live access and refresh token of a user's grant to an app
	meetings  map[int64]*meeting
	calls     map[string]map[string]int
	refreshes map[string]int
	faults    Faults
	qps       map[string]*window
	daily     map[string]*dayCount
}

type window struct {
	second int64
	n      int
}

type dayCount struct {
	day string
	n   int
}

func newState() *state {
	return &state{
		apps: map[string]*app{}, users: map[string]*User{}, codes: map[string]*authCode{},
		access: map[string]*tokenInfo{}, refresh: map[string]*tokenInfo{}, current: map[grantKey][2]string{},
		meetings: map[int64]*meeting{}, calls: map[string]map[string]int{}, refreshes: map[string]int{},
		qps: map[string]*window{}, daily: map[string]*dayCount{},
	}
}

// AddApp registers (or replaces) a Zoom app.
func (s *Sim) AddApp(a AppSpec) error {
	if a.ClientID == "" || a.ClientSecret == "" {
		return errors.New("client_id and client_secret are required")
	}
	s.mu.Lock()
	s.st.apps[a.ClientID] = &app{AppSpec: a}
	s.mu.Unlock()
	if a.WebhookURL != "" {
		s.webhooks.Add(1)
		go func() {
			defer s.webhooks.Done()
			s.ensureWebhookValidated(a.ClientID)
		}()
	}
	return nil
}

// AddUser creates a Zoom user in an account of its own (or in AccountID).
func (s *Sim) AddUser(u UserSpec) (User, error) {
	email := strings.ToLower(strings.TrimSpace(u.Email))
	if email == "" || !strings.Contains(email, "@") {
		return User{}, errors.New("email is required")
	}
	switch u.Plan {
	case "":
		u.Plan = "pro"
	case "basic", "pro", "business":
	default:
		return User{}, fmt.Errorf("plan must be basic, pro or business, got %q", u.Plan)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.st.users {
		if x.Email == email {
			return User{}, fmt.Errorf("a user with email %s exists", email)
		}
	}
	user := &User{ID: u.ID, Email: email, AccountID: u.AccountID, Plan: u.Plan, Created: s.opts.Now().UTC()}
	if user.ID == "" {
		user.ID = zoomID()
	}
	if user.AccountID == "" {
		user.AccountID = zoomID()
	}
	user.PMI = randInt(1_000_000_000, 9_999_999_999)
	s.st.users[user.ID] = user
	return *user, nil
}

func (st *state) userByEmail(email string) *User {
	email = strings.ToLower(strings.TrimSpace(email))
	for _, u := range st.users {
		if u.Email == email {
			return u
		}
	}
	return nil
}

// issue grants a fresh access (and, for user grants, refresh) token. Only the
// newest tokens of a user's grant work: issuing new ones kills the previous
// access token and refresh token (shared/reference/zoom.md, "OAuth").
func (s *Sim) issue(clientID, userID, accountID string, scopes []string, withRefresh bool) (access, refresh string) {
	now := s.opts.Now()
	key := grantKey{userID, clientID}
	if old, ok := s.st.current[key]; ok && userID != "" {
		delete(s.st.access, old[0])
		delete(s.st.refresh, old[1])
	}
	access = opaqueToken()
	s.st.access[access] = &tokenInfo{clientID: clientID, userID: userID, accountID: accountID, scopes: scopes, expires: now.Add(s.opts.TokenTTL)}
	if withRefresh {
		refresh = opaqueToken()
		s.st.refresh[refresh] = &tokenInfo{clientID: clientID, userID: userID, accountID: accountID, scopes: scopes}
	}
	if userID != "" {
		s.st.current[key] = [2]string{access, refresh}
	}
	return access, refresh
}

// revokeGrant kills a user's tokens for an app.
func (st *state) revokeGrant(userID, clientID string) {
	key := grantKey{userID, clientID}
	if cur, ok := st.current[key]; ok {
		delete(st.access, cur[0])
		delete(st.refresh, cur[1])
		delete(st.current, key)
	}
}

// zoomID looks like Zoom's user and account ids: 22 characters of base64url.
func zoomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func opaqueToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return "eyJ" + base64.RawURLEncoding.EncodeToString(b)
}

func randInt(lo, hi int64) int64 {
	n, _ := rand.Int(rand.Reader, big.NewInt(hi-lo+1))
	return lo + n.Int64()
}

func randString(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[randInt(0, int64(len(alphabet)-1))]
	}
	return string(b)
}
