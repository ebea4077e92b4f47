package api_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/confhub/confhub/api"
	"github.com/confhub/confhub/internal/apperr"
)

// fakePages is the scheduler service as the page handlers see it.
type fakePages struct {
	mu    sync.Mutex
	calls int
	// bySlug: slug -> application id -> page.
	bySlug  map[string]map[string]api.SchedulerPage
	byConf  map[string]api.SchedulerPage
	byRef   map[string]api.SchedulerPage
	failing error
}

func (f *fakePages) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = err
}

func (f *fakePages) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakePages) called() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.failing
}

func (f *fakePages) PageBySlug(_ context.Context, slug, clientID string) (api.SchedulerPage, error) {
	if err := f.called(); err != nil {
		return api.SchedulerPage{}, err
	}
	apps := f.bySlug[slug]
	if clientID != "" {
		if p, ok := apps[clientID]; ok {
			return p, nil
		}
		return api.SchedulerPage{}, apperr.NotFoundf("no booking page %q for this client_id", slug)
	}
	switch len(apps) {
	case 0:
		return api.SchedulerPage{}, apperr.NotFoundf("no booking page %q", slug)
	case 1:
		for _, p := range apps {
			return p, nil
		}
	}
	return api.SchedulerPage{}, apperr.InvalidField("client_id", "is required: several applications have the slug %q", slug)
}

func (f *fakePages) PageByConfiguration(_ context.Context, id string) (api.SchedulerPage, error) {
	if err := f.called(); err != nil {
		return api.SchedulerPage{}, err
	}
	if p, ok := f.byConf[id]; ok {
		return p, nil
	}
	return api.SchedulerPage{}, apperr.NotFoundf("configuration not found")
}

func (f *fakePages) PageByBookingRef(_ context.Context, ref string) (api.SchedulerPage, error) {
	if err := f.called(); err != nil {
		return api.SchedulerPage{}, err
	}
	if p, ok := f.byRef[ref]; ok {
		return p, nil
	}
	return api.SchedulerPage{}, apperr.NotFoundf("booking not found")
}

const pagePublicURL = "https://book.confhub.example:8443"

var (
	appA        = uuid.MustParse("6f1c1a52-8d1e-4c43-9a55-0a5f2b8e9d01")
	appB        = uuid.MustParse("a3e2b0c4-1f5d-4e8a-b7c6-9d0e1f2a3b4c")
	publicPage  = api.SchedulerPage{ApplicationID: appA, ConfigurationID: uuid.MustParse("0f8c5b1e-2a3d-4c5e-8f90-1a2b3c4d5e6f"), Slug: "demo"}
	privatePage = api.SchedulerPage{ApplicationID: appA, ConfigurationID: uuid.MustParse("5b7f0e2a-9c1d-4e3f-8a6b-2c4d6e8f0a1b"), Slug: "private", RequiresSession: true}
	otherPage   = api.SchedulerPage{ApplicationID: appB, ConfigurationID: uuid.MustParse("c9d8e7f6-a5b4-4c3d-9e2f-1a0b9c8d7e6f"), Slug: "shared"}
	sharedPageA = api.SchedulerPage{ApplicationID: appA, ConfigurationID: uuid.MustParse("d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"), Slug: "shared"}
	// A booking reference as the component decodes it: base64url of the
	// configuration id, the booking id and a salt.
	goodRef = "D4xbHio9TF6PkBorPE1ebxEREREiIkMzhERVVVVVVVUBAgMEBQYHCAkKCwwNDg8Q"
	evilRef = `"><script>alert(1)</script>`
)

type pageServer struct {
	t     *testing.T
	srv   *httptest.Server
	pages *fakePages
	dir   string
}

// newPageServer serves the API with fakePages and a stand-in bundle
// directory; adjust changes the deps first.
func newPageServer(t *testing.T, adjust func(*api.Deps)) *pageServer {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "nylas-scheduling"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nylas-scheduling", "nylas-scheduling.es.js"), []byte("export function defineCustomElement() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &fakePages{
		bySlug: map[string]map[string]api.SchedulerPage{
			"demo":    {appA.String(): publicPage},
			"private": {appA.String(): privatePage},
			"shared":  {appA.String(): sharedPageA, appB.String(): otherPage},
		},
		byConf: map[string]api.SchedulerPage{publicPage.ConfigurationID.String(): publicPage, privatePage.ConfigurationID.String(): privatePage},
		byRef:  map[string]api.SchedulerPage{goodRef: publicPage, evilRef: publicPage, "private-ref": privatePage},
	}
	deps := api.Deps{Log: slog.New(slog.DiscardHandler), SchedulerPages: p, PublicURL: pagePublicURL + "/", WebElementsDir: dir}
	if adjust != nil {
		adjust(&deps)
	}
	srv := httptest.NewServer(api.New(deps).Handler())
	t.Cleanup(srv.Close)
	return &pageServer{t: t, srv: srv, pages: p, dir: dir}
}

