package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/server/temporaltest"

	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/pgcluster"
)

// cmdDev runs the whole service on one machine with nothing installed but
// the PostgreSQL binaries: a private cluster and an encryption key kept under
// the data directory, a demo application, and the API.
func cmdDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("dev [--data-dir DIR]", "Runs confhub locally: starts a private PostgreSQL under the data directory (as the postgres\n"+
		"user when run as root), keeps an encryption key there, migrates, creates a demo application\n"+
		"once, prints its API key and serves on CONFHUB_HTTP_ADDR (default 127.0.0.1:8080).\nCtrl-C stops everything; running it again reuses the data.", stderr)
	dataDir := fs.String("data-dir", ".confhub", "where the database, key and demo credentials live")
	reset := fs.Bool("reset", false, "delete the data directory first and start over")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if *reset {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	// 0711: the postgres user must be able to pass through to its cluster directory.
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	keys, err := devKeys(filepath.Join(dir, "encryption-keys"))
	if err != nil {
		return err
	}

	port, err := pgcluster.FreePort()
	if err != nil {
		return err
	}
	cluster, err := pgcluster.New(filepath.Join(dir, "pg"), port, pgcluster.Options{})
	if err != nil {
		return err
	}
	if err := cluster.Init(ctx); err != nil {
		return err
	}
	if err := cluster.Start(ctx); err != nil {
		return err
	}
	defer cluster.Stop()

	// An in-process Temporal server (in memory for now: workflows in flight
	// do not survive a restart of `confhub dev`).
	ts := temporaltest.NewServer()
	defer ts.Stop()

	env := map[string]string{
		"DATABASE_URL":            cluster.URL("postgres"),
		"CONFHUB_ENCRYPTION_KEYS": keys,
		"CONFHUB_HTTP_ADDR":       "127.0.0.1:8080",
		"TEMPORAL_ADDRESS":        ts.GetFrontendHostPort(),
		"TEMPORAL_NAMESPACE":      ts.GetDefaultNamespace(),
	}
	devenv := func(k string) string {
		if v := getenv(k); v != "" && k != "DATABASE_URL" && k != "TEMPORAL_ADDRESS" && k != "TEMPORAL_NAMESPACE" {
			return v
		}
		return env[k]
	}
	cfg, pool, log, err := setup(ctx, devenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()

	appID, apiKey, err := devApplication(ctx, applications.NewStore(pool), filepath.Join(dir, "demo-api-key"))
	if err != nil {
		return err
	}
	return runService(ctx, cfg, pool, log, "all", func(addr string) {
		base := cfg.PublicURL
		fmt.Fprintf(stdout, `
confhub is running (data in %s; Ctrl-C stops it)
  API:             %s
  application_id:  %s
  API key:         %s

Try:
curl -s %s/v3/applications -H 'Authorization: Bearer %s'
curl -s -X POST %s/v3/connectors -H 'Authorization: Bearer %s' -d '{"provider":"zoom","settings":{"client_id":"demo-client","client_secret":"demo-secret"}}'

`, dir, base, appID, apiKey, base, apiKey, base, apiKey)
	})
}

// devKeys returns the dev encryption key, generating it on first use.
func devKeys(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	spec := "dev1:" + base64.StdEncoding.EncodeToString(secret)
	return spec, os.WriteFile(path, []byte(spec+"\n"), 0o600)
}

// devApplication creates the demo application once and keeps its API key in
// a 0600 file under the data directory, so every run can print it. This is
// for a local development box only; production keys are shown once.
func devApplication(ctx context.Context, apps *applications.Store, keyPath string) (string, string, error) {
	if b, err := os.ReadFile(keyPath); err == nil {
		key := strings.TrimSpace(string(b))
		if id, err := apps.Authenticate(ctx, key); err == nil {
			return id.String(), key, nil
		}
	}
	app, key, err := apps.Create(ctx, "demo")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, []byte(key+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return app.ID.String(), key, nil
}
