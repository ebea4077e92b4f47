// Package pgtest gives each test its own real PostgreSQL database, cloned
// from a migrated template.
//
// With DATABASE_URL set (a role that may create databases), it uses that
// server. Otherwise it starts one throwaway cluster per test binary from the
// system's PostgreSQL binaries, on a free loopback port in a temp dir, and
// removes it when the tests end. It never skips: without a server or binaries
// the tests fail and say how to get them.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/internal/database"
	"github.com/confhub/confhub/internal/pgcluster"
	"github.com/confhub/confhub/migrations"
)

var (
	inMain   bool
	once     sync.Once
	setupErr error
	adminURL string
	template string
	cluster  *pgcluster.Cluster
	tmpDir   string
)

// Run wraps testing.M.Run: call it from TestMain as os.Exit(pgtest.Run(m)).
// It stops and removes the throwaway cluster when the tests are done.
func Run(m *testing.M) int {
	inMain = true
	code := m.Run()
	if cluster != nil {
		_ = cluster.Stop()
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	return code
}

// New returns a pool on a fresh, fully migrated database that is dropped when
// the test ends, and the database's URL.
func New(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ensureServer(t)
	ctx := context.Background()
	name := "t_" + randomHex(8)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	dbURL := withDatabase(adminURL, name)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dropOnCleanup(t, name)
	t.Cleanup(pool.Close) // cleanups run last-first: the pool closes before the drop
	return pool, dbURL
}

// AdminURL is the URL of the server's maintenance database, for tests that
// need to make their own databases (such as concurrent-migration tests).
func AdminURL(t testing.TB) string {
	t.Helper()
	ensureServer(t)
	return adminURL
}

func ensureServer(t testing.TB) {
	t.Helper()
	if !inMain {
		t.Fatal("pgtest: call os.Exit(pgtest.Run(m)) from this package's TestMain")
	}
	once.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("pgtest: %v", setupErr)
	}
}

// dropOnCleanup drops database name when the test ends.
func dropOnCleanup(t testing.TB, name string) {
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), adminURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
}

// EmptyDB creates an empty (unmigrated) database and returns its URL.
func EmptyDB(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	ctx := context.Background()
	name := "e_" + randomHex(8)
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	dropOnCleanup(t, name)
	return withDatabase(admin, name)
}

// templateLockID serialises template creation across test binaries.
const templateLockID int64 = 0x636f6e66687562 // "confhub"

func setup() error {
	ctx := context.Background()
	adminURL = os.Getenv("DATABASE_URL")
	if adminURL == "" {
		dir, err := os.MkdirTemp("", "confhub-pgtest-")
		if err != nil {
			return err
		}
		tmpDir = dir
		if err := os.Chmod(dir, 0o755); err != nil { // the postgres user must enter it
			return err
		}
		c, err := pgcluster.Launch(ctx, filepath.Join(dir, "data"), pgcluster.Options{Fast: true})
		if err != nil {
			return err
		}
		cluster = c
		adminURL = c.URL("postgres")
	}
	sum, err := migrationsHash()
	if err != nil {
		return err
	}
	template = "confhub_tmpl_" + sum[:16]
	return ensureTemplate(ctx)
}

// ensureTemplate creates the migrated template once per schema version. An
// advisory lock makes it safe when several test binaries share one server.
func ensureTemplate(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(adminURL), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockID); err != nil {
		return err
	}
	defer admin.Exec(ctx, "SELECT pg_advisory_unlock($1)", templateLockID)
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", template).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	building := template + "_building"
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withDatabase(adminURL, building))
	if err != nil {
		return err
	}
	err = database.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		return err
	}
	// Renaming last means a half-built template is never used.
	_, err = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s",
		pgx.Identifier{building}.Sanitize(), pgx.Identifier{template}.Sanitize()))
	return err
}

func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

func redact(raw string) string {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return "DATABASE_URL"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
