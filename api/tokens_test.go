package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/vault"
	"github.com/confhub/confhub/workflows"
)

// zoomGrant connects z's user through bring-your-own and returns the grant id.
func (e *env) zoomGrant(z zoomApp) uuid.UUID {
	e.t.Helper()
	r := e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": e.simRefreshToken(z)}})
	e.expect(r, 201, "zoom grant")
	return uuid.MustParse(r.data()["id"].(string))
}

func (e *env) refreshes(z zoomApp) int { return e.sim.Stats().Refreshes[z.clientID] }

func (e *env) sealInto(z zoomApp, grant uuid.UUID, column, value string) {
	e.t.Helper()
	sealed, err := e.keys.Seal(value, vault.Binding{ApplicationID: z.appID.String(), Table: "grants", RowID: grant.String(), Column: column})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.pool.Exec(context.Background(), fmt.Sprintf(`UPDATE grants SET %s = $2 WHERE id = $1`, column), grant, sealed); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) grantStatus(grant uuid.UUID) (status string, hasTokens bool) {
	e.t.Helper()
	err := e.pool.QueryRow(context.Background(), `SELECT grant_status, access_token_enc IS NOT NULL OR refresh_token_enc IS NOT NULL FROM grants WHERE id = $1`, grant).Scan(&status, &hasTokens)
	if err != nil {
		e.t.Fatal(err)
	}
	return status, hasTokens
}

func TestTokensRefreshWhenLessThanFiveMinutesRemain(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	g := e.zoomGrant(z)
	ctx := context.Background()
	before := e.refreshes(z)
	first, err := e.grants.Tokens.Get(ctx, z.appID, g)
	if err != nil || e.refreshes(z) != before {
		t.Fatalf("a fresh token: %v, refreshes %d -> %d", err, before, e.refreshes(z))
	}
	e.clock.Advance(55 * time.Minute) // 3599 s tokens: 4m59s left
	second, err := e.grants.Tokens.Get(ctx, z.appID, g)
	if err != nil || second.Token == first.Token || second.Version != first.Version+1 || e.refreshes(z) != before+1 {
		t.Fatalf("near expiry: %v, version %d -> %d, refreshes +%d", err, first.Version, second.Version, e.refreshes(z)-before)
	}
	if second.ExpiresAt.Sub(e.clock.Now()) < grants.MinTokenLife {
		t.Fatalf("handed out a token with %v left", second.ExpiresAt.Sub(e.clock.Now()))
	}
	third, _ := e.grants.Tokens.Get(ctx, z.appID, g)
	if third.Token != second.Token || e.refreshes(z) != before+1 {
		t.Fatal("a refreshed token was refreshed again")
	}
	zc := zoom.New(zoom.Config{OAuthURL: e.simURL, APIURL: e.simURL + "/v2", Now: e.clock.Now})
	if _, err := zc.Me(ctx, third.Token); err != nil {
		t.Fatalf("the refreshed token at Zoom: %v", err)
	}
}

func TestRefusedTokenIsRefreshedOnceAndRetriedOnce(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	g := e.zoomGrant(z)
	ctx := context.Background()
	e.sealInto(z, g, "access_token_enc", "a-token-zoom-never-issued") // still "fresh" by its expiry
	zc := zoom.New(zoom.Config{OAuthURL: e.simURL, APIURL: e.simURL + "/v2", Now: e.clock.Now})
	before := e.refreshes(z)
	calls := 0
	err := e.grants.Tokens.Do(ctx, z.appID, g, func(tok grants.AccessToken) error {
		calls++
		_, err := zc.Me(ctx, tok.Token)
		return err
	})
	if err != nil || calls != 2 || e.refreshes(z) != before+1 {
		t.Fatalf("Do: %v after %d calls and %d refreshes, want success after 2 calls and 1 refresh", err, calls, e.refreshes(z)-before)
	}
	// A second caller that failed with the same, now superseded, version finds
	// the token already rotated and does not refresh again.
	tok, _ := e.grants.Tokens.Get(ctx, z.appID, g)
	if _, err := e.grants.Tokens.ForceRefresh(ctx, z.appID, g, tok.Version-1); err != nil || e.refreshes(z) != before+1 {
		t.Fatalf("force refresh with a stale version: %v, refreshes +%d", err, e.refreshes(z)-before)
	}
}

