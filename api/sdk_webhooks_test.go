package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sdkWebhooksRun is what api/testdata/sdk/webhooks.mjs prints (after each
// of its two parts; the second is the whole run).
type sdkWebhooksRun struct {
	SDKVersion string `json:"sdkVersion"`
	Part       int    `json:"part"`
	Steps      []struct {
		Name       string `json:"name"`
		OK         bool   `json:"ok"`
		Error      string `json:"error"`
		ErrorClass string `json:"errorClass"`
		StatusCode int    `json:"statusCode"`
		Type       string `json:"type"`
	} `json:"steps"`
	Created            sdkDestination   `json:"created"`
	FirstSecret        string           `json:"firstSecret"`
	Listed             []sdkDestination `json:"listed"`
	Found              sdkDestination   `json:"found"`
	Updated            sdkDestination   `json:"updated"`
	Rotated            sdkDestination   `json:"rotated"`
	RotatedSecret      string           `json:"rotatedSecret"`
	EventID            string           `json:"eventId"`
	JoinURL            string           `json:"joinUrl"`
	MovedTo            int64            `json:"movedTo"`
	MovedStart         int64            `json:"movedStart"`
	JoinURLMoved       string           `json:"joinUrlMoved"`
	DestroyedStatus    string           `json:"destroyedStatus"`
	FindAfterDestroy   *sdkError        `json:"findAfterDestroy"`
	ListedAfterDestroy []string         `json:"listedAfterDestroy"`
}

type sdkDestination struct {
	ID                         string   `json:"id"`
	Description                string   `json:"description"`
	TriggerTypes               []string `json:"triggerTypes"`
	WebhookURL                 string   `json:"webhookUrl"`
	Status                     string   `json:"status"`
	NotificationEmailAddresses []string `json:"notificationEmailAddresses"`
	HasSecret                  bool     `json:"hasSecret"`
}

// nodeRun is a node script the test talks to while it runs: it reads the
// script's stdout line by line and answers on its stdin.
type nodeRun struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer // read only after wait: the process writes it until then
	once   sync.Once
	err    error
}

// wait closes the script's stdin (a script waiting for a line ends) and
// waits for it to exit; it may be called more than once.
func (n *nodeRun) wait() error {
	n.once.Do(func() {
		_ = n.stdin.Close()
		n.err = n.cmd.Wait()
	})
	return n.err
}

