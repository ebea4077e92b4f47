package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/strictjson"
)

// SchedulerPage is what a hosted booking page shows.
type SchedulerPage struct {
	ApplicationID, ConfigurationID uuid.UUID
	Slug                           string
	RequiresSession                bool
}

// SchedulerPages resolves hosted pages (events/scheduler's Service).
type SchedulerPages interface {
	// PageBySlug: apperr NotFound, or Invalid when the slug is several
	// applications' and clientID (the application id) is empty.
	PageBySlug(ctx context.Context, slug, clientID string) (SchedulerPage, error)
	PageByConfiguration(ctx context.Context, configurationID string) (SchedulerPage, error)
	// PageByBookingRef decodes the ref and checks the booking exists.
	PageByBookingRef(ctx context.Context, ref string) (SchedulerPage, error)
}

// schedulerBundlePath is where this service serves the <nylas-scheduling>
// module (from Deps.WebElementsDir), and what the page imports unless
// Deps.SchedulerBundleURL names another copy.
const (
	schedulerAssetsPrefix = "/scheduler/assets/"
	schedulerBundleFile   = "nylas-scheduling/nylas-scheduling.es.js"
)

//go:embed schedulerpage.html
var schedulerPageHTML string

var schedulerPageTmpl = template.Must(template.New("schedulerpage").Parse(schedulerPageHTML))

// schedulerPageView fills schedulerpage.html. html/template escapes each
// value for where it lands (attribute, text, the module's JS string).
type schedulerPageView struct {
	Nonce string
	// The component, when there is one to show.
	Component                            bool
	APIURL, BundleURL                    string
	ConfigurationID, SessionID           string
	RescheduleRef, CancelRef, ConfirmRef string
	// Otherwise a message.
	Status           int
	Heading, Message string
	RequestID        string
}

// refKind says which booking-ref page is asked for, and so which attribute
// of the component carries the ref.
type refKind int

const (
	noRef refKind = iota
	rescheduleRef
	cancelRef
	confirmRef
)

func (s *Server) schedulerPageBySlug(c echo.Context) error {
	return s.schedulerPage(c, "slug", noRef, func(p SchedulerPages, ctx context.Context, slug string) (SchedulerPage, error) {
		return p.PageBySlug(ctx, slug, c.QueryParam("client_id"))
	})
}

func (s *Server) schedulerPageByConfiguration(c echo.Context) error {
	return s.schedulerPage(c, "configuration_id", noRef, SchedulerPages.PageByConfiguration)
}

func (s *Server) schedulerReschedulePage(c echo.Context) error {
	return s.schedulerPage(c, "booking_ref", rescheduleRef, SchedulerPages.PageByBookingRef)
}

func (s *Server) schedulerCancelPage(c echo.Context) error {
	return s.schedulerPage(c, "booking_ref", cancelRef, SchedulerPages.PageByBookingRef)
}

func (s *Server) schedulerConfirmPage(c echo.Context) error {
	return s.schedulerPage(c, "booking_ref", confirmRef, SchedulerPages.PageByBookingRef)
}

// schedulerPage answers a hosted booking page: the component set up for
// the configuration that lookup finds from the path parameter param, or a
// page saying why there is none.
func (s *Server) schedulerPage(c echo.Context, param string, kind refKind,
	lookup func(SchedulerPages, context.Context, string) (SchedulerPage, error)) error {
	if s.deps.SchedulerPages == nil {
		return s.schedulerMessage(c, http.StatusNotFound, "No booking pages here", "This server does not host booking pages.")
	}
	if !s.schemaReady() {
		return s.schedulerMessage(c, http.StatusServiceUnavailable, "Starting up", "The service is starting; reload this page in a few seconds.")
	}
	// What reaches the lookup is judged as on the API routes: text the
	// database cannot hold is a 400 naming it, not a failed query.
	value, err := pathParam(c, param)
	if err != nil {
		return s.schedulerError(c, err)
	}
	if err := formTextProblem(c.QueryParams(), "query parameter"); err != nil {
		return s.schedulerError(c, err)
	}
	session := c.QueryParam("session_id")
	if len(session) > 1024 {
		return s.schedulerError(c, apperr.InvalidField("session_id", "must be at most 1024 characters"))
	}
	page, err := lookup(s.deps.SchedulerPages, c.Request().Context(), value)
	if err != nil {
		return s.schedulerError(c, err)
	}
	// The component would fail on every call without the session: say so
	// here, where the one who opened the link can read it.
	if page.RequiresSession && session == "" {
		return s.schedulerMessage(c, http.StatusForbidden, "This booking page is private",
			"It opens only with a session: the application creates one (POST /v3/scheduling/sessions) and links here with ?session_id=<session id>.")
	}
	bundle := s.deps.SchedulerBundleURL
	if bundle == "" {
		if _, err := s.assetFile(schedulerBundleFile); err != nil {
			return s.schedulerMessage(c, http.StatusServiceUnavailable, "The booking component is not installed", bundleMissing(s.deps.WebElementsDir))
		}
		bundle = schedulerAssetsPrefix + schedulerBundleFile
	}
	v := schedulerPageView{Component: true, APIURL: s.apiOrigin(), BundleURL: bundle, SessionID: session}
	if page.ConfigurationID != uuid.Nil {
		v.ConfigurationID = page.ConfigurationID.String()
	}
	switch kind {
	case rescheduleRef:
		v.RescheduleRef = value
	case cancelRef:
		v.CancelRef = value
	case confirmRef:
		v.ConfirmRef = value
	}
	return s.renderSchedulerPage(c, http.StatusOK, v)
}

