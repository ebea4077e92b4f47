package zoomsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const codeTTL = 5 * time.Minute

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Authorize app - Zoom simulator</title></head>
<body>
<h1>Authorize {{.ClientID}}</h1>
<p>This app would like to: {{range .Scopes}}<code>{{.}}</code> {{end}}</p>
{{if .Error}}<p role="alert" id="error">{{.Error}}</p>{{end}}
<form method="POST" action="/oauth/authorize?{{.Query}}">
  <label>Email <input type="email" name="email" id="email" required autocomplete="email"></label>
  <button type="submit" name="action" value="allow" id="authorize">Authorize</button>
  <button type="submit" name="action" value="deny" id="decline" formnovalidate>Decline</button>
</form>
</body></html>
`))

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Error - Zoom simulator</title></head>
<body><h1>Oops! We were unable to complete your request.</h1><p id="error">{{.}}</p></body></html>
`))

// checkAuthorizeQuery validates the authorize request; a failure is shown as
// an error page, never as a redirect (the redirect URI is not trusted yet).
func (s *Sim) checkAuthorizeQuery(q url.Values) (*app, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.apps[q.Get("client_id")]
	switch {
	case a == nil || a.serverToServer():
		// A server-to-server app is no OAuth client: nobody consents to it.
		return nil, "Invalid client_id: " + q.Get("client_id")
	case a.deactivated:
		return nil, "The app has been disabled."
	case q.Get("response_type") != "code":
		return nil, "Unsupported response_type: " + q.Get("response_type")
	case !slices.Contains(a.RedirectURIs, q.Get("redirect_uri")):
		return nil, "Invalid redirect: " + q.Get("redirect_uri")
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		return nil, "Invalid code_challenge_method"
	}
	return a, ""
}

func (s *Sim) authorizePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a, problem := s.checkAuthorizeQuery(q)
	if problem != "" {
		writeErrorPage(w, problem)
		return
	}
	renderConsent(w, http.StatusOK, a, r.URL.RawQuery, "")
}

func writeErrorPage(w http.ResponseWriter, problem string) {
	writePage(w, http.StatusBadRequest, problem)
}

func writePage(w http.ResponseWriter, status int, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, problem)
}

func renderConsent(w http.ResponseWriter, status int, a *app, rawQuery, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = consentPage.Execute(w, map[string]any{
		"ClientID": a.ClientID, "Scopes": a.Scopes, "Query": template.URL(rawQuery), "Error": problem,
	})
}

func (s *Sim) authorizeSubmit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a, problem := s.checkAuthorizeQuery(q)
	if problem != "" {
		writeErrorPage(w, problem)
		return
	}
	_ = r.ParseForm()
	back, _ := url.Parse(q.Get("redirect_uri"))
	params := back.Query()
	if st := q.Get("state"); st != "" {
		params.Set("state", st)
	}
	if r.PostForm.Get("action") == "deny" {
		params.Set("error", "access_denied")
		back.RawQuery = params.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
		return
	}
	s.mu.Lock()
	u := s.st.userByEmail(r.PostForm.Get("email"))
	if u == nil {
		s.mu.Unlock()
		renderConsent(w, http.StatusOK, a, r.URL.RawQuery, "No Zoom account uses that email address.")
		return
	}
	if a.AccountLevel && !u.isAdmin() {
		// Zoom stops a member at its own page: the app is not told (no
		// redirect), as nothing was decided that the app could act on.
		s.mu.Unlock()
		writePage(w, http.StatusForbidden, "This app can only be installed by an owner or admin of your Zoom account. Ask your account admin to install it.")
		return
	}
	code := randString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32)
	s.st.codes[code] = &authCode{clientID: a.ClientID, redirectURI: q.Get("redirect_uri"), userID: u.ID,
		challenge: q.Get("code_challenge"), account: a.AccountLevel, expires: s.opts.Now().Add(codeTTL)}
	s.mu.Unlock()
	params.Set("code", code)
	back.RawQuery = params.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// clientAuth checks the Basic header against the registered apps.
func (s *Sim) clientAuth(r *http.Request) *app {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return nil
	}
	a := s.st.apps[id]
	if a == nil || subtle.ConstantTimeCompare([]byte(a.ClientSecret), []byte(secret)) != 1 {
		return nil
	}
	return a
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	APIURL       string `json:"api_url"`
}

