package workflows

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/internal/apperr"
)

// sqlError stands for a PostgreSQL error (pgconn.PgError has SQLState).
type sqlError string

func (e sqlError) Error() string    { return "SQLSTATE " + string(e) }
func (e sqlError) SQLState() string { return string(e) }

// rejectingStore refuses every write with err.
type rejectingStore struct {
	EventStore
	err error
}

func (r rejectingStore) InsertEvent(context.Context, events.Event, string) (events.Event, error) {
	return events.Event{}, r.err
}

// A value PostgreSQL refuses as data (class 22) is final: the activity says
// so, and the workflow does not retry it for seconds before answering.
// The database unreachable is retried, and answered 503 when it stays so.
func TestStoreErrorsAreClassified(t *testing.T) {
	a := &Activities{Events: rejectingStore{err: sqlError("22021")}}
	_, err := a.InsertEvent(context.Background(), StoreEventInput{Event: EventRecord{ID: uuid.New()}})
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || !ae.NonRetryable() || !isDomain(err) {
		t.Fatalf("a NUL byte the database refused: %v, want a final domain error", err)
	}
	if e, ok := apperr.As(FromTemporal(err)); !ok || e.Kind != apperr.Invalid {
		t.Fatalf("it reaches the API as %v, want Invalid (400)", FromTemporal(err))
	}
	for _, down := range []error{sqlError("08006"), sqlError("57P01"), errors.New("dial tcp: connection refused")} {
		err := storeError(down)
		if !errors.As(err, &ae) || ae.NonRetryable() || ae.Type() != errDBUnavailable {
			t.Errorf("%v: %v, want a retryable database-unavailable error", down, err)
		}
		final := FromTemporal(finalError(err, stepStoreEvent))
		if e, ok := apperr.As(final); !ok || e.Kind != apperr.Unavailable {
			t.Errorf("%v ends as %v, want Unavailable (503)", down, final)
		}
	}
	if err := storeError(sqlError("23505")); isDomain(err) || errors.As(err, &ae) {
		t.Errorf("a unique violation: %v, want it passed on as is", err)
	}
}