func TestInvalidGrantMarksTheGrantInvalid(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	g := e.zoomGrant(z)
	ctx := context.Background()
	e.sealInto(z, g, "refresh_token_enc", "a-refresh-token-zoom-never-issued")
	e.clock.Advance(58 * time.Minute)
	_, err := e.grants.Tokens.Get(ctx, z.appID, g)
	if !apperr.IsKind(err, apperr.Unauthorized) || !strings.Contains(err.Error(), g.String()) || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Get with a dead refresh token: %v", err)
	}
	if status, hasTokens := e.grantStatus(g); status != "invalid" || hasTokens {
		t.Fatalf("grant %s, tokens kept %v", status, hasTokens)
	}
	if _, err := e.grants.Tokens.Get(ctx, z.appID, g); !apperr.IsKind(err, apperr.Unauthorized) {
		t.Fatalf("an invalid grant: %v", err)
	}
	// Connecting again revives the same grant.
	if again := e.zoomGrant(z); again != g {
		t.Fatalf("reconnecting made grant %s, want %s", again, g)
	}
	if status, _ := e.grantStatus(g); status != "valid" {
		t.Fatalf("after reconnecting: %s", status)
	}
}

func TestTransientFailuresNeverInvalidate(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	g := e.zoomGrant(z)
	ctx := context.Background()
	e.clock.Advance(58 * time.Minute)
	for _, status := range []int{500, 503, 429} {
		_ = e.sim.SetFaults(zoomsimFaults("token", status))
		_, err := e.grants.Tokens.Get(ctx, z.appID, g)
		if err == nil || apperr.IsKind(err, apperr.Unauthorized) {
			t.Fatalf("refresh during a %d: %v", status, err)
		}
		if st, hasTokens := e.grantStatus(g); st != "valid" || !hasTokens {
			t.Fatalf("a %d at Zoom turned the grant %s", status, st)
		}
	}
	// Zoom unreachable.
	_ = e.sim.SetFaults(zoomsimDrop("token"))
	if _, err := e.grants.Tokens.Get(ctx, z.appID, g); err == nil {
		t.Fatal("a dropped refresh answer went unnoticed")
	}
	_ = e.sim.SetFaults(zoomsimFaults("", 0))
	// The dropped answer rotated the token at Zoom: the stored one is now dead.
	// That is Zoom's design (a lost refresh answer cannot be recovered); the
	// grant turns invalid on the next refresh and asks for reconnection.
	if _, err := e.grants.Tokens.Get(ctx, z.appID, g); !apperr.IsKind(err, apperr.Unauthorized) {
		t.Fatalf("after a lost refresh answer: %v", err)
	}
}

func TestTransientFailureThenRecovery(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	g := e.zoomGrant(z)
	ctx := context.Background()
	e.clock.Advance(58 * time.Minute)
	_ = e.sim.SetFaults(zoomsimFaults("token", 502))
	_, err := e.grants.Tokens.Get(ctx, z.appID, g)
	if ae, ok := apperr.As(err); !ok || (ae.Kind != apperr.Provider && ae.Kind != apperr.ProviderTimeout) {
		t.Fatalf("a 502 from Zoom: %v", err)
	}
	_ = e.sim.SetFaults(zoomsimFaults("", 0))
	if _, err := e.grants.Tokens.Get(ctx, z.appID, g); err != nil {
		t.Fatalf("after Zoom recovered: %v", err)
	}
}

func TestDeletedConnectorStopsItsGrants(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	g := e.zoomGrant(z)
	e.expect(e.do("DELETE", "/v3/connectors/zoom", z.key, nil), 200, "delete connector")
	_, err := e.grants.Tokens.Get(context.Background(), z.appID, g)
	if !apperr.IsKind(err, apperr.Unauthorized) || !strings.Contains(err.Error(), "connector") {
		t.Fatalf("a grant of a deleted connector: %v", err)
	}
}

// makeIdle backdates a grant's last refresh past the grant-health cutoff.
func (e *env) makeIdle(grant uuid.UUID) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), `UPDATE grants SET last_refreshed_at = $2 WHERE id = $1`,
		grant, e.clock.Now().Add(-8*24*time.Hour)); err != nil {
		e.t.Fatal(err)
	}
}

