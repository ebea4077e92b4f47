package scheduler

import (
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// EncodeRef is a booking reference as <nylas-scheduling> decodes it: the
// configuration id's 16 bytes, the booking id's 16 bytes and the salt,
// base64url without padding.
func EncodeRef(configID, bookingID uuid.UUID, salt []byte) string {
	b := make([]byte, 0, 32+len(salt))
	b = append(b, configID[:]...)
	b = append(b, bookingID[:]...)
	b = append(b, salt...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeRef reads a booking reference in any of the forms the component
// accepts (URL-escaped, standard or URL-safe base64, padded or not).
func DecodeRef(ref string) (configID, bookingID uuid.UUID, salt []byte, ok bool) {
	if u, err := url.PathUnescape(ref); err == nil {
		ref = u
	}
	ref = strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(ref), "=")
	b, err := base64.RawURLEncoding.DecodeString(ref)
	if err != nil || len(b) < 32 {
		return uuid.Nil, uuid.Nil, nil, false
	}
	copy(configID[:], b[:16])
	copy(bookingID[:], b[16:32])
	return configID, bookingID, b[32:], true
}

// SaltText is a salt as the component sends it in PUT.
func SaltText(salt []byte) string { return base64.RawURLEncoding.EncodeToString(salt) }
