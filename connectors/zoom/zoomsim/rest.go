package zoomsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scopes that allow each operation: granular, granular admin, classic,
// classic admin. Zoom's docs list exactly these; classic meeting:write does
// not cover reading.
var opScopes = map[string][]string{
	OpUsersMe:       {"user:read:user", "user:read:user:admin", "user:read", "user:read:admin"},
	OpCreateMeeting: {"meeting:write:meeting", "meeting:write:meeting:admin", "meeting:write", "meeting:write:admin"},
	OpUpdateMeeting: {"meeting:update:meeting", "meeting:update:meeting:admin", "meeting:write", "meeting:write:admin"},
	OpDeleteMeeting: {"meeting:delete:meeting", "meeting:delete:meeting:admin", "meeting:write", "meeting:write:admin"},
	OpGetMeeting:    {"meeting:read:meeting", "meeting:read:meeting:admin", "meeting:read", "meeting:read:admin"},
	OpListMeetings:  {"meeting:read:list_meetings", "meeting:read:list_meetings:admin", "meeting:read", "meeting:read:admin"},
}

// Rate-limit labels (shared/reference/zoom.md, "Rate limits").
var opLabel = map[string]string{
	OpUsersMe: "Light", OpCreateMeeting: "Medium", OpGetMeeting: "Light",
	OpUpdateMeeting: "Light", OpDeleteMeeting: "Light", OpListMeetings: "Medium",
}

var planLimits = map[string]map[string]int{
	"basic":    {"Light": 4, "Medium": 2, "Heavy": 1},
	"pro":      {"Light": 30, "Medium": 20, "Heavy": 10},
	"business": {"Light": 80, "Medium": 60, "Heavy": 40},
}

// rest serves a REST operation under the state lock, after authentication.
func (s *Sim) rest(op string, h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c, ok := s.authenticate(w, r, op); ok {
			h(w, r, c)
		}
	}
}

// invalidField is Zoom's 300 for one bad field.
func invalidField(w http.ResponseWriter, field string) {
	writeJSON(w, http.StatusBadRequest, zoomErr{Code: 300, Message: "Invalid field.", Errors: []fieldError{{Field: field, Message: "Invalid field."}}})
}

// caller is the authenticated side of a REST call.
type caller struct {
	op   string
	tok  *tokenInfo
	user *User // the token's user ("me"); nil for server-to-server tokens
}

// authenticate checks the bearer token, the scope and the per-second limit.
// It must be called with s.mu held. On failure it has written the answer.
func (s *Sim) authenticate(w http.ResponseWriter, r *http.Request, op string) (caller, bool) {
	now := s.opts.Now()
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	t := s.st.access[bearer]
	switch {
	case !ok || bearer == "" || t == nil:
		// Also a token sent in the query string (Zoom reads only the
		// header), and a token of an app deactivated since (DeactivateApp
		// forgets them).
		writeJSON(w, http.StatusUnauthorized, zoomErr{Code: 124, Message: "Invalid access token."})
		return caller{}, false
	case now.After(t.expires):
		writeJSON(w, http.StatusUnauthorized, zoomErr{Code: 124, Message: "Access token is expired."})
		return caller{}, false
	}
	if !hasAny(t.scopes, opScopes[op]) {
		writeJSON(w, http.StatusBadRequest, zoomErr{Code: 4711,
			Message: fmt.Sprintf("Invalid access token, does not contain scopes:[%s].", strings.Join(opScopes[op], ", "))})
		return caller{}, false
	}
	c := caller{op: op, tok: t}
	if t.userID != "" {
		c.user = s.st.users[t.userID]
	}
	label := opLabel[op]
	limit := planLimits[s.st.accountPlan(t.accountID)][label]
	key := t.accountID + "|" + label
	win := s.st.qps[key]
	if win == nil || win.second != now.Unix() {
		win = &window{second: now.Unix()}
		s.st.qps[key] = win
	}
	if win.n >= limit {
		writeQPS429(w, label, limit, now)
		return caller{}, false
	}
	win.n++
	return c, true
}

// writeQPS429 is the per-account per-second 429.
func writeQPS429(w http.ResponseWriter, label string, limit int, now time.Time) {
	h := w.Header()
	h.Set("X-RateLimit-Category", label)
	h.Set("X-RateLimit-Type", "QPS")
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("Retry-After", now.Add(time.Second).UTC().Truncate(time.Second).Format(http.TimeFormat))
	writeJSON(w, http.StatusTooManyRequests, zoomErr{Code: 429, Message: "You have reached the maximum per-second rate limit for this API. Try again later."})
}

// accountPlan is the plan of an account: its owner's. A member's own plan
// (Basic or Licensed) decides what the member may host, not the account's
// rate limits.
func (st *state) accountPlan(accountID string) string {
	for _, u := range st.users {
		if u.AccountID == accountID && u.Role == RoleOwner {
			return u.Plan
		}
	}
	return "basic"
}