// One scheduled run of grant health (the Temporal Schedule every worker
// ensures) refreshes an idle grant, turns one whose user revoked the app at
// Zoom invalid, and leaves a recently refreshed grant alone.
func TestGrantHealthScheduleRefreshesIdleGrantsAndInvalidatesRevokedOnes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	idleApp, revokedApp, recentApp := e.zoomApp(zoomScopes, false), e.zoomApp(zoomScopes, false), e.zoomApp(zoomScopes, false)
	idle, revoked, recent := e.zoomGrant(idleApp), e.zoomGrant(revokedApp), e.zoomGrant(recentApp)
	e.makeIdle(idle)
	e.makeIdle(revoked)
	// The user revokes the app at Zoom while we are not listening.
	resp, err := e.client.Post(e.simURL+"/_sim/users/"+revokedApp.user.ID+"/deauthorize", "application/json",
		strings.NewReader(`{"client_id":"`+revokedApp.clientID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before := map[string]int{"idle": e.refreshes(idleApp), "revoked": e.refreshes(revokedApp), "recent": e.refreshes(recentApp)}

	h := e.st.Temporal.ScheduleClient().GetHandle(ctx, workflows.GrantHealthScheduleID(e.st.TaskQueue))
	waitFor(t, "the worker to create the grant-health schedule", func() bool {
		_, err := h.Describe(ctx)
		return err == nil
	})
	// A second worker starting ensures the same schedule: no error, no second schedule.
	if _, err := workflows.EnsureGrantHealthSchedule(ctx, e.st.Temporal, e.st.TaskQueue); err != nil {
		t.Fatalf("a second worker's ensure: %v", err)
	}
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if iv := desc.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != time.Hour ||
		desc.Schedule.Policy.Overlap != enums.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Fatalf("schedule: %+v %+v, want every hour, never overlapping", desc.Schedule.Spec, desc.Schedule.Policy)
	}
	res := e.triggerAndAwait(h)
	if res.Refreshed != 1 || res.Invalidated != 1 || res.Failed != 0 || res.More {
		t.Fatalf("grant-health run: %+v; want 1 refreshed, 1 invalidated", res)
	}
	if got := e.refreshes(idleApp) - before["idle"]; got != 1 {
		t.Errorf("the idle grant was refreshed %d times at Zoom, want 1", got)
	}
	if got := e.refreshes(recentApp) - before["recent"]; got != 0 {
		t.Errorf("a recently refreshed grant was refreshed %d times", got)
	}
	if st, _ := e.grantStatus(idle); st != "valid" {
		t.Errorf("idle grant is %s after its refresh", st)
	}
	if st, hasTokens := e.grantStatus(revoked); st != "invalid" || hasTokens {
		t.Errorf("revoked grant is %s (tokens kept: %v), want invalid without tokens", st, hasTokens)
	}
	if st, _ := e.grantStatus(recent); st != "valid" {
		t.Errorf("recent grant is %s", st)
	}
	// The refreshed grant is no longer idle and the invalid one is out of
	// the sweep: the next run has nothing to do.
	if b, err := e.grants.Tokens.RefreshIdle(ctx, e.clock.Now().Add(-7*24*time.Hour), nil, 100); err != nil || b.Refreshed+b.Invalidated+b.Failed != 0 {
		t.Fatalf("after the run: %+v, %v; want nothing left to do", b, err)
	}
}

// triggerAndAwait runs the schedule's action now and waits for that run's result.
func (e *env) triggerAndAwait(h client.ScheduleHandle) workflows.GrantHealthResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := h.Describe(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	acted := d.Info.NumActions
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		e.t.Fatal(err)
	}
	var run *client.ScheduleWorkflowExecution
	waitFor(e.t, "the triggered run to start", func() bool {
		d, err := h.Describe(ctx)
		if err != nil || d.Info.NumActions <= acted || len(d.Info.RecentActions) == 0 {
			return false
		}
		run = d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
		return run != nil
	})
	var res workflows.GrantHealthResult
	if err := e.st.Temporal.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &res); err != nil {
		e.t.Fatalf("grant-health run: %v", err)
	}
	return res
}

// Grant health walks the idle grants in batches: each batch continues after
// the last grant of the one before, so a grant whose refresh fails for now
// cannot hold the sweep on the same rows.
func TestIdleGrantsAreRefreshedInBatches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var apps []zoomApp
	for range 5 {
		z := e.zoomApp(zoomScopes, false)
		apps = append(apps, z)
		e.makeIdle(e.zoomGrant(z))
	}
	// Zoom fails every refresh for now: nothing is refreshed, every batch
	// still moves on.
	_ = e.sim.SetFaults(zoomsimFaults("token", 503))
	cutoff := e.clock.Now().Add(-7 * 24 * time.Hour)
	var after *grants.IdleCursor
	var sizes []int
	for range 5 {
		b, err := e.grants.Tokens.RefreshIdle(ctx, cutoff, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.Refreshed+b.Invalidated+b.Failed)
		if b.Refreshed+b.Invalidated != 0 {
			t.Fatalf("refreshes succeeded while Zoom failed them: %+v", b)
		}
		if after = b.Next; after == nil {
			break
		}
	}
	if fmt.Sprint(sizes) != "[2 2 1]" {
		t.Fatalf("batches of %v grants, want [2 2 1]", sizes)
	}
	_ = e.sim.SetFaults(zoomsimFaults("", 0))
	b, err := e.grants.Tokens.RefreshIdle(ctx, cutoff, nil, 10)
	if err != nil || b.Refreshed != 5 || b.Next != nil {
		t.Fatalf("after Zoom recovered: %+v, %v; want 5 refreshed in one last batch", b, err)
	}
	for _, z := range apps {
		if e.refreshes(z) < 2 {
			t.Errorf("app %s: %d refresh calls, want the failed one and the good one", z.clientID, e.refreshes(z))
		}
	}
}

