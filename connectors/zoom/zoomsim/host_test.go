package zoomsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHostChangesThroughTheControlAPISendEvents(t *testing.T) {
	// The create spends the host's whole daily allowance and every REST
	// update and delete fails: the host's own changes must not care.
	f := newEventsFixture(t, Options{DailyLimit: 1})
	hooked := newHookReceiver(t, "hooked-token")
	f.addApp("hooked", hooked)
	tok := f.authorize("hooked", f.host.Email)
	first := f.zoomTime(24 * time.Hour)
	m := f.createMeeting(tok, "me", `{"topic":"Planning","start_time":"`+first+`","duration":30}`)
	id := m["id"].(json.Number)
	if err := f.sim.SetFaults(Faults{Ops: map[string]OpFault{OpUpdateMeeting: {ErrorRate: 1}, OpDeleteMeeting: {ErrorRate: 1}}}); err != nil {
		t.Fatal(err)
	}
	path := "/_sim/meetings/" + id.String()

	for body, field := range map[string]string{
		`{"duration":-5}`:                              "duration",
		`{"duration":"long"}`:                          "duration",
		`{"timezone":"Mars/Olympus_Mons"}`:             "timezone",
		`{"start_time":"tomorrow"}`:                    "start_time",
		`{"topic":"` + strings.Repeat("x", 201) + `"}`: "topic",
		`{"colour":"red"}`:                             "colour",
	} {
		status, out := f.call("PATCH", path, "", body)
		if msg, _ := out["error"].(string); status != http.StatusBadRequest || !strings.Contains(msg, field) {
			t.Errorf("PATCH %s: %d %v, want 400 naming %s", body, status, out, field)
		}
	}
	if status, _ := f.call("PATCH", "/_sim/meetings/1", "", `{"topic":"x"}`); status != http.StatusNotFound {
		t.Errorf("PATCH of an unknown meeting: %d, want 404", status)
	}
	if status, _ := f.call("PATCH", "/_sim/meetings/abc", "", `{"topic":"x"}`); status != http.StatusBadRequest {
		t.Errorf("PATCH of a malformed id: %d, want 400", status)
	}
	f.sim.WaitWebhooks()
	if got := hooked.events(); len(got) != 0 {
		t.Fatalf("refused changes sent %v", got)
	}

	// The host types a time in their own zone; Zoom reports it in UTC.
	moved := f.now.Add(48 * time.Hour)
	local := moved.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)
	if status, out := f.call("PATCH", path, "", `{"topic":"Planning, moved","start_time":"`+local+`","duration":30}`); status != http.StatusNoContent {
		t.Fatalf("host PATCH: %d %v", status, out)
	}
	f.sim.WaitWebhooks()
	got := hooked.events()
	if len(got) != 1 {
		t.Fatalf("got %d events after the host's change, want 1", len(got))
	}
	p := f.payloadOf(got[0], "meeting.updated", f.host)
	if want := asJSON(t, map[string]any{"id": id, "topic": "Planning, moved", "start_time": moved.Format(zoomTime)}); !reflect.DeepEqual(p["object"], want) {
		t.Fatalf("object %v, want %v", p["object"], want)
	}
	if want := asJSON(t, map[string]any{"id": id, "topic": "Planning", "start_time": first}); !reflect.DeepEqual(p["old_object"], want) {
		t.Fatalf("old_object %v, want %v", p["old_object"], want)
	}
	if status, out := f.call("PATCH", "/v2/meetings/"+id.String(), tok, `{"topic":"x"}`); status/100 == 2 {
		t.Fatalf("a REST update went through (%d %v): the faults and the daily limit did not apply", status, out)
	}
	if calls := f.sim.Stats().Calls; calls[OpUpdateMeeting]["500"] != 1 || len(calls[OpUpdateMeeting]) != 1 {
		t.Fatalf("update_meeting calls %v: want only the one REST call, not the host's", calls[OpUpdateMeeting])
	}

	if status, out := f.call("DELETE", path, "", ""); status != http.StatusNoContent {
		t.Fatalf("host DELETE: %d %v", status, out)
	}
	f.sim.WaitWebhooks()
	got = hooked.events()
	if len(got) != 2 {
		t.Fatalf("got %d events after the host's delete, want 2", len(got))
	}
	p = f.payloadOf(got[1], "meeting.deleted", f.host)
	if obj, _ := p["object"].(map[string]any); obj["id"] != id || obj["topic"] != "Planning, moved" || obj["start_time"] != moved.Format(zoomTime) {
		t.Fatalf("deleted object %v, want the meeting as the host left it", obj)
	}
	if status, _ := f.call("DELETE", path, "", ""); status != http.StatusNotFound {
		t.Fatalf("second host DELETE: %d, want 404", status)
	}
}

func TestHostChangesInGo(t *testing.T) {
	f := newEventsFixture(t, Options{})
	hooked := newHookReceiver(t, "hooked-token")
	f.addApp("hooked", hooked)
	tok := f.authorize("hooked", f.host.Email)
	m := f.createMeeting(tok, "me", `{"topic":"Retro","start_time":"`+f.zoomTime(24*time.Hour)+`","duration":30}`)
	id, _ := m["id"].(json.Number).Int64()

	agenda, badDuration := "What went well", -1
	if err := f.sim.UpdateMeetingAsHost(id, HostPatch{Duration: &badDuration}); !errors.Is(err, ErrInvalidPatch) || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("negative duration: %v, want ErrInvalidPatch naming duration", err)
	}
	if err := f.sim.UpdateMeetingAsHost(id+1, HostPatch{Agenda: &agenda}); !errors.Is(err, ErrMeetingNotFound) {
		t.Fatalf("unknown meeting: %v, want ErrMeetingNotFound", err)
	}
	if err := f.sim.UpdateMeetingAsHost(id, HostPatch{}); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.UpdateMeetingAsHost(id, HostPatch{Agenda: &agenda}); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.DeleteMeetingAsHost(id); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.DeleteMeetingAsHost(id); !errors.Is(err, ErrMeetingNotFound) {
		t.Fatalf("second delete: %v, want ErrMeetingNotFound", err)
	}
	f.sim.WaitWebhooks()
	got := hooked.events()
	if len(got) != 2 {
		t.Fatalf("got %d events, want meeting.updated and meeting.deleted: %v", len(got), got)
	}
	// Two deliveries run concurrently, as Zoom's may: their order is not promised.
	byEvent := map[string]map[string]any{}
	for _, h := range got {
		name, _ := h.event["event"].(string)
		byEvent[name] = f.payloadOf(h, name, f.host)
	}
	if want := asJSON(t, map[string]any{"id": id, "agenda": agenda}); !reflect.DeepEqual(byEvent["meeting.updated"]["object"], want) {
		t.Fatalf("updated object %v, want %v", byEvent["meeting.updated"]["object"], want)
	}
	if obj, _ := byEvent["meeting.deleted"]["object"].(map[string]any); obj["id"] != json.Number(strconv.FormatInt(id, 10)) {
		t.Fatalf("deleted object %v", obj)
	}
}
