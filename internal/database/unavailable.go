package database

import (
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err means PostgreSQL could not be reached or
// is going away (refused or dropped connections, a server shutting down or
// out of connections, a connect that timed out): a request that failed so
// works once the database is back, so it is answered 503, not 500.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return UnavailableState(pg.Code)
	}
	var (
		connect *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connect) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// UnavailableState reports whether an SQLSTATE says the server cannot take
// statements now: connection exception (08), insufficient resources (53),
// operator intervention (57, e.g. shutting down).
func UnavailableState(code string) bool {
	switch sqlClass(code) {
	case "08", "53", "57":
		return true
	}
	return false
}

// DataExceptionState reports whether an SQLSTATE refuses a value as data
// (class 22: a NUL byte, invalid UTF-8, a number out of range): sending the
// same value again cannot succeed.
func DataExceptionState(code string) bool { return sqlClass(code) == "22" }

func sqlClass(code string) string { return code[:min(2, len(code))] }