// 64 token requests for one expired grant, 32 in each of two processes that
// share only the database, make exactly one refresh at Zoom.
func TestSixtyFourConcurrentRequestsAcrossTwoProcessesRefreshOnce(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	g := e.zoomGrant(z)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `UPDATE grants SET access_expires_at = now() - interval '1 minute' WHERE id = $1`, g); err != nil {
		t.Fatal(err)
	}
	var version int64
	_ = e.pool.QueryRow(ctx, `SELECT token_version FROM grants WHERE id = $1`, g).Scan(&version)
	before := e.refreshes(z)
	// Each process connects, says "ready" and waits for its stdin to close;
	// once both are ready both are let go at once, so that their requests race.
	type helper struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
		stderr bytes.Buffer
	}
	helpers := make([]*helper, 2)
	for i := range helpers {
		h := &helper{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		h.cmd.Env = append(os.Environ(), "CONFHUB_TOKEN_HELPER=1", "HELPER_DB="+e.dbURL, "HELPER_SIM="+e.simURL,
			"HELPER_APP="+z.appID.String(), "HELPER_GRANT="+g.String(), "HELPER_N=32")
		h.cmd.Stderr = &h.stderr
		stdin, err := h.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := h.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		h.stdin, h.stdout = stdin, bufio.NewReader(stdout)
		if err := h.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.cmd.Process.Kill() }) // a no-op once it has exited
		helpers[i] = h
	}
	for i, h := range helpers {
		if line, err := h.stdout.ReadString('\n'); line != "ready\n" {
			_ = h.cmd.Process.Kill()
			_ = h.cmd.Wait() // then its stderr is complete
			t.Fatalf("process %d did not get ready: %q %v: %s", i, line, err, h.stderr.String())
		}
	}
	for _, h := range helpers {
		h.stdin.Close()
	}
	outs := make([][]string, len(helpers))
	var wg sync.WaitGroup
	for i, h := range helpers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rest, _ := io.ReadAll(h.stdout)
			outs[i] = strings.Fields(string(rest))
			if err := h.cmd.Wait(); err != nil {
				t.Errorf("process %d: %v: %s", i, err, h.stderr.String())
			}
		}()
	}
	wg.Wait()
	var tokens []string
	for _, out := range outs {
		tokens = append(tokens, out...)
	}
	if len(tokens) != 64 {
		t.Fatalf("%d tokens from the two processes, want 64", len(tokens))
	}
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Fatal("the processes were handed different tokens")
		}
	}
	if got := e.refreshes(z) - before; got != 1 {
		t.Fatalf("Zoom saw %d refreshes, want exactly 1", got)
	}
	var status string
	var after int64
	_ = e.pool.QueryRow(ctx, `SELECT grant_status, token_version FROM grants WHERE id = $1`, g).Scan(&status, &after)
	if status != "valid" || after != version+1 {
		t.Fatalf("grant %s at version %d, want valid at %d", status, after, version+1)
	}
	zc := zoom.New(zoom.Config{OAuthURL: e.simURL, APIURL: e.simURL + "/v2"})
	if _, err := zc.Me(ctx, tokens[0]); err != nil {
		t.Fatalf("the shared token at Zoom: %v", err)
	}
}

// tokenHelper is one process of the race test: once connected it prints
// "ready", waits for its stdin to close, then asks for the grant's token from
// HELPER_N goroutines at once and prints them.
func tokenHelper() int {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("HELPER_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	kr, _ := vault.New([]vault.Key{{ID: "test1", Secret: bytes.Repeat([]byte{42}, vault.KeySize)}})
	sim := os.Getenv("HELPER_SIM")
	tokens := grants.NewTokens(pool, kr, zoom.New(zoom.Config{OAuthURL: sim, APIURL: sim + "/v2"}),
		connectors.NewStore(pool, kr), nil, slog.New(slog.DiscardHandler))
	app, grant := uuid.MustParse(os.Getenv("HELPER_APP")), uuid.MustParse(os.Getenv("HELPER_GRANT"))
	n, _ := strconv.Atoi(os.Getenv("HELPER_N"))
	if err := pool.Ping(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes it: the start
	out := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := tokens.Get(ctx, app, grant)
			out[i], errs[i] = tok.Token, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			fmt.Fprintln(os.Stderr, errs[i])
			return 1
		}
		fmt.Println(out[i])
	}
	return 0
}
