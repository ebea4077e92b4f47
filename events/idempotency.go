package events

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/internal/apperr"
)

// maxIdempotencyKey bounds Idempotency-Key headers.
const maxIdempotencyKey = 255

// ClaimIdempotencyKey records that key (per application) creates eventID,
// or returns the event an earlier request with the same key and body
// created (uuid.Nil when the claim is new). The same key with another body
// is a conflict.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, appID uuid.UUID, key string, body []byte, eventID uuid.UUID) (uuid.UUID, error) {
	if len(key) > maxIdempotencyKey {
		return uuid.Nil, apperr.InvalidField("Idempotency-Key", "must be at most %d characters", maxIdempotencyKey)
	}
	sum := sha256.Sum256(body)
	var stored []byte
	var existing uuid.UUID
	err := s.pool.QueryRow(ctx, `WITH ins AS (INSERT INTO idempotency_keys (application_id, key, request_sha256, event_id)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING event_id)
		SELECT request_sha256, event_id FROM idempotency_keys WHERE application_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
		appID, key, sum[:], eventID).Scan(&stored, &existing)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, nil // claimed now
	}
	if err != nil {
		return uuid.Nil, err
	}
	if string(stored) != string(sum[:]) {
		return uuid.Nil, apperr.Conflictf("Idempotency-Key %q was used with a different request body", key)
	}
	return existing, nil
}
