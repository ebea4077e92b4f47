package zoomsim

import (
	"reflect"
	"slices"
	"time"
)

// Meeting event subscriptions (shared/reference/scheduler.md, "Zoom:
// account-level apps and event subscriptions"). Zoom tells the apps a host
// installed about changes to the host's meetings, whoever made them: any
// app through the REST API, or the host in Zoom's own app.
//
// Real apps choose the events they subscribe to in the Marketplace; the
// simulator has no such setting and sends meeting.updated and
// meeting.deleted to every app with a webhook URL.

// meetingSubscribers lists, sorted, the active apps with a webhook URL that
// the host's meetings concern: a live grant of the host to a user-managed
// app, a live install of an admin-managed app by an admin of the host's
// account, or a server-to-server app of the host's account (installed on
// the account by being built there: no token needs to have been fetched).
// It must be called with s.mu held.
func (st *state) meetingSubscribers(host *User) []string {
	authorized := map[string]bool{}
	for k, cur := range st.current {
		t := st.refresh[cur[1]]
		if k.userID == host.ID || (t != nil && t.account && t.accountID == host.AccountID) {
			authorized[k.clientID] = true
		}
	}
	for id, a := range st.apps {
		if a.serverToServer() && a.AccountID == host.AccountID {
			authorized[id] = true
		}
	}
	var out []string
	for id := range authorized {
		if a := st.apps[id]; a != nil && a.WebhookURL != "" && !a.deactivated {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// operatorOf is the user Zoom names as having made a REST change: the
// token's user (for an admin's install, the admin), or, for a
// server-to-server token, the host it acted for (the simulator does not know
// the admin who made a server-to-server app).
// It must be called with s.mu held.
func (s *Sim) operatorOf(c caller, m *meeting) *User {
	if c.user != nil {
		return c.user
	}
	return s.st.users[m.HostID]
}

// sendMeetingEvent posts a meeting event, stamped now, to the host's
// subscribers. It must be called with s.mu held, right after the change, so
// that the subscribers are those of the moment of the change.
func (s *Sim) sendMeetingEvent(event string, m *meeting, operator *User, now time.Time, payload map[string]any) {
	host := s.st.users[m.HostID]
	if host == nil || operator == nil {
		return // users outlive their meetings; nobody to tell otherwise
	}
	payload["account_id"] = host.AccountID
	payload["operator"] = operator.Email
	payload["operator_id"] = operator.ID
	ev := map[string]any{"event": event, "event_ts": now.UnixMilli(), "payload": payload}
	for _, clientID := range s.st.meetingSubscribers(host) {
		// ev is only read from here on, so the deliveries may share it.
		s.deliver(clientID, event, func(string, time.Time) map[string]any { return ev })
	}
}

// meetingDeleted sends meeting.deleted with the meeting as it was.
// It must be called with s.mu held.
func (s *Sim) meetingDeleted(m *meeting, operator *User) {
	s.sendMeetingEvent("meeting.deleted", m, operator, s.opts.Now(), map[string]any{"object": map[string]any{
		"uuid": m.UUID, "id": m.ID, "host_id": m.HostID, "topic": m.Topic, "type": m.Type,
		"start_time": m.Start.UTC().Format(zoomTime), "duration": m.Duration, "timezone": m.Timezone,
	}})
}

// meetingUpdated sends meeting.updated when the update changed something
// Zoom reports. It must be called with s.mu held.
func (s *Sim) meetingUpdated(old, cur *meeting, operator *User) {
	object, oldObject := meetingChanges(old, cur)
	if object == nil {
		return
	}
	now := s.opts.Now()
	s.sendMeetingEvent("meeting.updated", cur, operator, now, map[string]any{
		"object": object, "old_object": oldObject, "time_stamp": now.UnixMilli(),
	})
}

// meetingChanges is meeting.updated's object (new values) and old_object
// (previous values): the id and the fields that changed, settings narrowed
// to the changed keys; nil when nothing changed. Password, tracking fields
// and recurrence are not reported: we have no source for how Zoom shows
// them, and reporting less is the side a client cannot come to rely on.
func meetingChanges(old, cur *meeting) (object, oldObject map[string]any) {
	object, oldObject = map[string]any{"id": cur.ID}, map[string]any{"id": old.ID}
	field := func(name string, was, is any) {
		if was != is {
			object[name], oldObject[name] = is, was
		}
	}
	field("topic", old.Topic, cur.Topic)
	field("type", old.Type, cur.Type)
	field("start_time", old.Start.UTC().Format(zoomTime), cur.Start.UTC().Format(zoomTime))
	field("duration", old.Duration, cur.Duration)
	field("timezone", old.Timezone, cur.Timezone)
	field("agenda", old.Agenda, cur.Agenda)

	settings, oldSettings := map[string]any{}, map[string]any{}
	for k, is := range cur.Settings {
		was, had := old.Settings[k]
		if had && reflect.DeepEqual(was, is) {
			continue
		}
		settings[k] = is
		if had { // a setting the simulator had no default for has no old value to show
			oldSettings[k] = was
		}
	}
	if len(settings) > 0 {
		object["settings"], oldObject["settings"] = settings, oldSettings
	}
	if len(object) == 1 {
		return nil, nil
	}
	return object, oldObject
}
