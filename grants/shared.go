package grants

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"
)

// refreshTimeout bounds a refresh shared by several callers: it runs detached
// from the first caller's context so one caller's cancellation cannot fail
// the others, or abandon a rotation half-way.
const refreshTimeout = 20 * time.Second

// sharedFetch is the in-process half of a single-flight token fetch (the
// other half is the row lock the fetch takes): callers asking for the same
// row after seeing the same version share one call of fetch, which runs
// detached from any one caller's cancellation. Each caller still stops
// waiting when its own context ends.
func sharedFetch[T any](ctx context.Context, g *singleflight.Group, id uuid.UUID, seenVersion int64, force bool,
	fetch func(ctx context.Context) (T, error)) (T, error) {
	ch := g.DoChan(fmt.Sprintf("%s/%d/%t", id, seenVersion, force), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return fetch(fctx)
	})
	var zero T
	select {
	case res := <-ch:
		if res.Err != nil {
			return zero, res.Err
		}
		return res.Val.(T), nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// openedTokens keeps decrypted tokens per row and version, so a token is
// opened once per process until it changes.
type openedTokens[T any] struct {
	mu sync.Mutex
	m  map[uuid.UUID]openedToken[T]
}

type openedToken[T any] struct {
	version int64
	tok     T
}

// get returns the token of id at version, opening it with open the first time.
func (c *openedTokens[T]) get(id uuid.UUID, version int64, open func() (T, error)) (T, error) {
	c.mu.Lock()
	o, ok := c.m[id]
	c.mu.Unlock()
	if ok && o.version == version {
		return o.tok, nil
	}
	tok, err := open()
	if err != nil {
		return tok, err
	}
	c.put(id, version, tok)
	return tok, nil
}

func (c *openedTokens[T]) put(id uuid.UUID, version int64, tok T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[uuid.UUID]openedToken[T]{}
	}
	c.m[id] = openedToken[T]{version, tok}
}