type pageAnswer struct {
	status int
	header http.Header
	body   string
}

func (ps *pageServer) get(path string, header ...string) pageAnswer {
	ps.t.Helper()
	req, err := http.NewRequest(http.MethodGet, ps.srv.URL+path, nil)
	if err != nil {
		ps.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ps.srv.Client().Do(req)
	if err != nil {
		ps.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pageAnswer{resp.StatusCode, resp.Header, string(b)}
}

var componentTag = regexp.MustCompile(`(?s)<nylas-scheduling\b(.*?)></nylas-scheduling>`)
var attribute = regexp.MustCompile(`\s([a-z0-9-]+)="([^"]*)"`)

// component returns the attributes of the page's <nylas-scheduling>, or
// fails when the page does not host exactly one.
func (a pageAnswer) component(t *testing.T) map[string]string {
	t.Helper()
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d (%s), want a 200 HTML page: %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	tags := componentTag.FindAllStringSubmatch(a.body, -1)
	if len(tags) != 1 {
		t.Fatalf("the page hosts %d <nylas-scheduling> elements, want 1:\n%s", len(tags), a.body)
	}
	attrs := map[string]string{}
	for _, m := range attribute.FindAllStringSubmatch(tags[0][1], -1) {
		attrs[m[1]] = m[2]
	}
	return attrs
}

// message asserts an HTML page with status that says want, hosting no component.
func (a pageAnswer) message(t *testing.T, status int, want string) {
	t.Helper()
	if a.status != status || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d (%s), want %d as an HTML page: %s", a.status, a.header.Get("Content-Type"), status, a.body)
	}
	if strings.Contains(a.body, "<nylas-scheduling") {
		t.Fatalf("a %d page hosts the component:\n%s", status, a.body)
	}
	if !strings.Contains(a.body, want) {
		t.Fatalf("the %d page does not say %q:\n%s", status, want, a.body)
	}
}

// The slug page hosts the component pointed at this service's origin (the
// component replaces the path of scheduler-api-url) and at the
// configuration, imports the bundle served here, and allows itself no
// request elsewhere.
func TestSchedulerPageBySlug(t *testing.T) {
	ps := newPageServer(t, nil)
	for _, path := range []string{"/scheduler/demo?client_id=" + appA.String(), "/scheduler/demo"} {
		a := ps.get(path)
		attrs := a.component(t)
		want := map[string]string{"scheduler-api-url": pagePublicURL, "configuration-id": publicPage.ConfigurationID.String(),
			"enable-user-feedback": "false", "nylas-branding": "false"}
		for k, v := range want {
			if attrs[k] != v {
				t.Errorf("%s: %s=%q, want %q", path, k, attrs[k], v)
			}
		}
		for _, k := range []string{"session-id", "reschedule-booking-ref", "cancel-booking-ref", "organizer-confirmation-booking-ref"} {
			if _, ok := attrs[k]; ok {
				t.Errorf("%s: unexpected %s", path, k)
			}
		}
		if !strings.Contains(a.body, `import("/scheduler/assets/nylas-scheduling/nylas-scheduling.es.js")`) ||
			!strings.Contains(a.body, "defineCustomElement()") {
			t.Fatalf("%s: the page does not import the bundle served here and define the element:\n%s", path, a.body)
		}
		// Nothing off this machine: the only absolute URL is the API's.
		for _, u := range regexp.MustCompile(`https?://[^\s"'<>)]+`).FindAllString(a.body, -1) {
			if !strings.HasPrefix(u, pagePublicURL) {
				t.Errorf("%s: the page names %s", path, u)
			}
		}
		csp := a.header.Get("Content-Security-Policy")
		nonce := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self' "+pagePublicURL+";") ||
			nonce == nil || !strings.Contains(a.body, `<script type="module" nonce="`+nonce[1]+`">`) {
			t.Errorf("%s: Content-Security-Policy %q does not confine the page to its script and the API", path, csp)
		}
		if a.header.Get("Referrer-Policy") != "no-referrer" || a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: a page whose URL may carry a session is cacheable or leaks it: %v", path, a.header)
		}
	}
	if first, second := ps.get("/scheduler/demo"), ps.get("/scheduler/demo"); first.header.Get("Content-Security-Policy") == second.header.Get("Content-Security-Policy") {
		t.Error("two pages got the same script nonce")
	}

	ps.get("/scheduler/nope").message(t, http.StatusNotFound, "no booking page")
	ps.get("/scheduler/demo?client_id="+appB.String()).message(t, http.StatusNotFound, "no booking page")
	// One slug in two applications: the page cannot guess which.
	ps.get("/scheduler/shared").message(t, http.StatusBadRequest, "client_id: is required")
	if got := ps.get("/scheduler/shared?client_id=" + appB.String()).component(t)["configuration-id"]; got != otherPage.ConfigurationID.String() {
		t.Fatalf("slug shared with client_id B shows configuration %s", got)
	}
}

