package vault

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Column names an encrypted column. Its table must have the text-castable
// columns id and application_id, which the binding uses. Feature packages
// list their own encrypted columns; cmd gathers them for rotation.
type Column struct {
	Table  string
	Column string
}

// RotateResult counts what Rotate did.
type RotateResult struct {
	Rotated int `json:"rotated"`
	Current int `json:"already_current"`
}

// Rotate re-seals every ciphertext in cols that was not sealed with the active
// key. Each row is updated only if its ciphertext is still the one read, so a
// concurrent writer is never overwritten; such a row already carries a fresh
// ciphertext from the writer. After Rotate, keys other than the active one can
// be removed from the configuration.
func Rotate(ctx context.Context, pool *pgxpool.Pool, kr *Keyring, cols []Column) (RotateResult, error) {
	var res RotateResult
	for _, c := range cols {
		tbl := pgx.Identifier{c.Table}.Sanitize()
		col := pgx.Identifier{c.Column}.Sanitize()
		rows, err := pool.Query(ctx, fmt.Sprintf(
			`SELECT id::text, application_id::text, %s FROM %s WHERE %s IS NOT NULL`, col, tbl, col))
		if err != nil {
			return res, fmt.Errorf("rotate %s.%s: %w", c.Table, c.Column, err)
		}
		type item struct{ id, app, sealed string }
		var todo []item
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.id, &it.app, &it.sealed); err != nil {
				rows.Close()
				return res, fmt.Errorf("rotate %s.%s: %w", c.Table, c.Column, err)
			}
			if id, err := KeyID(it.sealed); err == nil && id == kr.ActiveID() {
				res.Current++
				continue
			}
			todo = append(todo, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("rotate %s.%s: %w", c.Table, c.Column, err)
		}
		for _, it := range todo {
			b := Binding{ApplicationID: it.app, Table: c.Table, RowID: it.id, Column: c.Column}
			plain, err := kr.Open(it.sealed, b)
			if err != nil {
				return res, fmt.Errorf("rotate %s.%s row %s: %w (is its key still configured?)", c.Table, c.Column, it.id, err)
			}
			resealed, err := kr.Seal(plain, b)
			if err != nil {
				return res, err
			}
			tag, err := pool.Exec(ctx, fmt.Sprintf(
				`UPDATE %s SET %s = $1 WHERE id::text = $2 AND %s = $3`, tbl, col, col),
				resealed, it.id, it.sealed)
			if err != nil {
				return res, fmt.Errorf("rotate %s.%s row %s: %w", c.Table, c.Column, it.id, err)
			}
			res.Rotated += int(tag.RowsAffected())
		}
	}
	return res, nil
}
