package zoomsim

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// A snapshot is the simulator's Zoom-side data (apps, users, live tokens,
// meetings, daily counts) so that `confhub dev` can stop and start again
// with the grants it stored still valid at "Zoom". Call statistics, faults,
// pending authorization codes and rate windows are not kept.
type snapshot struct {
	Apps     []snapApp                `json:"apps"`
	Users    []snapUser               `json:"users"`
	Tokens   []snapToken              `json:"tokens"`
	Current  []snapCurrent            `json:"current"`
	Meetings []snapMeeting            `json:"meetings"`
	Daily    map[string]snapDailyUsed `json:"daily"`
}

type snapApp struct {
	AppSpec
	WebhookValidated bool `json:"webhook_validated"`
	Deactivated      bool `json:"deactivated,omitempty"`
}

type snapUser struct {
	User
	PMI     int64     `json:"pmi"`
	Created time.Time `json:"created"`
}

type snapToken struct {
	Token     string    `json:"token"`
	Refresh   bool      `json:"refresh"`
	ClientID  string    `json:"client_id"`
	UserID    string    `json:"user_id"`
	AccountID string    `json:"account_id"`
	Account   bool      `json:"account,omitempty"` // acts for every user of the account
	Scopes    []string  `json:"scopes"`
	Expires   time.Time `json:"expires"`
}

type snapCurrent struct {
	UserID   string `json:"user_id"`
	ClientID string `json:"client_id"`
	Access   string `json:"access"`
	Refresh  string `json:"refresh"`
}

type snapMeeting struct {
	meeting
	NoPassword bool `json:"no_password"`
}

type snapDailyUsed struct {
	Day string `json:"day"`
	N   int    `json:"n"`
}

// Save writes the simulator's data as JSON.
func (s *Sim) Save(w io.Writer) error {
	s.mu.Lock()
	snap := snapshot{Daily: map[string]snapDailyUsed{}}
	for _, a := range s.st.apps {
		snap.Apps = append(snap.Apps, snapApp{a.AppSpec, a.webhookValidated, a.deactivated})
	}
	for _, u := range s.st.users {
		snap.Users = append(snap.Users, snapUser{*u, u.PMI, u.Created})
	}
	for tok, t := range s.st.access {
		snap.Tokens = append(snap.Tokens, snapToken{tok, false, t.clientID, t.userID, t.accountID, t.account, t.scopes, t.expires})
	}
	for tok, t := range s.st.refresh {
		snap.Tokens = append(snap.Tokens, snapToken{tok, true, t.clientID, t.userID, t.accountID, t.account, t.scopes, t.expires})
	}
	for k, v := range s.st.current {
		snap.Current = append(snap.Current, snapCurrent{k.userID, k.clientID, v[0], v[1]})
	}
	for _, m := range s.st.meetings {
		snap.Meetings = append(snap.Meetings, snapMeeting{*m.clone(), m.noPassword})
	}
	for k, d := range s.st.daily {
		snap.Daily[k] = snapDailyUsed{d.day, d.n}
	}
	s.mu.Unlock()
	return json.NewEncoder(w).Encode(snap)
}

// Load replaces the simulator's data with a snapshot written by Save.
func (s *Sim) Load(r io.Reader) error {
	var snap snapshot
	if err := json.NewDecoder(r).Decode(&snap); err != nil {
		return fmt.Errorf("zoomsim: reading the snapshot: %w", err)
	}
	st := newState()
	for _, a := range snap.Apps {
		st.apps[a.ClientID] = &app{AppSpec: a.AppSpec, webhookValidated: a.WebhookValidated, deactivated: a.Deactivated}
	}
	// Snapshots from before roles: each account's earliest user owns it.
	sort.SliceStable(snap.Users, func(i, j int) bool { return snap.Users[i].Created.Before(snap.Users[j].Created) })
	for _, u := range snap.Users {
		user := u.User
		user.PMI, user.Created = u.PMI, u.Created
		if user.Role == "" {
			user.Role = RoleMember
			if !st.accountExists(user.AccountID) {
				user.Role = RoleOwner
			}
		}
		st.users[user.ID] = &user
	}
	for _, t := range snap.Tokens {
		// A token without a user was always an account token.
		info := &tokenInfo{clientID: t.ClientID, userID: t.UserID, accountID: t.AccountID, account: t.Account || t.UserID == "",
			scopes: t.Scopes, expires: t.Expires}
		if t.Refresh {
			st.refresh[t.Token] = info
		} else {
			st.access[t.Token] = info
		}
	}
	for _, c := range snap.Current {
		st.current[grantKey{c.UserID, c.ClientID}] = [2]string{c.Access, c.Refresh}
	}
	for _, m := range snap.Meetings {
		mm := m.meeting
		mm.noPassword = m.NoPassword
		st.meetings[mm.ID] = &mm
	}
	for k, d := range snap.Daily {
		st.daily[k] = &dayCount{day: d.Day, n: d.N}
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	return nil
}
