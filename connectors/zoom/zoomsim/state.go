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

// Roles of a user in their account. The owner is an admin too.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// User is a simulated Zoom user, as POST /_sim/users answers.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	AccountID string    `json:"account_id"`
	Plan      string    `json:"plan"`
	Role      string    `json:"role"` // owner, admin or member
	PMI       int64     `json:"-"`
	Created   time.Time `json:"-"`
}

// isAdmin: may install admin-managed apps for the account.
func (u *User) isAdmin() bool { return u.Role == RoleOwner || u.Role == RoleAdmin }

type app struct {
	AppSpec
	webhookValidated bool
	deactivated      bool
}

// serverToServer: an app of one account that gets account_credentials tokens.
func (a *app) serverToServer() bool { return a.AccountID != "" }

type authCode struct {
	clientID, redirectURI, userID string
	challenge                     string
	account                       bool // an admin's consent to an admin-managed app
	expires                       time.Time
}

// tokenInfo is what an access or refresh token stands for. A token with
// account set acts for every user of accountID: a server-to-server token
// (no user) or an admin's install of an admin-managed app (userID is the
// admin, whom "me" names).
type tokenInfo struct {
	clientID  string
	userID    string
	accountID string
	account   bool
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
	// accountTokens counts account_credentials requests per client id.
	accountTokens map[string]int
	faults        Faults
	qps           map[string]*window
	daily         map[string]*dayCount
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
		accountTokens: map[string]int{}, qps: map[string]*window{}, daily: map[string]*dayCount{},
	}
}

// AddApp registers (or replaces, active again) a Zoom app.
func (s *Sim) AddApp(a AppSpec) error {
	if a.ClientID == "" || a.ClientSecret == "" {
		return errors.New("client_id and client_secret are required")
	}
	s.mu.Lock()
	if err := s.st.checkApp(a); err != nil {
		s.mu.Unlock()
		return err
	}
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

// checkApp refuses app kinds Zoom does not let anyone build.
func (st *state) checkApp(a AppSpec) error {
	if a.AccountID == "" {
		return nil
	}
	switch {
	case a.AccountLevel:
		return errors.New("account_level is for OAuth apps; account_id already makes a server-to-server app of that account")
	case !st.accountExists(a.AccountID):
		return fmt.Errorf("account_id: no user belongs to account %q", a.AccountID)
	case len(a.RedirectURIs) > 0:
		return errors.New("redirect_uris: a server-to-server app has none (no user consents to it)")
	case len(a.Scopes) == 0:
		return errors.New("scopes: a server-to-server app needs at least one (Zoom does not activate it without)")
	}
	for _, sc := range a.Scopes {
		if !strings.HasSuffix(sc, ":admin") && !strings.HasSuffix(sc, ":master") {
			return fmt.Errorf("scopes: %q is not an :admin or :master scope, the only kinds a server-to-server app has", sc)
		}
	}
	return nil
}

func (st *state) accountExists(accountID string) bool {
	for _, u := range st.users {
		if u.AccountID == accountID {
			return true
		}
	}
	return false
}

// AddUser creates a Zoom user in an account of its own, or in AccountID
// (whose first user becomes its owner).
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
	if u.Role != "" && u.Role != RoleAdmin && u.Role != RoleMember {
		return User{}, fmt.Errorf("role must be admin or member, got %q", u.Role)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.st.users {
		if x.Email == email {
			return User{}, fmt.Errorf("a user with email %s exists", email)
		}
		if u.ID != "" && x.ID == u.ID {
			return User{}, fmt.Errorf("a user with id %s exists", u.ID)
		}
	}
	user := &User{ID: u.ID, Email: email, AccountID: u.AccountID, Plan: u.Plan, Created: s.opts.Now().UTC()}
	if user.ID == "" {
		user.ID = zoomID()
	}
	if user.AccountID == "" {
		user.AccountID = zoomID()
	}
	switch {
	case !s.st.accountExists(user.AccountID) && u.Role == RoleMember:
		return User{}, fmt.Errorf("role: the first user of account %s is its owner, not a member", user.AccountID)
	case !s.st.accountExists(user.AccountID):
		user.Role = RoleOwner
	case u.Role == RoleAdmin:
		user.Role = RoleAdmin
	default:
		user.Role = RoleMember
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

// issue grants a fresh access and refresh token for a user's grant (a user
// app's, or an admin's install of an admin-managed app). Only the newest
// tokens of a grant work: issuing new ones kills the previous access token
// and refresh token (shared/reference/zoom.md, "OAuth").
func (s *Sim) issue(t tokenInfo) (access, refresh string) {
	key := grantKey{t.userID, t.clientID}
	if old, ok := s.st.current[key]; ok {
		delete(s.st.access, old[0])
		delete(s.st.refresh, old[1])
	}
	access, refresh = opaqueToken(), opaqueToken()
	at, rt := t, t
	at.expires, rt.expires = s.opts.Now().Add(s.opts.TokenTTL), time.Time{}
	s.st.access[access], s.st.refresh[refresh] = &at, &rt
	s.st.current[key] = [2]string{access, refresh}
	return access, refresh
}

// issueAccount grants a server-to-server app an account token. It has no
// refresh token, and it does not supersede the app's earlier tokens: Zoom
// has let several be valid at once since its "multiple access tokens"
// change for server-to-server apps.
func (s *Sim) issueAccount(a *app) string {
	access := opaqueToken()
	s.st.access[access] = &tokenInfo{clientID: a.ClientID, accountID: a.AccountID, account: true, scopes: a.Scopes,
		expires: s.opts.Now().Add(s.opts.AccountTokenTTL)}
	return access
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
