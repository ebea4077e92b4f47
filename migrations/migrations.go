// Package migrations embeds the SQL schema migrations (goose format) so the
// binary carries its own schema.
package migrations

import "embed"

// FS holds the migration files at its root.
//
//go:embed *.sql
var FS embed.FS
