// Package zoom is confhub's Zoom client: OAuth (authorization code with PKCE,
// refresh, account credentials, revoke) and the Meetings REST API, with
// errors classified so that callers know whether to retry, refresh or give up.
//
// shared/reference/zoom.md is the specification. The surprising parts:
// refresh tokens rotate and are single use; PATCH answers 204 with no body;
// meeting ids exceed 2^53 in some clients' eyes (we keep them int64); there
// are two kinds of 429; error bodies are not always JSON.
package zoom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/confhub/confhub/internal/telemetry"
)

// Defaults for the real Zoom.
const (
	DefaultOAuthURL = "https://zoom.us"
	DefaultAPIURL   = "https://api.zoom.us/v2"
	DefaultTimeout  = 15 * time.Second
)

// maxBody bounds what we read of any Zoom answer.
const maxBody = 4 << 20

// Config configures a Client. Zero values mean the defaults.
type Config struct {
	OAuthURL   string // ZOOM_OAUTH_URL (internal/config)
	APIURL     string // ZOOM_API_URL
	Timeout    time.Duration
	HTTPClient *http.Client // its Transport is wrapped with otelhttp
	Now        func() time.Time
}

// Client talks to Zoom. It is safe for concurrent use.
type Client struct {
	oauthURL string
	apiURL   string
	timeout  time.Duration
	hc       *http.Client
	now      func() time.Time
}

// New returns a client.
func New(cfg Config) *Client {
	c := &Client{
		oauthURL: strings.TrimRight(firstNonEmpty(cfg.OAuthURL, DefaultOAuthURL), "/"),
		apiURL:   strings.TrimRight(firstNonEmpty(cfg.APIURL, DefaultAPIURL), "/"),
		timeout:  cfg.Timeout,
		now:      cfg.Now,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	base := http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		base = cfg.HTTPClient.Transport
	}
	c.hc = &http.Client{
		Transport: otelhttp.NewTransport(measured{base}, otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return "zoom " + r.Method + " " + r.URL.Path
		})),
		// Zoom's API does not redirect; a redirect would leak the bearer token to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// send performs one HTTP exchange and returns the body of a 2xx answer, or
// an *Error. It never retries: retrying is the caller's decision, because a
// create is not idempotent at Zoom.
func (c *Client) send(ctx context.Context, op string, req *http.Request) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The transport reports the write from its own goroutine.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) { wrote.Store(info.Err == nil) },
	})
	resp, err := c.hc.Do(req.WithContext(context.WithValue(ctx, opKey{}, op)))
	if err != nil {
		return nil, nil, &Error{Op: op, Err: err, MaybeCommitted: wrote.Load()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		// Headers arrived, the body did not: Zoom acted on the request.
		return nil, nil, &Error{Op: op, Err: fmt.Errorf("reading the response: %w", err), MaybeCommitted: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, body, errorFromResponse(op, resp, body, c.now())
	}
	return resp, body, nil
}

// api calls the REST API with a bearer token. in, if not nil, is sent as
// JSON; out, if not nil, receives the JSON answer.
func (c *Client) api(ctx context.Context, op, method, path, token string, in, out any) error {
	if token == "" {
		return &Error{Op: op, Err: errEmptyToken}
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("zoom %s: encoding the request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.apiURL+path, body)
	if err != nil {
		return fmt.Errorf("zoom %s: %w", op, err)
	}
	// The token goes only in the header: in a query string Zoom answers 124.
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	_, respBody, err := c.send(ctx, op, req)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(respBody)) == 0 {
		// PATCH and DELETE answer 204 with no body.
		return nil
	}
	if err := json.Unmarshal(respBody, out); err != nil {
		return &Error{Op: op, HTTPStatus: http.StatusOK, Message: "unparseable success body: " + snippet(respBody), Err: err}
	}
	return nil
}

var errEmptyToken = errors.New("empty access token")

type opKey struct{}

// measured counts every exchange with Zoom (API and OAuth) by endpoint and
// outcome, and times it.
type measured struct{ next http.RoundTripper }

func (m measured) RoundTrip(r *http.Request) (*http.Response, error) {
	op, _ := r.Context().Value(opKey{}).(string)
	if op == "" { // OAuth, through x/oauth2
		op = "oauth_" + path.Base(r.URL.Path)
	}
	start := time.Now()
	resp, err := m.next.RoundTrip(r)
	telemetry.ZoomCallDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	outcome := "transport"
	if err == nil {
		outcome = strconv.Itoa(resp.StatusCode)
	}
	telemetry.ZoomCalls.WithLabelValues(op, outcome).Inc()
	return resp, err
}

var idShape = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether s has the shape of a Zoom user or account id.
func ValidID(s string) bool { return idShape.MatchString(s) }
