package zoomsim

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// fieldsOf lists the fields a 300 answer names, checking its shape.
func fieldsOf(t *testing.T, what string, status int, out map[string]any) []string {
	t.Helper()
	if status != http.StatusBadRequest || out["code"] != json.Number("300") {
		t.Fatalf("%s: %d %v, want 400 code 300", what, status, out)
	}
	errs, _ := out["errors"].([]any)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	return fields
}

func TestMeetingSettingsAreTyped(t *testing.T) {
	f := newEventsFixture(t, Options{})
	f.addApp("oauth", nil)
	tok := f.authorize("oauth", f.host.Email)
	start := f.zoomTime(24 * time.Hour)
	create := func(settings string) (int, map[string]any) {
		return f.call("POST", "/v2/users/me/meetings", tok, `{"topic":"Typed","start_time":"`+start+`","duration":30,"settings":`+settings+`}`)
	}

	for settings, want := range map[string][]string{
		`{"jbh_time":"ten"}`:                      {"settings.jbh_time"},
		`{"jbh_time":7}`:                          {"settings.jbh_time"},
		`{"jbh_time":5.5}`:                        {"settings.jbh_time"},
		`{"host_video":"true"}`:                   {"settings.host_video"},
		`{"approval_type":3}`:                     {"settings.approval_type"},
		`{"registration_type":0}`:                 {"settings.registration_type"},
		`{"encryption_type":"strong"}`:            {"settings.encryption_type"},
		`{"alternative_hosts":["a@example.com"]}`: {"settings.alternative_hosts"},
		`{"global_dial_in_countries":"US"}`:       {"settings.global_dial_in_countries"},
		`{"auto_recording":"tape","waiting_room":1,"continuous_meeting_chat":{"enable":"on"},"global_dial_in_countries":["US",1],` +
			`"language_interpretation":{"interpreters":[{"email":5}]},"breakout_room":{"rooms":"two"},"meeting_invitees":["a@example.com"]}`: {
			"settings.auto_recording", "settings.breakout_room.rooms", "settings.continuous_meeting_chat.enable",
			"settings.global_dial_in_countries[1]", "settings.language_interpretation.interpreters[0].email",
			"settings.meeting_invitees[0]", "settings.waiting_room"},
	} {
		status, out := create(settings)
		if got := fieldsOf(t, "create with "+settings, status, out); !reflect.DeepEqual(got, want) {
			t.Errorf("create with %s names %v, want %v", settings, got, want)
		}
	}
	if n := len(f.sim.Stats().Calls[OpCreateMeeting]); n != 1 || f.sim.Stats().Calls[OpCreateMeeting]["201"] != 0 {
		t.Fatalf("refused creates made meetings: %v", f.sim.Stats().Calls[OpCreateMeeting])
	}
	if _, out := f.call("GET", "/_sim/meetings", "", ""); len(out["meetings"].([]any)) != 0 {
		t.Fatalf("refused creates left meetings: %v", out["meetings"])
	}

	status, m := create(`{"jbh_time":10,"join_before_host":true,"approval_type":0,"encryption_type":"e2ee","alternative_hosts":"alt@example.com",` +
		`"not_a_zoom_setting":"echo me","global_dial_in_numbers":[{"number":"+1 555"}],"waiting_room":null,"enforce_login":true,` +
		`"continuous_meeting_chat":{"enable":true,"bogus":1},"global_dial_in_countries":["US","DE"],` +
		`"language_interpretation":{"enable":true,"interpreters":[{"email":"int@example.com","languages":"US,FR","rate":3}]}}`)
	if status != http.StatusCreated {
		t.Fatalf("create with valid settings: %d %v", status, m)
	}
	id := m["id"].(json.Number).String()
	want := map[string]any{
		"jbh_time": json.Number("10"), "join_before_host": true, "approval_type": json.Number("0"), "encryption_type": "e2ee",
		"alternative_hosts": "alt@example.com", "waiting_room": false,
		"continuous_meeting_chat":  map[string]any{"enable": true},
		"global_dial_in_countries": []any{"US", "DE"},
		"language_interpretation": map[string]any{"enable": true,
			"interpreters": []any{map[string]any{"email": "int@example.com", "languages": "US,FR"}}},
	}
	check := func(what string, m map[string]any, want map[string]any) {
		t.Helper()
		s := m["settings"].(map[string]any)
		for k, v := range want {
			if !reflect.DeepEqual(s[k], v) {
				t.Errorf("%s: settings.%s = %#v, want %#v", what, k, s[k], v)
			}
		}
		// Unknown keys are never echoed, nor create-only-unknown ones; the dial-in numbers are Zoom's own.
		for _, k := range []string{"not_a_zoom_setting", "bogus", "enforce_login"} {
			if _, has := s[k]; has {
				t.Errorf("%s: settings echo %s: %v", what, k, s)
			}
		}
		if nums, _ := s["global_dial_in_numbers"].([]any); len(nums) == 0 || nums[0].(map[string]any)["number"] == "+1 555" {
			t.Errorf("%s: global_dial_in_numbers %v, want Zoom's own", what, s["global_dial_in_numbers"])
		}
	}
	check("create answer", m, want)
	_, got := f.call("GET", "/v2/meetings/"+id, tok, "")
	check("GET after create", got, want)

	status, out := f.call("PATCH", "/v2/meetings/"+id, tok, `{"topic":"Renamed","settings":{"jbh_time":"ten","mute_upon_entry":true}}`)
	if fields := fieldsOf(t, "PATCH with a wrong type", status, out); !reflect.DeepEqual(fields, []string{"settings.jbh_time"}) {
		t.Fatalf("PATCH with a wrong type names %v", fields)
	}
	_, got = f.call("GET", "/v2/meetings/"+id, tok, "")
	if got["topic"] != "Typed" || got["settings"].(map[string]any)["mute_upon_entry"] != false {
		t.Fatalf("a refused PATCH changed the meeting: %v", got)
	}

	if status, out := f.call("PATCH", "/v2/meetings/"+id, tok, `{"settings":{"jbh_time":5,"enforce_login":true,"not_a_zoom_setting":1,`+
		`"continuous_meeting_chat":{"auto_add_meeting_participants":true}}}`); status != http.StatusNoContent {
		t.Fatalf("PATCH with valid settings: %d %v", status, out)
	}
	_, got = f.call("GET", "/v2/meetings/"+id, tok, "")
	want["jbh_time"] = json.Number("5")
	want["continuous_meeting_chat"] = map[string]any{"enable": true, "auto_add_meeting_participants": true}
	s := got["settings"].(map[string]any)
	if s["enforce_login"] != true {
		t.Errorf("enforce_login, which updates know, was not kept: %v", s)
	}
	delete(s, "enforce_login")
	check("GET after PATCH", got, want)
}