func TestSchedulerPageByConfigurationAndRef(t *testing.T) {
	ps := newPageServer(t, nil)
	if got := ps.get("/scheduler/configurations/" + publicPage.ConfigurationID.String()).component(t)["configuration-id"]; got != publicPage.ConfigurationID.String() {
		t.Fatalf("configuration page shows %q", got)
	}
	ps.get("/scheduler/configurations/"+uuid.NewString()).message(t, http.StatusNotFound, "configuration not found")

	for page, attr := range map[string]string{"reschedule": "reschedule-booking-ref", "cancel": "cancel-booking-ref", "confirm": "organizer-confirmation-booking-ref"} {
		attrs := ps.get("/scheduler/" + page + "/" + goodRef).component(t)
		if attrs[attr] != goodRef || attrs["scheduler-api-url"] != pagePublicURL {
			t.Errorf("%s page: %v, want %s=%s", page, attrs, attr, goodRef)
		}
		for _, other := range []string{"reschedule-booking-ref", "cancel-booking-ref", "organizer-confirmation-booking-ref"} {
			if _, ok := attrs[other]; ok && other != attr {
				t.Errorf("%s page also sets %s", page, other)
			}
		}
		ps.get("/scheduler/"+page+"/AAAA").message(t, http.StatusNotFound, "booking not found")
	}
}

// Whatever a link carries lands in the page escaped.
func TestSchedulerPageEscapes(t *testing.T) {
	ps := newPageServer(t, nil)
	a := ps.get("/scheduler/cancel/" + url.PathEscape(evilRef))
	if got := a.component(t)["cancel-booking-ref"]; got != "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" {
		t.Fatalf("cancel-booking-ref=%q", got)
	}
	if strings.Contains(a.body, "<script>alert") {
		t.Fatalf("the ref reached the page unescaped:\n%s", a.body)
	}
	session := `s"onload="alert(1)`
	b := ps.get("/scheduler/private?session_id=" + url.QueryEscape(session))
	if got := b.component(t)["session-id"]; got != "s&#34;onload=&#34;alert(1)" || strings.Contains(b.body, `"onload="`) {
		t.Fatalf("session-id=%q:\n%s", got, b.body)
	}
	// Text the database cannot hold is refused before any lookup.
	before := ps.pages.count()
	ps.get("/scheduler/demo%00").message(t, http.StatusBadRequest, "slug: contains a NUL character")
	ps.get("/scheduler/demo?client_id=%FF").message(t, http.StatusBadRequest, "client_id: is not valid UTF-8")
	ps.get("/scheduler/demo?session_id="+strings.Repeat("s", 1025)).message(t, http.StatusBadRequest, "session_id: must be at most 1024 characters")
	if n := ps.pages.count(); n != before {
		t.Fatalf("refused requests reached the lookup (%d calls)", n-before)
	}
}

// A private configuration's page opens only with a session.
func TestSchedulerPagePrivate(t *testing.T) {
	ps := newPageServer(t, nil)
	ps.get("/scheduler/private").message(t, http.StatusForbidden, "session_id")
	ps.get("/scheduler/configurations/"+privatePage.ConfigurationID.String()).message(t, http.StatusForbidden, "POST /v3/scheduling/sessions")
	ps.get("/scheduler/reschedule/private-ref").message(t, http.StatusForbidden, "session_id")
	attrs := ps.get("/scheduler/private?session_id=sess-123").component(t)
	if attrs["session-id"] != "sess-123" || attrs["configuration-id"] != privatePage.ConfigurationID.String() {
		t.Fatalf("private page with a session: %v", attrs)
	}
	if got := ps.get("/scheduler/reschedule/private-ref?session_id=sess-123").component(t); got["session-id"] != "sess-123" || got["reschedule-booking-ref"] != "private-ref" {
		t.Fatalf("private reschedule page with a session: %v", got)
	}
}