// spendDaily counts a create/update against the host's daily limit, which
// resets at 00:00 UTC. Zoom's headers on this 429 are unreliable: it sends
// none here, so a client has to read the message.
func (s *Sim) spendDaily(w http.ResponseWriter, hostID string) bool {
	day := s.opts.Now().UTC().Format("2006-01-02")
	d := s.st.daily[hostID]
	if d == nil || d.day != day {
		d = &dayCount{day: day}
		s.st.daily[hostID] = d
	}
	if d.n >= s.opts.DailyLimit {
		writeJSON(w, http.StatusTooManyRequests, zoomErr{Code: 429, Message: fmt.Sprintf(
			"You have exceeded the daily rate limit (%d) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00.", s.opts.DailyLimit)})
		return false
	}
	d.n++
	return true
}

// resolveUser maps a {userId} path value to a user the caller may act for.
// A user token reaches only its user. An account token reaches every user
// of its account by id or email, with an :admin scope for anyone but the
// token's own user; "me" is the installing admin, and no one for a
// server-to-server token, which has no user.
func (s *Sim) resolveUser(w http.ResponseWriter, c caller, userID string) *User {
	var u *User
	switch {
	case userID == "me":
		u = c.user
	case !c.tok.account:
		if c.user != nil && (userID == c.user.ID || strings.EqualFold(userID, c.user.Email)) {
			u = c.user
		}
	default:
		for _, x := range s.st.users {
			if x.AccountID == c.tok.accountID && (x.ID == userID || strings.EqualFold(x.Email, userID)) {
				u = x
			}
		}
	}
	if u == nil {
		writeJSON(w, http.StatusNotFound, zoomErr{Code: 1001, Message: "User does not exist: " + userID + "."})
		return nil
	}
	if !s.mayActFor(w, c, u) {
		return nil
	}
	return u
}

// mayActFor checks that an account token acting for a user other than its
// own holds an :admin form of the operation's scope (a user-level scope
// covers only one's own resources). On failure it has written the answer.
func (s *Sim) mayActFor(w http.ResponseWriter, c caller, u *User) bool {
	if c.user != nil && c.user.ID == u.ID {
		return true
	}
	var admin []string
	for _, sc := range opScopes[c.op] {
		if strings.HasSuffix(sc, ":admin") {
			admin = append(admin, sc)
		}
	}
	if hasAny(c.tok.scopes, admin) {
		return true
	}
	writeJSON(w, http.StatusBadRequest, zoomErr{Code: 4711,
		Message: fmt.Sprintf("Invalid access token, does not contain scopes:[%s].", strings.Join(admin, ", "))})
	return false
}

// visibleMeeting finds a meeting the caller may see: its host is the
// token's user, or, for an account token, a user of the token's account.
func (s *Sim) visibleMeeting(w http.ResponseWriter, c caller, raw string) *meeting {
	id, err := strconv.ParseInt(raw, 10, 64)
	m := s.st.meetings[id]
	if err == nil && m != nil {
		host := s.st.users[m.HostID]
		switch {
		case host == nil:
		case c.tok.account && host.AccountID == c.tok.accountID:
			if !s.mayActFor(w, c, host) {
				return nil
			}
			return m
		case !c.tok.account && c.user != nil && host.ID == c.user.ID:
			return m
		}
	}
	writeJSON(w, http.StatusNotFound, zoomErr{Code: 3001, Message: "Meeting " + raw + " is not found or has expired."})
	return nil
}

func (s *Sim) usersMe(w http.ResponseWriter, r *http.Request, c caller) {
	u := s.resolveUser(w, c, r.PathValue("userId"))
	if u == nil {
		return
	}
	typ := 2
	if u.Plan == "basic" {
		typ = 1
	}
	first, _, _ := strings.Cut(u.Email, "@")
	role := map[string]string{RoleOwner: "Owner", RoleAdmin: "Admin", RoleMember: "Member"}[u.Role]
	writeJSON(w, http.StatusOK, map[string]any{
		"id": u.ID, "first_name": first, "last_name": "Sim", "display_name": first + " Sim", "email": u.Email,
		"type": typ, "role_name": role, "pmi": u.PMI, "use_pmi": false, "timezone": "UTC", "verified": 1,
		"created_at": u.Created.Format(time.RFC3339), "account_id": u.AccountID, "status": "active", "language": "en-US",
	})
}

