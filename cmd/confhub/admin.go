package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/vault"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "Applies pending migrations (under an advisory lock, safe to run concurrently) and exits.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	pool.Close()
	return nil
}

func cmdAppsCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("apps create --name NAME", "Creates an application and prints {\"application_id\", \"api_key\"} on stdout.\nThe API key is shown only here: store it now.", stderr)
	name := fs.String("name", "", "the application's name (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" {
		fs.Usage()
		return usageError{errMissingName}
	}
	_, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	app, key, err := applications.NewStore(pool).Create(ctx, *name)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"application_id": app.ID.String(), "api_key": key})
}

func cmdKeysRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("keys rotate", "Re-encrypts every stored secret with the active (first) key of CONFHUB_ENCRYPTION_KEYS.\n"+
		"To rotate: put the new key first, keep the old ones after it, run this, then remove the old keys.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := vault.Rotate(ctx, pool, cfg.Keyring, encryptedColumns())
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"active_key": cfg.Keyring.ActiveID(), "rotated": res.Rotated, "already_current": res.Current})
}

var errMissingName = usageErr("--name is required")

type usageErr string

func (e usageErr) Error() string { return string(e) }
