package migrations

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// owners says which package owns each table: only that package's code
// (tests aside) may read or write it; others reach it through the owner's
// API. A table created by a migration and missing here fails the test.
var owners = map[string]string{
	"applications":              "internal/applications",
	"api_keys":                  "internal/applications",
	"redirect_uris":             "internal/applications",
	"connectors":                "connectors",
	"grants":                    "grants",
	"oauth_states":              "grants",
	"oauth_codes":               "grants",
	"grant_access_tokens":       "grants",
	"calendars":                 "events",
	"events":                    "events",
	"conference_attempts":       "events",
	"conference_orphans":        "events",
	"idempotency_keys":          "events",
	"outbox":                    "internal/outbox",
	"event_tombstones":          "events",
	"zoom_webhook_receipts":     "grants",
	"scheduling_configurations": "events/scheduler",
	"scheduling_sessions":       "events/scheduler",
	"scheduling_bookings":       "events/scheduler",
	"webhooks":                  "internal/webhooks",
	"zoom_account_tokens":       "grants",
	"webhook_deliveries":        "internal/webhooks",
}

var createTable = regexp.MustCompile(`(?i)CREATE TABLE\s+(\w+)`)

// tablesOf lists the tables the migrations create.
func tablesOf(t *testing.T) []string {
	var tables []string
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS, path)
		for _, m := range createTable.FindAllStringSubmatch(string(b), -1) {
			tables = append(tables, m[1])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

// stringLiterals returns, per package directory, the string literals of its
// non-test Go files: where its SQL is. SQL here is written in upper case, and
// a statement built from pieces has its table name in one of them.
func stringLiterals(t *testing.T, root string) map[string][]string {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		out[filepath.ToSlash(dir)] = append(out[filepath.ToSlash(dir)], literals(f)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Each table is touched by the SQL of its owning package only, and
// workflows/ (the Temporal layer) holds no SQL at all.
func TestEachTableHasOneOwner(t *testing.T) {
	tables := tablesOf(t)
	for _, tbl := range tables {
		if owners[tbl] == "" {
			t.Errorf("table %s has no owner in the owners map", tbl)
		}
	}
	byPkg := stringLiterals(t, "..")
	statement := regexp.MustCompile(`\b(SELECT|INSERT INTO|DELETE FROM|UPDATE \w+ SET)\b`)
	seen := map[string]bool{}
	for pkg, lits := range byPkg {
		for _, lit := range lits {
			if (pkg == "workflows" || strings.HasPrefix(pkg, "workflows/")) && statement.MatchString(lit) {
				t.Errorf("%s holds SQL: %s", pkg, oneLine(lit))
			}
			for _, tbl := range tables {
				if !regexp.MustCompile(`\b(FROM|INTO|UPDATE|JOIN)\s+` + tbl + `\b`).MatchString(lit) {
					continue
				}
				seen[tbl] = true
				if owners[tbl] != pkg {
					t.Errorf("%s touches table %s (owned by %s): %s", pkg, tbl, owners[tbl], oneLine(lit))
				}
			}
		}
	}
	// Every table is used by its owner: proof that the scan sees SQL at all.
	for _, tbl := range tables {
		if !seen[tbl] {
			t.Errorf("no SQL touches table %s: the scan is broken, or the table is unused", tbl)
		}
	}
}

// No feature package builds or holds another feature's store (nor does
// the Temporal layer): each declares the interface it needs and is handed an
// implementation. Checked on the code, not the comments.
func TestNoFeatureImportsAnotherFeaturesStore(t *testing.T) {
	features := []string{"events", "grants", "connectors"}
	stores := map[string]bool{"Store": true, "NewStore": true, "Tokens": true, "NewTokens": true, "Service": true, "NewService": true}
	for _, pkg := range append(features, "workflows") {
		files, _ := filepath.Glob(filepath.Join("..", pkg, "*.go"))
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if pkg == "workflows" && strings.HasPrefix(imp.Path.Value, `"github.com/jackc/pgx`) {
					t.Errorf("%s imports pgx: the Temporal layer reaches storage only through the feature stores", file)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name != pkg && slices.Contains(features, x.Name) && stores[sel.Sel.Name] {
					t.Errorf("%s uses %s.%s", file, x.Name, sel.Sel.Name)
				}
				return true
			})
		}
	}
}

// literals returns a file's string literals, unquoted.
func literals(f *ast.File) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if v, err := strconv.Unquote(lit.Value); err == nil {
				out = append(out, v)
			}
		}
		return true
	})
	return out
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}