func (s *Sim) createMeeting(w http.ResponseWriter, r *http.Request, c caller) {
	host := s.resolveUser(w, c, r.PathValue("userId"))
	if host == nil {
		return
	}
	if host.Plan == "basic" {
		writeJSON(w, http.StatusBadRequest, zoomErr{Code: 200, Message: "No permission."})
		return
	}
	in, ok := decodeMeetingBody(w, r)
	if !ok {
		return
	}
	m := &meeting{Type: 2, Timezone: "UTC", Settings: defaultSettings(), HostID: host.ID, HostEmail: host.Email}
	if errs := s.applyMeeting(m, in, true); errs != nil {
		writeValidation(w, errs)
		return
	}
	if !s.spendDaily(w, host.ID) {
		return
	}
	now := s.opts.Now().UTC().Truncate(time.Second)
	m.Created = now
	for {
		m.ID = randInt(10_000_000_000, 99_999_999_999) // 11 digits, as Zoom's
		if s.st.meetings[m.ID] == nil {
			break
		}
	}
	m.UUID = base64.StdEncoding.EncodeToString([]byte(randString("abcdefghijklmnopqrstuvwxyz0123456789", 16)))
	if m.Password == "" && !m.noPassword {
		m.Password = randString("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789", 6)
	}
	m.EncPwd = randString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32)
	m.Numeric = randString("0123456789", 6)
	m.ZAK = randString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 24)
	s.st.meetings[m.ID] = m
	writeJSON(w, http.StatusCreated, m.render("http://"+r.Host))
}

func (s *Sim) getMeeting(w http.ResponseWriter, r *http.Request, c caller) {
	if m := s.visibleMeeting(w, c, r.PathValue("meetingId")); m != nil {
		writeJSON(w, http.StatusOK, m.render("http://"+r.Host))
	}
}

func (s *Sim) updateMeeting(w http.ResponseWriter, r *http.Request, c caller) {
	m := s.visibleMeeting(w, c, r.PathValue("meetingId"))
	if m == nil {
		return
	}
	in, ok := decodeMeetingBody(w, r)
	if !ok {
		return
	}
	updated := m.clone()
	if errs := s.applyMeeting(updated, in, false); errs != nil {
		writeValidation(w, errs)
		return
	}
	if !s.spendDaily(w, m.HostID) {
		return
	}
	s.st.meetings[m.ID] = updated
	s.meetingUpdated(m, updated, s.operatorOf(c, m))
	w.WriteHeader(http.StatusNoContent) // no body: GET for the new state
}

func (s *Sim) deleteMeeting(w http.ResponseWriter, r *http.Request, c caller) {
	m := s.visibleMeeting(w, c, r.PathValue("meetingId"))
	if m == nil {
		return
	}
	q := r.URL.Query()
	for _, name := range []string{"schedule_for_reminder", "cancel_meeting_reminder"} {
		if v := q.Get(name); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				invalidField(w, name)
				return
			}
		}
	}
	delete(s.st.meetings, m.ID)
	s.meetingDeleted(m, s.operatorOf(c, m))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) listMeetings(w http.ResponseWriter, r *http.Request, c caller) {
	host := s.resolveUser(w, c, r.PathValue("userId"))
	if host == nil {
		return
	}
	q := r.URL.Query()
	typ := q.Get("type")
	if typ == "" {
		typ = "scheduled"
	}
	if !slices.Contains([]string{"scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings"}, typ) {
		invalidField(w, "type")
		return
	}
	pageSize := 30
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			invalidField(w, "page_size")
			return
		}
		pageSize = min(n, 300)
	}
	offset := 0
	if v := q.Get("next_page_token"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			invalidField(w, "next_page_token")
			return
		}
		offset = n
	}
	now := s.opts.Now()
	var all []*meeting
	for _, m := range s.st.meetings {
		if m.HostID != host.ID {
			continue
		}
		end := m.Start.Add(time.Duration(m.Duration) * time.Minute)
		switch typ {
		case "live":
			continue // nothing is ever in progress here
		case "upcoming", "upcoming_meetings":
			if m.Start.Before(now) {
				continue
			}
		case "previous_meetings":
			if end.After(now) {
				continue
			}
		}
		all = append(all, m)
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].Start.Equal(all[j].Start) {
			return all[i].Start.Before(all[j].Start)
		}
		return all[i].ID < all[j].ID
	})
	base := "http://" + r.Host
	page := []map[string]any{}
	for i := offset; i < len(all) && i < offset+pageSize; i++ {
		m := all[i]
		page = append(page, map[string]any{"uuid": m.UUID, "id": m.ID, "host_id": m.HostID, "topic": m.Topic, "type": m.Type,
			"start_time": m.Start.UTC().Format(zoomTime), "duration": m.Duration, "timezone": m.Timezone,
			"agenda": m.Agenda, "created_at": m.Created.Format(zoomTime), "join_url": m.joinURL(base)})
	}
	next := ""
	if offset+pageSize < len(all) {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset + pageSize)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"page_size": pageSize, "total_records": len(all), "next_page_token": next, "meetings": page})
}

func hasAny(have, want []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

func decodeMeetingBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var in map[string]any
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil || in == nil {
		writeJSON(w, http.StatusBadRequest, zoomErr{Code: 300, Message: "Request Body should be a valid JSON object."})
		return nil, false
	}
	return in, true
}
