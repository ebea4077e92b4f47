package applications

import (
	"context"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// NormalizeOrigin returns an origin as a browser's Origin header states it
// (scheme://host[:port], lower case, no default port), and false for
// anything else: "null", a path, user info, another scheme.
func NormalizeOrigin(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") || strings.HasSuffix(origin, "?") {
		return "", false
	}
	return originOf(u)
}

// OriginOf returns the origin of an absolute http(s) URL, normalized as
// NormalizeOrigin does.
func OriginOf(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", false
	}
	return originOf(u)
}

func originOf(u *url.URL) (string, bool) {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" || u.Hostname() == "" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return scheme + "://" + host, true
}

// OriginAllowed reports whether origin is the origin of a redirect URI of the
// application appID, or of any application when appID is nil: the origins
// an application lists for its embedded booking pages (CORS) are those of
// the URIs it registered, so there is one list to keep.
func (s *Store) OriginAllowed(ctx context.Context, origin string, appID *uuid.UUID) (bool, error) {
	want, ok := NormalizeOrigin(origin)
	if !ok {
		return false, nil
	}
	// The prefix narrows the rows (scheme and host, any port); the exact
	// comparison is made on each URL's parsed origin.
	prefix := want
	if u, _ := url.Parse(want); u.Port() != "" {
		prefix = strings.TrimSuffix(want, ":"+u.Port())
	}
	rows, err := s.pool.Query(ctx, `SELECT url FROM redirect_uris
		WHERE ($1::uuid IS NULL OR application_id = $1) AND lower(url) LIKE $2 ESCAPE '\'`, appID, likePrefix(prefix))
	if err != nil {
		return false, err
	}
	urls, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, err
	}
	for _, u := range urls {
		if o, ok := OriginOf(u); ok && o == want {
			return true, nil
		}
	}
	return false, nil
}

// likePrefix is a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}
