package grants

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/internal/webhooks"
)

// NoticeJSON is the object of the grant.* notifications.
type NoticeJSON struct {
	GrantID        string   `json:"grant_id"`
	Provider       string   `json:"provider"`
	Email          string   `json:"email"`
	Name           string   `json:"name,omitempty"`
	GrantStatus    string   `json:"grant_status"`
	Scope          []string `json:"scope"`
	ProviderUserID string   `json:"provider_user_id,omitempty"`
	CreatedAt      int64    `json:"created_at"`
	// grant.expired: when the grant turned invalid, and why.
	GrantUpdatedAt int64  `json:"grant_updated_at,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

func notice(g Grant) NoticeJSON {
	scope := g.Scope
	if scope == nil {
		scope = []string{}
	}
	return NoticeJSON{GrantID: g.ID.String(), Provider: g.Provider, Email: g.Email, Name: g.Name, GrantStatus: g.Status,
		Scope: scope, ProviderUserID: g.ProviderUserID, CreatedAt: g.CreatedAt.Unix()}
}

func notification(typ string, g Grant) webhooks.Notification {
	obj := notice(g)
	if typ == webhooks.GrantExpired {
		obj.GrantUpdatedAt, obj.Reason = g.UpdatedAt.Unix(), g.InvalidReason
	}
	return webhooks.Notification{ApplicationID: g.ApplicationID, Type: typ, Object: obj}
}

// tell records a grant notification in tx.
func tell(ctx context.Context, tx pgx.Tx, typ string, g Grant) error {
	return webhooks.Record(ctx, tx, notification(typ, g))
}

// tellEach records typ for each of gs in one round trip: a company's
// grants go together (expired or deleted with their install or app), inside
// a transaction holding their rows' locks.
func tellEach(ctx context.Context, tx pgx.Tx, typ string, gs []Grant) error {
	if len(gs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, g := range gs {
		if err := webhooks.Queue(b, notification(typ, g)); err != nil {
			return err
		}
	}
	return tx.SendBatch(ctx, b).Close()
}

// expire marks grants invalid and erases their tokens, in tx; each grant
// that was not invalid already gets its one grant.expired. where selects
// the grants (an SQL condition on the table g, with args from $2 on; $1 is
// the reason). The valid grants under an expired admin install (users it
// acted for) expire with it: they have no token but the install's.
func expire(ctx context.Context, tx pgx.Tx, reason, where string, args ...any) (int64, error) {
	rows, err := tx.Query(ctx, `WITH old AS (SELECT id, grant_status FROM grants g WHERE `+where+` FOR UPDATE)
		UPDATE grants SET grant_status = 'invalid', invalid_reason = $1, access_token_enc = NULL, refresh_token_enc = NULL,
		access_expires_at = NULL, token_version = token_version + 1, updated_at = now()
		FROM old WHERE grants.id = old.id RETURNING old.grant_status, grants.installation, `+qualified, append([]any{reason}, args...)...)
	if err != nil {
		return 0, err
	}
	type row struct {
		was     string
		install bool
		g       Grant
	}
	changed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.was, &x.install, &x.g.ID, &x.g.ApplicationID, &x.g.Provider, &x.g.Status, &x.g.InvalidReason, &x.g.Email, &x.g.Name,
			&x.g.ProviderUserID, &x.g.ProviderAccountID, &x.g.Scope, &x.g.CreatedAt, &x.g.UpdatedAt, &x.g.AccountLevel)
		return x, err
	})
	if err != nil {
		return 0, err
	}
	var installs []uuid.UUID
	var expired []Grant
	for _, x := range changed {
		if x.install {
			installs = append(installs, x.g.ID)
		}
		if x.was != StatusInvalid {
			expired = append(expired, x.g)
		}
	}
	if err := tellEach(ctx, tx, webhooks.GrantExpired, expired); err != nil {
		return 0, err
	}
	n := int64(len(changed))
	if len(installs) > 0 {
		// Grants under an install are never installs: this goes one level deep.
		under, err := expire(ctx, tx, "the company's Zoom connection is gone: the Zoom admin's install turned invalid ("+reason+")",
			`g.installation_grant_id = ANY($2) AND g.grant_status = 'valid'`, installs)
		if err != nil {
			return 0, err
		}
		n += under
	}
	return n, nil
}

// qualified is grantColumns for a statement that joins grants to another
// relation.
const qualified = `grants.id, grants.application_id, grants.provider, grants.grant_status, COALESCE(grants.invalid_reason, ''),
	grants.email, COALESCE(grants.name, ''), grants.provider_user_id, COALESCE(grants.provider_account_id, ''), grants.scope,
	grants.created_at, grants.updated_at, grants.account_level`
