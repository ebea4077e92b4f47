package zoom

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Zoom's error codes that callers act on (shared/reference/zoom.md, "Errors").
const (
	CodeNoPermission    = 200  // e.g. a Basic (free) user cannot create meetings via the API
	CodeValidation      = 300  // validation failed
	CodeInvalidToken    = 124  // expired, superseded, revoked or garbage: indistinguishable
	CodeUserNotFound    = 1001 // user does not exist
	CodeMeetingNotFound = 3001
	CodeMeetingStarted  = 3002 // cannot delete: in progress
	CodeNotHost         = 3003
	CodeMeetingEnded    = 3007
	CodeRateLimited     = 429
	CodeMissingScope    = 4711
)

// Class tells a caller what to do about an error.
type Class int

const (
	// Terminal: retrying the same call will fail the same way.
	Terminal Class = iota
	// Retryable: transient (5xx, per-second 429, connection failure); retry with backoff.
	Retryable
	// NeedsRefresh: the access token was refused (401/124); refresh once, retry once.
	NeedsRefresh
)

func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case NeedsRefresh:
		return "needs-refresh"
	}
	return "terminal"
}

// RateLimitKind distinguishes Zoom's two kinds of 429.
type RateLimitKind string

const (
	// RateLimitQPS is the per-account per-second limit: worth a short backoff.
	RateLimitQPS RateLimitKind = "QPS"
	// RateLimitDaily is the per-user daily create/update limit: not worth
	// retrying before ResumeAt (00:00 UTC).
	RateLimitDaily RateLimitKind = "Daily"
)

// RateLimit describes a 429.
type RateLimit struct {
	Kind      RateLimitKind
	Category  string // X-RateLimit-Category (Light, Medium, Heavy)
	Type      string // X-RateLimit-Type as sent (QPS, Daily-limit, or empty)
	Limit     string // X-RateLimit-Limit
	Remaining string // X-RateLimit-Remaining
	ResumeAt  time.Time
}