func TestSchedulerPageFailures(t *testing.T) {
	// Without the scheduler service there are no pages.
	none := newPageServer(t, func(d *api.Deps) { d.SchedulerPages = nil })
	none.get("/scheduler/demo").message(t, http.StatusNotFound, "does not host booking pages")

	// A failing lookup is a 500 page quoting the request id, not the cause.
	ps := newPageServer(t, nil)
	ps.pages.fail(errors.New("connection reset by peer (db.internal:5432)"))
	a := ps.get("/scheduler/demo")
	a.message(t, http.StatusInternalServerError, a.header.Get("X-Request-Id"))
	if strings.Contains(a.body, "db.internal") {
		t.Fatalf("the page shows the internal cause:\n%s", a.body)
	}

	// Until the schema is migrated the page says it is starting.
	starting := newPageServer(t, func(d *api.Deps) { d.SchemaReady = func() bool { return false } })
	b := starting.get("/scheduler/demo")
	b.message(t, http.StatusServiceUnavailable, "starting")
	if b.header.Get("Retry-After") == "" {
		t.Fatal("503 page without Retry-After")
	}
}

// The bundle is served from the installed directory as JavaScript; a page
// whose bundle is not installed says how to install it; a CDN copy needs
// no local one.
func TestSchedulerPageAssets(t *testing.T) {
	ps := newPageServer(t, nil)
	js := ps.get("/scheduler/assets/nylas-scheduling/nylas-scheduling.es.js", "Origin", "https://shop.example.com")
	if js.status != http.StatusOK || js.header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		js.body != "export function defineCustomElement() {}\n" || js.header.Get("Access-Control-Allow-Origin") != "*" ||
		js.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("bundle: %d %v %q", js.status, js.header, js.body)
	}
	etag := js.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if again := ps.get("/scheduler/assets/nylas-scheduling/nylas-scheduling.es.js", "If-None-Match", etag); again.status != http.StatusNotModified {
		t.Fatalf("If-None-Match with the ETag: %d", again.status)
	}
	// A new version of the file is a new ETag.
	if err := os.WriteFile(filepath.Join(ps.dir, "nylas-scheduling", "nylas-scheduling.es.js"), []byte("export function defineCustomElement() { /* v2 */ }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v2 := ps.get("/scheduler/assets/nylas-scheduling/nylas-scheduling.es.js", "If-None-Match", etag); v2.status != http.StatusOK || v2.header.Get("ETag") == etag {
		t.Fatalf("a changed file: %d, ETag %s", v2.status, v2.header.Get("ETag"))
	}
	secret := filepath.Join(filepath.Dir(ps.dir), "secret.txt")
	if err := os.WriteFile(secret, []byte("not for the web"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/scheduler/assets/nylas-scheduling/missing.js", "/scheduler/assets/nylas-scheduling/..%2F..%2F" + filepath.Base(secret),
		"/scheduler/assets/..%2F..%2F" + filepath.Base(filepath.Dir(secret)) + "/secret.txt", "/scheduler/assets/nylas-scheduling/.hidden"} {
		a := ps.get(p)
		if a.status != http.StatusNotFound || strings.Contains(a.body, "not for the web") || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q", p, a.status, a.body)
		}
	}

	missing := newPageServer(t, func(d *api.Deps) { d.WebElementsDir = filepath.Join(t.TempDir(), "absent") })
	a := missing.get("/scheduler/assets/nylas-scheduling/nylas-scheduling.es.js")
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "make web-elements") {
		t.Fatalf("bundle not installed: %d %q", a.status, a.body)
	}
	missing.get("/scheduler/demo").message(t, http.StatusServiceUnavailable, "make web-elements")

	const cdn = "https://cdn.example.net/npm/@nylas/web-elements@2.6.0/dist/cdn/nylas-scheduling/nylas-scheduling.es.js"
	remote := newPageServer(t, func(d *api.Deps) { d.WebElementsDir = ""; d.SchedulerBundleURL = cdn })
	b := remote.get("/scheduler/demo")
	b.component(t)
	if !strings.Contains(b.body, `import("https://cdn.example.net/npm/@nylas/web-elements@2.6.0/dist/cdn/nylas-scheduling/nylas-scheduling.es.js")`) ||
		!strings.Contains(b.header.Get("Content-Security-Policy"), "' https://cdn.example.net;") {
		t.Fatalf("CDN bundle: CSP %q, page:\n%s", b.header.Get("Content-Security-Policy"), b.body)
	}
}