func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	grant := f.Get("grant_type")
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.clientAuth(r)
	if a == nil {
		// The one report of a refused server-to-server request shows 400;
		// user apps keep the 401 this simulator always gave. Clients must
		// read "error", not the status.
		status := http.StatusUnauthorized
		if grant == "account_credentials" {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, oauthErr{Reason: "Invalid client_id or client_secret", Error: "invalid_client"})
		return
	}
	switch grant {
	case "refresh_token":
		s.st.refreshes[a.ClientID]++
	case "account_credentials":
		s.st.accountTokens[a.ClientID]++
	}
	if a.deactivated {
		writeJSON(w, http.StatusBadRequest, oauthErr{Reason: "The app has been disabled", Error: "invalid_client"})
		return
	}
	now := s.opts.Now()
	var access, refresh string
	var scopes []string
	ttl := s.opts.TokenTTL
	switch {
	case grant == "authorization_code" && !a.serverToServer():
		c := s.st.codes[f.Get("code")]
		if c == nil || c.clientID != a.ClientID || now.After(c.expires) {
			writeJSON(w, http.StatusBadRequest, oauthErr{Reason: "Invalid authorization code " + f.Get("code"), Error: "invalid_request"})
			return
		}
		if c.redirectURI != f.Get("redirect_uri") {
			writeJSON(w, http.StatusBadRequest, oauthErr{Reason: "Redirect URI mismatch.", Error: "invalid_request"})
			return
		}
		if c.challenge != "" {
			sum := sha256.Sum256([]byte(f.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
				delete(s.st.codes, f.Get("code"))
				writeJSON(w, http.StatusBadRequest, oauthErr{Reason: "Invalid code_verifier", Error: "invalid_request"})
				return
			}
		}
		delete(s.st.codes, f.Get("code")) // single use
		u := s.st.users[c.userID]
		scopes = a.Scopes
		access, refresh = s.issue(tokenInfo{clientID: a.ClientID, userID: u.ID, accountID: u.AccountID, account: c.account, scopes: scopes})
	case grant == "refresh_token" && !a.serverToServer():
		t := s.st.refresh[f.Get("refresh_token")]
		if t == nil || t.clientID != a.ClientID {
			// Used, superseded, revoked or unknown: Zoom does not say which.
			writeJSON(w, http.StatusBadRequest, oauthErr{Reason: "Invalid Token!", Error: "invalid_grant"})
			return
		}
		scopes = t.scopes
		access, refresh = s.issue(*t)
	case grant == "account_credentials" && a.serverToServer():
		if f.Get("account_id") != a.AccountID {
			// Another account's id is as unknown to the app as a made-up one.
			writeJSON(w, http.StatusBadRequest, oauthErr{Reason: "Invalid account_id", Error: "invalid_request"})
			return
		}
		scopes, ttl = a.Scopes, s.opts.AccountTokenTTL
		access = s.issueAccount(a)
	default:
		// Also a grant the app's kind does not have: account_credentials
		// for an OAuth app, a code or refresh token for a server-to-server app.
		writeJSON(w, http.StatusBadRequest, oauthErr{Reason: "Unsupported grant type", Error: "unsupported_grant_type"})
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: access, TokenType: "bearer", RefreshToken: refresh,
		ExpiresIn: int(ttl / time.Second), Scope: strings.Join(scopes, " "), APIURL: "http://" + r.Host,
	})
}

func (s *Sim) revoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	a := s.clientAuth(r)
	if a == nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, oauthErr{Reason: "Invalid client_id or client_secret", Error: "invalid_client"})
		return
	}
	tok := r.PostForm.Get("token")
	t := s.st.access[tok]
	if t == nil {
		t = s.st.refresh[tok]
	}
	if t == nil || t.clientID != a.ClientID {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, oauthErr{Reason: "Invalid Token!", Error: "invalid_request"})
		return
	}
	var u *User
	if t.userID != "" {
		u = s.st.users[t.userID]
		s.st.revokeGrant(t.userID, a.ClientID)
	} else {
		delete(s.st.access, tok)
	}
	s.mu.Unlock()
	if u != nil {
		s.sendDeauthorized(a.ClientID, *u)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
}