func TestTrackingFieldsAndRecurrenceAreTyped(t *testing.T) {
	f := newEventsFixture(t, Options{})
	f.addApp("oauth", nil)
	tok := f.authorize("oauth", f.host.Email)
	start := f.zoomTime(24 * time.Hour)
	for body, want := range map[string][]string{
		`{"tracking_fields":{"field":"x"}}`:                   {"tracking_fields"},
		`{"tracking_fields":[{"field":1}]}`:                   {"tracking_fields[0].field"},
		`{"type":8,"recurrence":{"type":"weekly"}}`:           {"recurrence.type"},
		`{"type":8,"recurrence":{"type":2,"monthly_week":9}}`: {"recurrence.monthly_week"},
	} {
		status, out := f.call("POST", "/v2/users/me/meetings", tok, body)
		if got := fieldsOf(t, body, status, out); !reflect.DeepEqual(got, want) {
			t.Errorf("create with %s names %v, want %v", body, got, want)
		}
	}
	m := f.createMeeting(tok, "me", `{"topic":"Weekly","type":8,"start_time":"`+start+`","duration":30,`+
		`"tracking_fields":[{"field":"team","value":"core","colour":"red"}],"recurrence":{"type":2,"weekly_days":"2","secret":true}}`)
	if want := []any{map[string]any{"field": "team", "value": "core"}}; !reflect.DeepEqual(m["tracking_fields"], want) {
		t.Fatalf("tracking_fields %v, want %v", m["tracking_fields"], want)
	}
	if want := map[string]any{"type": json.Number("2"), "weekly_days": "2"}; !reflect.DeepEqual(m["recurrence"], want) {
		t.Fatalf("recurrence %v, want %v", m["recurrence"], want)
	}
}
