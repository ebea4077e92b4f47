package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/config"
	"github.com/confhub/confhub/internal/database"
	"github.com/confhub/confhub/internal/stack"
	"github.com/confhub/confhub/internal/telemetry"
	"github.com/confhub/confhub/internal/vault"
	"github.com/confhub/confhub/internal/webhooks"
)

const shutdownGrace = 20 * time.Second

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("serve [--role api|worker|all]", "Runs the HTTP API on CONFHUB_HTTP_ADDR and/or the Temporal worker, after applying pending\n"+
		"migrations. Stops gracefully on SIGINT or SIGTERM.", stderr)
	role := fs.String("role", "all", "api (HTTP only), worker (Temporal worker only) or all")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *role != "api" && *role != "worker" && *role != "all" {
		return usageError{fmt.Errorf("--role must be api, worker or all, got %q", *role)}
	}
	flush, err := telemetry.Setup(ctx, getenv)
	if err != nil {
		return err
	}
	defer flushTraces(flush)
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	// serve starts whether or not PostgreSQL and Temporal answer yet: it
	// migrates and joins Temporal as soon as they do, and says on /readyz
	// what it is still missing (a deployment's processes and its database
	// may start in any order, and either may restart).
	pool, err := database.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	migrated := make(chan struct{})
	go migrateWhenReachable(ctx, pool, log, migrated)
	return runService(ctx, cfg, pool, log, *role, nil, migrated)
}

// migrateWhenReachable applies pending migrations as soon as the database
// answers, retrying until it does, then closes migrated.
func migrateWhenReachable(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, migrated chan<- struct{}) {
	wait := time.Second
	for {
		err := database.Migrate(ctx, pool, log)
		if err == nil {
			close(migrated)
			return
		}
		log.Warn("database not ready for migrations yet; retrying", "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func flushTraces(flush func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = flush(ctx)
}

// setup is every database command's preamble: load the configuration, open
// the pool and apply pending migrations.
func setup(ctx context.Context, getenv func(string) string, stderr io.Writer) (config.Config, *pgxpool.Pool, *slog.Logger, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	log := newLogger(stderr, cfg.LogLevel)
	pool, err := openAndMigrate(ctx, cfg, log)
	return cfg, pool, log, err
}

// newLogger writes JSON lines; a line logged within a traced request or
// activity carries its trace_id and span_id.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(telemetry.LogHandler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

func openAndMigrate(ctx context.Context, cfg config.Config, log *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := database.Migrate(ctx, pool, log); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// runService runs the API and/or the worker until ctx ends. ready, if set,
// is told the API's bound address once the listener is up; migrated, if
// set, is closed once the schema is up to date (nil: it is).
func runService(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, log *slog.Logger, role string, ready func(addr string), migrated <-chan struct{}) error {
	st, err := stack.New(ctx, stack.Options{Config: cfg, Pool: pool, Log: log, Migrated: migrated})
	if err != nil {
		return err
	}
	defer st.Close()
	if role == "worker" || role == "all" {
		w, err := st.StartWorker(ctx)
		if err != nil {
			return err
		}
		defer w.Stop()
	}
	if role == "worker" {
		return serveOps(ctx, cfg, st.API.Handler(), log, ready)
	}
	hs := &http.Server{
		Handler:           st.API.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on CONFHUB_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	if ready != nil {
		ready(ln.Addr().String())
	}
	return serveUntilDone(ctx, hs, ln, shutdownGrace, log)
}

// serveUntilDone serves until ctx ends, then shuts down, letting requests in
// flight finish within grace.
func serveUntilDone(ctx context.Context, hs *http.Server, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// serveOps is a worker's HTTP side: probes and metrics on CONFHUB_HTTP_ADDR,
// answered by the API's own handlers (same paths, same answers).
func serveOps(ctx context.Context, cfg config.Config, api http.Handler, log *slog.Logger, ready func(string)) error {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", api)
	mux.Handle("GET /readyz", api)
	mux.Handle("GET /metrics", api)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on CONFHUB_HTTP_ADDR %s (the worker's probes and metrics): %w", cfg.HTTPAddr, err)
	}
	log.Info("worker probes and metrics listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	return serveUntilDone(ctx, hs, ln, shutdownGrace, log)
}

// encryptedColumns gathers every feature's vault-encrypted columns.
func encryptedColumns() []vault.Column {
	var cols []vault.Column
	cols = append(cols, connectors.EncryptedColumns...)
	cols = append(cols, grants.EncryptedColumns...)
	cols = append(cols, webhooks.EncryptedColumns...)
	return cols
}
