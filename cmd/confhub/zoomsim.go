package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

// listFlag collects a repeatable flag; each use may also hold a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

var defaultSimScopes = "meeting:write:meeting,meeting:update:meeting,meeting:delete:meeting,meeting:read:meeting,meeting:read:list_meetings,user:read:user"

var defaultSimAdminScopes = "meeting:write:meeting:admin,meeting:update:meeting:admin,meeting:delete:meeting:admin,meeting:read:meeting:admin,meeting:read:list_meetings:admin,user:read:user:admin"

func cmdZoomsim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("zoomsim [flags]", "Runs the Zoom simulator: OAuth (/oauth/...), the REST API (/v2/...) and the control API\n"+
		"(/_sim/...) on one port. Point confhub at it with ZOOM_OAUTH_URL=http://ADDR and\n"+
		"ZOOM_API_URL=http://ADDR/v2. State is in memory.", stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	ttl := fs.Duration("token-ttl", 3599*time.Second, "access-token lifetime")
	daily := fs.Int("daily-limit", 100, "meeting create/update requests per user per UTC day")
	var app zoomsim.AppSpec
	fs.StringVar(&app.ClientID, "app-client-id", "", "preload a Zoom app with this client id")
	fs.StringVar(&app.ClientSecret, "app-client-secret", "", "the preloaded app's client secret")
	var redirects, scopes, users listFlag
	fs.Var(&redirects, "app-redirect-uri", "the preloaded app's redirect URI (repeatable)")
	fs.Var(&scopes, "app-scopes", "the preloaded app's scopes, comma-separated (default "+defaultSimScopes+")")
	fs.StringVar(&app.WebhookURL, "app-webhook-url", "", "the preloaded app's event notification URL (gets app_deauthorized, meeting.updated and meeting.deleted)")
	fs.StringVar(&app.SecretToken, "app-secret-token", "", "the preloaded app's webhook secret token")
	fs.StringVar(&app.AccountID, "app-account-id", "", "make the preloaded app a Server-to-Server OAuth app of this account (a preloaded\n"+
		"user's); it takes no redirect URI, and its default scopes are the :admin forms of the above")
	fs.BoolVar(&app.AccountLevel, "app-account-level", false, "make the preloaded app admin-managed: only an account's owner or admin\n"+
		"may consent, and its tokens act for every user of the account")
	fs.Var(&users, "user", "preload a user as EMAIL[:PLAN[:ACCOUNT_ID[:ROLE]]] with PLAN basic, pro (default) or business\n"+
		"and ROLE admin or member; users naming one ACCOUNT_ID share it, the first being its owner (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (app.ClientID == "") != (app.ClientSecret == "") {
		return usageError{errors.New("--app-client-id and --app-client-secret go together")}
	}
	if app.ClientID == "" && (app.AccountID != "" || app.AccountLevel) {
		return usageError{errors.New("--app-account-id and --app-account-level need --app-client-id")}
	}

	log := slog.New(slog.NewJSONHandler(stderr, nil))
	sim := zoomsim.New(zoomsim.Options{TokenTTL: *ttl, DailyLimit: *daily, Log: log})
	var apps []zoomsim.AppSpec
	if app.ClientID != "" {
		if len(scopes) == 0 && app.AccountID != "" {
			_ = scopes.Set(defaultSimAdminScopes)
		}
		if len(scopes) == 0 {
			_ = scopes.Set(defaultSimScopes)
		}
		app.RedirectURIs, app.Scopes = redirects, scopes
		apps = append(apps, app)
	}
	var specs []zoomsim.UserSpec
	for _, u := range users {
		parts := strings.Split(u, ":")
		if len(parts) > 4 {
			return usageError{fmt.Errorf("--user %q: want EMAIL[:PLAN[:ACCOUNT_ID[:ROLE]]]", u)}
		}
		parts = append(parts, "", "", "")
		specs = append(specs, zoomsim.UserSpec{Email: parts[0], Plan: parts[1], AccountID: parts[2], Role: parts[3]})
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on --addr %s: %w", *addr, err)
	}
	created, err := sim.Preload(apps, specs)
	if err != nil {
		ln.Close()
		return fmt.Errorf("preload: %w", err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "Zoom simulator on %s\n  ZOOM_OAUTH_URL=%s ZOOM_API_URL=%s/v2\n", base, base, base)
	if app.ClientID != "" {
		fmt.Fprintf(stdout, "  app: client_id=%s redirect_uris=%v scopes=%v account_id=%s account_level=%t\n",
			app.ClientID, app.RedirectURIs, app.Scopes, app.AccountID, app.AccountLevel)
	}
	for _, u := range created {
		fmt.Fprintf(stdout, "  user: id=%s email=%s account_id=%s plan=%s role=%s\n", u.ID, u.Email, u.AccountID, u.Plan, u.Role)
	}
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if err := serveUntilDone(ctx, hs, ln, 5*time.Second, log); err != nil {
		return err
	}
	sim.WaitWebhooks()
	return nil
}