// isSecret says whether s looks like a webhook secret: 32 bytes, hex.
func isSecret(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// TestNodeSDKWebhooks runs the official Nylas Node SDK (8.4.0) against
// confhub's webhook destinations: nylas.webhooks.create, list, find, update,
// rotateSecret and destroy, unchanged, with a receiver on 127.0.0.1; and
// an event with a Zoom meeting created, moved and deleted through
// nylas.events, whose three notifications must reach the receiver signed
// with the rotated secret.
func TestNodeSDKWebhooks(t *testing.T) {
	sdk, node := nodeSDK(t)
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	cal := e.primaryCalendar(cs.key, cs.cal)
	rcv := newReceiver(t)
	if !strings.HasPrefix(rcv.srv.URL, "http://127.0.0.1:") {
		t.Fatalf("the receiver listens on %s, want 127.0.0.1", rcv.srv.URL)
	}
	hookURL := rcv.srv.URL + "/hook"
	start := e.clock.Now().Add(72 * time.Hour).Truncate(time.Second)
	rec, apiURI := e.sdkProxy(cs.key)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := &nodeRun{cmd: exec.CommandContext(ctx, node, filepath.Join("testdata", "sdk", "webhooks.mjs"))}
	run.cmd.Env = append(os.Environ(), "NYLAS_SDK_DIR="+sdk, "API_URI="+apiURI, "API_KEY="+cs.key, "CAL_GRANT="+cs.cal,
		"CALENDAR_ID="+cal, "CONF_GRANT="+cs.confGrant, "WEBHOOK_URL="+hookURL, fmt.Sprintf("EVENT_START=%d", start.Unix()))
	run.cmd.Stderr = &run.stderr
	var err error
	if run.stdin, err = run.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := run.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.stdout = bufio.NewReader(stdout)
	if err := run.cmd.Start(); err != nil {
		t.Fatalf("node webhooks.mjs: %v", err)
	}
	// Whatever ends the test, the script ends with it (before the receiver closes).
	t.Cleanup(func() { _ = run.wait() })

	var out sdkWebhooksRun
	var printed []string
	// part reads the script's next report; a script that ended without it
	// fails the test with what it said and what the SDK sent.
	part := func(n int) {
		t.Helper()
		line, rerr := run.stdout.ReadBytes('\n')
		if rerr == nil {
			printed = append(printed, string(line))
			if err := json.Unmarshal(line, &out); err == nil && out.Part == n {
				return
			}
		}
		werr := run.wait()
		t.Fatalf("node webhooks.mjs gave no report of part %d (%v; exit: %v)\nstdout: %s\nstderr: %s\nrequests the SDK sent:\n%s",
			n, rerr, werr, line, run.stderr.String(), rec)
	}
	bad := false
	fail := func(format string, args ...any) {
		t.Helper()
		bad = true
		t.Errorf(format, args...)
	}
	failedSteps := func() {
		t.Helper()
		for _, s := range out.Steps {
			if !s.OK {
				fail("SDK call %s failed: %s (%s, status %d, type %q)", s.Name, s.Error, s.ErrorClass, s.StatusCode, s.Type)
			}
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("SDK reports: %s\nrequests the SDK sent:\n%s", strings.Join(printed, ""), rec)
		}
	}()

	part(1)
	failedSteps()
	if out.SDKVersion != "8.4.0" {
		fail("SDK version %q, want 8.4.0", out.SDKVersion)
	}
	// The destination as the SDK read it back: the secret shown by create
	// and rotate only, and a new one by rotate.
	triggers := []string{"event.created", "event.updated", "event.deleted"}
	c := out.Created
	if c.ID == "" || c.Status != "active" || c.WebhookURL != hookURL || c.Description != "SDK receiver" ||
		!slices.Equal(c.TriggerTypes, triggers) || !c.HasSecret || !isSecret(out.FirstSecret) {
		fail("webhooks.create: %+v (secret is 64 hex digits: %v)", c, isSecret(out.FirstSecret))
	}
	if len(out.Listed) != 1 || out.Listed[0].ID != c.ID || out.Listed[0].HasSecret {
		fail("webhooks.list: %+v, want only %s, without its secret", out.Listed, c.ID)
	}
	if f := out.Found; f.ID != c.ID || f.HasSecret || f.WebhookURL != hookURL || !slices.Equal(f.TriggerTypes, triggers) {
		fail("webhooks.find: %+v", f)
	}
	if u := out.Updated; u.ID != c.ID || u.HasSecret || u.Description != "SDK receiver, renamed" ||
		!slices.Equal(u.NotificationEmailAddresses, []string{"ops@example.com"}) || u.Status != "active" ||
		u.WebhookURL != hookURL || !slices.Equal(u.TriggerTypes, triggers) {
		fail("webhooks.update: %+v", u)
	}
	if r := out.Rotated; r.ID != c.ID || !r.HasSecret || !isSecret(out.RotatedSecret) || out.RotatedSecret == out.FirstSecret {
		fail("webhooks.rotateSecret: %+v (a new 64-hex-digit secret: %v)", r, isSecret(out.RotatedSecret) && out.RotatedSecret != out.FirstSecret)
	}
	// The event, as the SDK saw it: a Zoom meeting that stayed with it when moved.
	if out.EventID == "" || out.JoinURL == "" || out.JoinURLMoved != out.JoinURL || out.MovedStart != out.MovedTo {
		fail("events: id %q, join URL %q then %q, moved start %d (want %d)", out.EventID, out.JoinURL, out.JoinURLMoved, out.MovedStart, out.MovedTo)
	}
	// Without the destination and the event there is nothing to wait for.
	if bad {
		t.FailNow()
	}

	// The three notifications of the event arrive, and nothing else is on
	// its way (the queue is empty) before the script deletes the destination,
	// which would take pending deliveries with it.
	ofEvent := func(typ string) []delivery {
		var ds []delivery
		for _, d := range rcv.of(typ) {
			if d.obj["id"] == out.EventID {
				ds = append(ds, d)
			}
		}
		return ds
	}
	waitFor(t, "event.created, event.updated and event.deleted at the receiver", func() bool {
		return len(ofEvent("event.created")) > 0 && len(ofEvent("event.updated")) > 0 && len(ofEvent("event.deleted")) > 0
	})
	e.awaitDrained()
	if _, err := io.WriteString(run.stdin, "destroy\n"); err != nil {
		t.Fatalf("telling the script to go on: %v", err)
	}
	part(2)
	if err := run.wait(); err != nil {
		t.Fatalf("node webhooks.mjs: %v\nstderr: %s", err, run.stderr.String())
	}
	failedSteps()

	// Exactly one notification of each kind, for this event, each with an
	// id of its own, each signed with the current secret and not the first.
	all := rcv.all()
	var types []string
	ids := map[string]bool{}
	for _, d := range all {
		types = append(types, d.env.Type)
		if ids[d.env.ID] || d.env.ID == "" {
			t.Errorf("notification id %q is empty or seen before", d.env.ID)
		}
		ids[d.env.ID] = true
		if !verify(d, out.RotatedSecret) || verify(d, out.FirstSecret) {
			t.Errorf("%s: signature %q verifies with the rotated secret: %v, with the first: %v (want true, false)",
				d.env.Type, d.sig, verify(d, out.RotatedSecret), verify(d, out.FirstSecret))
		}
		// The receiver always answers 200: a second attempt means a lost first.
		if d.obj["id"] != out.EventID || d.env.SpecVersion != "1.0" || d.env.Data.ApplicationID != cs.appID.String() ||
			d.env.WebhookDeliveryAttempt != 1 {
			t.Errorf("%s: %s", d.env.Type, d.body)
		}
	}
	if got := slices.Sorted(slices.Values(types)); !slices.Equal(got, []string{"event.created", "event.deleted", "event.updated"}) {
		t.Errorf("notifications: %v, want one each of %v", types, triggers)
	}
	if ds := ofEvent("event.created"); len(ds) == 1 {
		if conf, _ := ds[0].obj["conferencing"].(map[string]any); conf["provider"] != "Zoom Meeting" {
			t.Errorf("event.created without its Zoom meeting: %s", ds[0].body)
		}
	}
	if ds := ofEvent("event.updated"); len(ds) == 1 {
		if when, _ := ds[0].obj["when"].(map[string]any); when["start_time"] != float64(out.MovedTo) {
			t.Errorf("event.updated does not carry the move to %d: %s", out.MovedTo, ds[0].body)
		}
	}
	if ds := ofEvent("event.deleted"); len(ds) == 1 && (ds[0].obj["grant_id"] != cs.cal || ds[0].obj["object"] != "event") {
		t.Errorf("event.deleted: %s", ds[0].body)
	}

	// The destination is gone, for the SDK and for the API.
	if x := out.FindAfterDestroy; x == nil || x.ErrorClass != "NylasApiError" || x.StatusCode != 404 {
		t.Errorf("webhooks.find after destroy must be a 404 the SDK understands: %+v", x)
	}
	if out.DestroyedStatus != "success" {
		t.Errorf("webhooks.destroy answered data.status %q, want success", out.DestroyedStatus)
	}
	if len(out.ListedAfterDestroy) != 0 {
		t.Errorf("webhooks.list after destroy: %v", out.ListedAfterDestroy)
	}
	e.expect(e.do("GET", "/v3/webhooks/"+out.Created.ID, cs.key, nil), 404, "the destroyed destination")

	// At Zoom: one meeting made, moved with the event, and deleted with it.
	waitFor(t, "the event's meeting deleted at Zoom", func() bool { return len(e.meetings()) == 0 })
	if n, u, d := e.zoomCalls("create_meeting"), e.zoomCalls("update_meeting"), e.zoomCalls("delete_meeting"); n != 1 || u < 1 || d < 1 {
		t.Errorf("Zoom calls: %d creates, %d updates, %d deletes; want 1, at least 1, at least 1", n, u, d)
	}
}