// pathParam is a path parameter decoded and judged. Echo leaves parameters
// escaped when the path holds escapes its decoded form would lose (an
// encoded slash), and decoded otherwise.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath != "" {
		d, err := url.PathUnescape(v)
		if err != nil {
			return "", apperr.InvalidField(name, "is not a valid path segment")
		}
		v = d
	}
	if why := strictjson.TextProblem(v); why != "" {
		return "", apperr.InvalidField(name, "%s", why)
	}
	return v, nil
}

// apiOrigin is what the component is given as scheduler-api-url: it keeps
// only a URL's origin (it replaces the path), so the origin is what counts.
func (s *Server) apiOrigin() string {
	if o, ok := applications.OriginOf(s.deps.PublicURL); ok {
		return o
	}
	return s.deps.PublicURL
}

func (s *Server) schedulerError(c echo.Context, err error) error {
	status, detail := s.classify(err, c)
	heading := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		heading = "Booking page not found"
	case http.StatusBadRequest:
		heading = "This booking link is not valid"
	}
	return s.schedulerMessage(c, status, heading, detail.Message)
}

func (s *Server) schedulerMessage(c echo.Context, status int, heading, message string) error {
	return s.renderSchedulerPage(c, status, schedulerPageView{Status: status, Heading: heading, Message: message, RequestID: requestIDOf(c)})
}

func (s *Server) renderSchedulerPage(c echo.Context, status int, v schedulerPageView) error {
	nonce := make([]byte, 18)
	_, _ = rand.Read(nonce)
	v.Nonce = base64.RawURLEncoding.EncodeToString(nonce) // nothing html/template would escape
	var b strings.Builder
	if err := schedulerPageTmpl.Execute(&b, v); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", s.schedulerPageCSP(v))
	// The URL may carry a session id or a booking ref: it must not travel
	// on in a Referer, nor stay in a shared cache.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfterSeconds)
	}
	return c.HTML(status, b.String())
}

// schedulerPageCSP lets the page load the component's module and talk to the
// API, and nothing else: no fonts, scripts or beacons from elsewhere (the
// component's optional Sentry feedback is switched off, and this makes sure).
// Images may come over https: a configuration's logo is the application's
// choice.
func (s *Server) schedulerPageCSP(v schedulerPageView) string {
	script := "'self'"
	if o, ok := applications.OriginOf(v.BundleURL); ok {
		script = o
	}
	connect := "'self'"
	if o := s.apiOrigin(); o != "" {
		connect += " " + o
	}
	return "default-src 'none'; script-src 'nonce-" + v.Nonce + "' " + script + "; connect-src " + connect +
		"; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; font-src 'self' data:; base-uri 'none'; form-action 'self'"
}

// schedulerAsset serves the @nylas/web-elements CDN files (the page's
// module) from Deps.WebElementsDir. The bundle is public code, which sites
// embedding the component may import from here: any origin may read it.
func (s *Server) schedulerAsset(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	name := c.Param("component") + "/" + c.Param("file")
	if !fs.ValidPath(name) || strings.Contains(name, "\\") || strings.HasPrefix(path.Base(name), ".") {
		return c.String(http.StatusNotFound, "no such asset: "+name+"\n")
	}
	a, err := s.assetFile(name)
	if errors.Is(err, errAssetsMissing) {
		h.Set("Retry-After", retryAfterSeconds)
		return c.String(http.StatusServiceUnavailable, bundleMissing(s.deps.WebElementsDir)+"\n")
	}
	if err != nil {
		return c.String(http.StatusNotFound, "no such asset: "+name+"\n")
	}
	f, err := os.Open(a.path)
	if err != nil {
		return c.String(http.StatusNotFound, "no such asset: "+name+"\n")
	}
	defer f.Close()
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		ctype = "text/javascript; charset=utf-8"
	case ".map":
		ctype = "application/json"
	case "":
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	// The URL does not name the version; the ETag does (it is the content's
	// hash), so a browser revalidates cheaply and never keeps an old bundle
	// for long.
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", a.etag)
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, f)
	return nil
}

var errAssetsMissing = errors.New("the web-elements directory is missing")

type assetInfo struct {
	path, etag string
	size       int64
	mod        time.Time
}

var (
	assetETagsMu sync.Mutex
	assetETags   = map[string]assetInfo{}
)

// assetFile finds a regular file under WebElementsDir (errAssetsMissing
// when the directory itself is not there) and its ETag, computed once per
// file version.
func (s *Server) assetFile(name string) (assetInfo, error) {
	dir := s.deps.WebElementsDir
	if dir == "" {
		return assetInfo{}, errAssetsMissing
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return assetInfo{}, errAssetsMissing
	}
	p := filepath.Join(dir, filepath.FromSlash(name))
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return assetInfo{}, fs.ErrNotExist
	}
	assetETagsMu.Lock()
	a, ok := assetETags[p]
	assetETagsMu.Unlock()
	if ok && a.size == st.Size() && a.mod.Equal(st.ModTime()) {
		return a, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return assetInfo{}, fs.ErrNotExist
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return assetInfo{}, err
	}
	a = assetInfo{path: p, etag: `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`, size: st.Size(), mod: st.ModTime()}
	assetETagsMu.Lock()
	assetETags[p] = a
	assetETagsMu.Unlock()
	return a, nil
}

func bundleMissing(dir string) string {
	return "The @nylas/web-elements bundle is not installed in " + strconvQuote(dir) +
		": run `make web-elements` (or point CONFHUB_WEB_ELEMENTS_DIR at its dist/cdn directory, or CONFHUB_SCHEDULER_BUNDLE_URL at a copy on a CDN)."
}

func strconvQuote(s string) string {
	if s == "" {
		return "(CONFHUB_WEB_ELEMENTS_DIR is empty)"
	}
	return `"` + s + `"`
}
