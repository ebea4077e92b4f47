package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/confhub/confhub/api"
	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/config"
	"github.com/confhub/confhub/internal/contract"
	"github.com/confhub/confhub/internal/pgtest"
	"github.com/confhub/confhub/internal/stack"
	"github.com/confhub/confhub/internal/vault"
	"github.com/confhub/confhub/workflows"
)

func TestMain(m *testing.M) {
	// The same binary doubles as a second process for the refresh-race test.
	if os.Getenv("CONFHUB_TOKEN_HELPER") == "1" {
		os.Exit(tokenHelper())
	}
	os.Exit(pgtest.Run(m))
}

// syncBuffer collects log output written from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable time source shared by the simulator and the service.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

var (
	temporalOnce sync.Once
	temporalSrv  *temporaltest.TestServer
	temporalC    client.Client
)

// sharedTemporal is one in-process Temporal server per test binary; each env
// uses its own task queue on it.
func sharedTemporal() client.Client {
	temporalOnce.Do(func() {
		temporalSrv = temporaltest.NewServer()
		temporalC = temporalSrv.GetDefaultClient()
	})
	return temporalC
}

// env is one API server on its own database, with a Zoom simulator, its log
// captured: the service graph exactly as serve builds it (internal/stack),
// on a task queue of its own on the shared Temporal server.
type env struct {
	t      *testing.T
	st     *stack.Stack
	srv    *httptest.Server
	pool   *pgxpool.Pool
	dbURL  string
	apps   *applications.Store
	conns  *connectors.Store
	grants *grants.Service
	keys   *vault.Keyring
	logs   *syncBuffer
	client *http.Client
	sim    *zoomsim.Sim
	simURL string
	clock  *clock
	worker interface{ Stop() }
	opts   stack.Options // what the stack was made with
	// internalFailures is set by tests that break the database on purpose,
	// where a 500 is the right answer.
	internalFailures bool
}