// FieldError is one entry of Zoom's "errors" array.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is any failure of a Zoom call: an HTTP error answer, an OAuth error,
// or a transport failure (HTTPStatus 0).
type Error struct {
	Op         string // e.g. "create_meeting"
	HTTPStatus int
	Code       int    // Zoom's code, 0 if none
	Message    string // Zoom's message, or a description of a non-JSON body
	Fields     []FieldError
	OAuthError string // OAuth "error" value, e.g. "invalid_grant"
	RateLimit  *RateLimit
	// MaybeCommitted is set on transport failures after the request was fully
	// sent: Zoom may have acted on it (for a create: the meeting may exist).
	MaybeCommitted bool
	Err            error // transport cause
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "zoom %s: ", e.Op)
	if e.HTTPStatus == 0 {
		fmt.Fprintf(&b, "no response: %v", e.Err)
		if e.MaybeCommitted {
			b.WriteString(" (the request was sent; it may have taken effect)")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	if e.OAuthError != "" {
		fmt.Fprintf(&b, " %s", e.OAuthError)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " code %d", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.RateLimit != nil && e.RateLimit.Kind == RateLimitDaily && !e.RateLimit.ResumeAt.IsZero() {
		fmt.Fprintf(&b, " (resumes %s)", e.RateLimit.ResumeAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Class classifies the error. Codes win over statuses: Zoom has answered a
// missing scope (4711) with 400 and with 401, and only 124 means "refresh".
func (e *Error) Class() Class {
	switch {
	case e.HTTPStatus == 0:
		return Retryable
	case e.OAuthError == "invalid_grant", e.OAuthError == "invalid_client":
		return Terminal
	case e.Code == CodeMissingScope, e.Code == CodeNoPermission, e.Code == CodeValidation,
		e.Code == CodeMeetingNotFound, e.Code == CodeUserNotFound:
		return Terminal
	case e.HTTPStatus == http.StatusTooManyRequests:
		if e.RateLimit != nil && e.RateLimit.Kind == RateLimitDaily {
			return Terminal
		}
		return Retryable
	case e.Code == CodeInvalidToken, e.HTTPStatus == http.StatusUnauthorized:
		return NeedsRefresh
	case e.HTTPStatus >= 500:
		return Retryable
	}
	return Terminal
}

// ClassOf classifies any error: a *Error by its class, anything else
// (including context cancellation) as terminal.
func ClassOf(err error) Class {
	var ze *Error
	if errors.As(err, &ze) {
		return ze.Class()
	}
	return Terminal
}

// IsInvalidGrant reports whether a token request was refused for good:
// the refresh token is used, revoked or expired, and the user must consent again.
func IsInvalidGrant(err error) bool {
	var ze *Error
	return errors.As(err, &ze) && ze.OAuthError == "invalid_grant"
}

// IsNotFound reports a 404/3001 (on a compensating delete, success).
func IsNotFound(err error) bool {
	var ze *Error
	return errors.As(err, &ze) && (ze.Code == CodeMeetingNotFound || (ze.HTTPStatus == http.StatusNotFound && ze.Code == 0))
}

// errorFromResponse builds an Error from a non-2xx answer. Zoom has been seen
// to answer with XML or HTML: the parse is defensive and never fails.
func errorFromResponse(op string, resp *http.Response, body []byte, now time.Time) *Error {
	e := &Error{Op: op, HTTPStatus: resp.StatusCode}
	var j struct {
		Code    int          `json:"code"`
		Message string       `json:"message"`
		Errors  []FieldError `json:"errors"`
		// OAuth endpoints
		Reason string `json:"reason"`
		Error  string `json:"error"`
		// RFC 6749 shape, should Zoom ever use it
		ErrorDescription string `json:"error_description"`
	}
	var x struct {
		Code    int    `xml:"code"`
		Message string `xml:"message"`
	}
	switch {
	case json.Unmarshal(body, &j) == nil:
		e.Code, e.Message, e.Fields, e.OAuthError = j.Code, j.Message, j.Errors, j.Error
		if e.Message == "" {
			e.Message = firstNonEmpty(j.Reason, j.ErrorDescription)
		}
	case xml.Unmarshal(body, &x) == nil && (x.Code != 0 || x.Message != ""):
		e.Code, e.Message = x.Code, x.Message
	default:
		e.Message = fmt.Sprintf("%s (non-JSON body: %s)", http.StatusText(resp.StatusCode), snippet(body))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		e.RateLimit = rateLimitFrom(resp.Header, e.Message, now)
	}
	return e
}

// rateLimitFrom reads a 429. The headers are unreliable on the per-user daily
// limit (shared/reference/zoom.md, "Rate limits"), so the message counts too.
func rateLimitFrom(h http.Header, message string, now time.Time) *RateLimit {
	rl := &RateLimit{
		Category:  h.Get("X-RateLimit-Category"),
		Type:      h.Get("X-RateLimit-Type"),
		Limit:     h.Get("X-RateLimit-Limit"),
		Remaining: h.Get("X-RateLimit-Remaining"),
		Kind:      RateLimitQPS,
	}
	msg := strings.ToLower(message)
	if strings.Contains(strings.ToLower(rl.Type), "daily") || strings.Contains(msg, "daily") {
		rl.Kind = RateLimitDaily
	}
	if ra := h.Get("Retry-After"); ra != "" {
		if t, err := http.ParseTime(ra); err == nil {
			rl.ResumeAt = t
		}
	}
	if rl.Kind == RateLimitDaily && (rl.ResumeAt.IsZero() || !rl.ResumeAt.After(now)) {
		// The daily limit resets at 00:00 UTC.
		y, m, d := now.UTC().Date()
		rl.ResumeAt = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
	return rl
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "empty"
	}
	return fmt.Sprintf("%q", s)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
