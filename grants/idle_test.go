package grants

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// The grant-health sweep must stay cheap however many grants there are: its
// batch query can walk the grants_idle index (filter, order and cursor), so
// a batch reads its rows and no more. The planner prefers a sequential scan
// on a table this small, so that is switched off to ask whether the index
// can serve the query at all.
func TestIdleGrantsQueryWalksItsIndex(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, after := range []*IdleCursor{nil, {At: time.Now().Add(-8 * 24 * time.Hour), ID: uuid.New()}} {
		var at *time.Time
		var id *uuid.UUID
		if after != nil {
			at, id = &after.At, &after.ID
		}
		rows, err := tx.Query(ctx, `EXPLAIN `+idleGrantsQuery, time.Now().Add(-7*24*time.Hour), at, id, 100)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, "Index Scan using grants_idle") || strings.Contains(p, "Sort") {
			t.Fatalf("cursor %v: the batch query does not walk grants_idle in order:\n%s", after, p)
		}
	}
}