func testKeyring(t testing.TB) *vault.Keyring {
	kr, err := vault.New([]vault.Key{{ID: "test1", Secret: bytes.Repeat([]byte{42}, vault.KeySize)}})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newEnv(t *testing.T, simOpts ...func(*zoomsim.Options)) *env {
	t.Helper()
	return newEnvStack(t, nil, simOpts...)
}

// Test pace for the sweeper: the outbox's leftovers and open attempts are
// taken up within a second or two, not the production seconds.
var (
	testOutboxGrace = time.Second
	testSweeper     = workflows.SweeperInput{V: workflows.ContractVersion, Interval: 200 * time.Millisecond, AttemptIdle: time.Second}
)

// newEnvStack is newEnv with the stack's options adjusted by adjust (nil: as is).
func newEnvStack(t *testing.T, adjust func(*stack.Options), simOpts ...func(*zoomsim.Options)) *env {
	t.Helper()
	pool, dbURL := pgtest.New(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	kr := testKeyring(t)
	clk := &clock{}
	so := zoomsim.Options{Now: clk.Now, Log: log}
	for _, f := range simOpts {
		f(&so)
	}
	sim := zoomsim.New(so)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	// The server must know its own URL (the OAuth callback) before it starts.
	srv := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + srv.Listener.Addr().String()
	opts := stack.Options{
		Config: config.Config{Keyring: kr, PublicURL: publicURL, ZoomOAuthURL: simSrv.URL, ZoomAPIURL: simSrv.URL + "/v2"},
		Pool:   pool, Log: log, Temporal: sharedTemporal(), TaskQueue: "test-" + uuid.NewString(), Now: clk.Now,
		OutboxGrace: testOutboxGrace, Sweeper: testSweeper,
	}
	if adjust != nil {
		adjust(&opts)
	}
	st, err := stack.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	w, err := st.StartWorker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, srv: srv, pool: pool, dbURL: dbURL, apps: st.Apps, conns: st.Connectors, grants: st.Grants, keys: kr,
		logs: logs, sim: sim, simURL: simSrv.URL, clock: clk, worker: w, opts: opts}
	t.Cleanup(func() { e.worker.Stop() })
	srv.Config.Handler = checkContract(t, st.API.Handler())
	srv.Start()
	e.client = srv.Client()
	t.Cleanup(srv.Close)
	t.Cleanup(sim.WaitWebhooks)
	return e
}

var (
	contractOnce sync.Once
	apiContract  *contract.Validator
	contractErr  error
)

// checkContract wraps the test server's handler so that every exchange it
// serves is checked against api/openapi.yaml, and one that leaves it fails
// the test. Sitting at the server, it sees every API call whoever sends it:
// env.do, the raw requests some tests build, the OAuth tests' browser, the
// Zoom simulator's webhooks. The simulator's own routes are another server
// and are never checked.
//
// A request outside the document is a difference only when the server took
// it: when it answered 4xx, only the response is checked. Tests send bad
// requests on purpose (malformed JSON, unknown fields, wrong types, bodies
// over 1 MiB, bad credentials) to see them refused, and a refusal is what the
// document promises for such a request; a request the document forbids but
// the server accepts (2xx), or fails on (5xx), is still reported. This needs
// no marking in the tests, and it cannot hide a drifted answer: every
// response, 4xx included, is checked.
func checkContract(t *testing.T, next http.Handler) http.Handler {
	contractOnce.Do(func() { apiContract, contractErr = contract.Load(api.OpenAPISpec()) })
	if contractErr != nil {
		t.Fatalf("api/openapi.yaml: %v", contractErr)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("contract check: reading the request body of %s %s: %v", r.Method, r.URL.Path, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		rec := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if rec.status >= 400 && rec.status < 500 {
			err = apiContract.CheckResponse(r, rec.status, rec.Header(), rec.body.Bytes())
		} else {
			err = apiContract.Check(r, reqBody, rec.status, rec.Header(), rec.body.Bytes())
		}
		if err != nil {
			t.Errorf("%v\nrequest: %s %s %.300s\nresponse: %.500s", err, r.Method, r.URL, reqBody, rec.body.Bytes())
		}
	})
}

// recordingWriter passes a response through and keeps a copy of its status
// and body for the contract check.
type recordingWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newApp creates an application and returns its API key.
func (e *env) newApp(name string) string {
	e.t.Helper()
	_, key, err := e.apps.Create(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return key
}

type response struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

// do sends a request; body may be a string (sent as is) or a value (JSON-encoded).
func (e *env) do(method, path, key string, body any) response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	e.checkEnvelope(method, path, out)
	return out
}

// checkEnvelope asserts the conventions every response must follow.
func (e *env) checkEnvelope(method, path string, r response) {
	e.t.Helper()
	id := r.Header.Get("x-request-id")
	if id == "" {
		e.t.Errorf("%s %s: no x-request-id header", method, path)
	}
	if path == "/openapi.yaml" && r.Status == http.StatusOK {
		return
	}
	// The OAuth endpoints answer in the OAuth shape (flat, no envelope), and
	// Zoom's URL validation gets exactly what Zoom expects.
	for _, p := range []string{"/v3/connect/token", "/v3/connect/revoke", "/v3/connect/zoom/webhook"} {
		if strings.HasPrefix(path, p) {
			if r.Status >= 500 {
				e.t.Errorf("%s %s: server error %d: %s", method, path, r.Status, r.Raw)
			}
			return
		}
	}
	if r.Body == nil {
		e.t.Fatalf("%s %s: %d with no JSON body: %q", method, path, r.Status, r.Raw)
	}
	if got, _ := r.Body["request_id"].(string); got != id {
		e.t.Errorf("%s %s: body request_id %q != header %q", method, path, got, id)
	}
	if path == "/readyz" {
		return // 503 with a status body is its job
	}
	// 502/504 provider_error is the contract's answer when Zoom fails; any
	// other 5xx is a defect.
	if r.Status >= 500 && !((r.Status == 502 || r.Status == 504) && strings.Contains(r.Raw, `"provider_error"`)) &&
		!(e.internalFailures && r.Status == 500) {
		e.t.Errorf("%s %s: server error %d: %s", method, path, r.Status, r.Raw)
	}
	if r.Status >= 400 {
		errObj, _ := r.Body["error"].(map[string]any)
		if errObj == nil || errObj["type"] == "" || errObj["message"] == "" {
			e.t.Errorf("%s %s: %d without an error object: %s", method, path, r.Status, r.Raw)
		}
	}
}

func (r response) data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

func (r response) list() []any {
	d, _ := r.Body["data"].([]any)
	return d
}

func (r response) errType() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

func (r response) errMessage() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (e *env) expect(r response, status int, what string) {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Raw)
	}
}

func zoomConnector(secret string) map[string]any {
	return map[string]any{"provider": "zoom", "settings": map[string]any{"client_id": "zoom-client-1", "client_secret": secret}}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readResponse(t *testing.T, resp *http.Response) response {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}
