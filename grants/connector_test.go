package grants

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/pgtest"
	"github.com/confhub/confhub/internal/vault"
)

// The connector is read before the round trip to Zoom and may be deleted
// before the grant is written: that is a 409 saying so, with nothing
// written, not a database error (a 500, or SQL in a redirect).
func TestGrantForAConnectorDeletedMeanwhileIsAConflict(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	app := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO applications (id, name) VALUES ($1, 'a')`, app); err != nil {
		t.Fatal(err)
	}
	kr, err := vault.ParseKeys("test:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(pool, kr, nil)
	gone := uuid.New() // a connector id whose row was deleted
	tok := &zoom.Token{AccessToken: "access", RefreshToken: "refresh", Expiry: time.Now().Add(time.Hour), Scopes: []string{"meeting:write:meeting"}}
	_, err = s.upsertZoom(ctx, app, gone, false, zoom.User{ID: "zu1", Email: "u@example.com"}, tok, time.Now())
	if !apperr.IsKind(err, apperr.Conflict) || !strings.Contains(err.Error(), "deleted while the user was being connected") {
		t.Fatalf("a user's grant for a deleted connector: %v", err)
	}
	_, _, err = s.upsertAccountUser(ctx, app, gone, zoom.User{ID: "zu2", Email: "v@example.com", Type: 2}, nil)
	if !apperr.IsKind(err, apperr.Conflict) {
		t.Fatalf("a company user's grant for a deleted connector: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM grants`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d grants written (%v)", n, err)
	}
}
