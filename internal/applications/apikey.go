package applications

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// API keys look like "ck_<16 hex id>_<43 base64url secret>". The id is a
// lookup handle; only the SHA-256 of the secret is stored, and it is compared
// in constant time, so neither the database nor timing reveals a key.
const apiKeyPrefix = "ck_"

func newAPIKey() (id, secret, key string) {
	idb := make([]byte, 8)
	sb := make([]byte, 32)
	_, _ = rand.Read(idb)
	_, _ = rand.Read(sb)
	id = hex.EncodeToString(idb)
	secret = base64.RawURLEncoding.EncodeToString(sb)
	return id, secret, apiKeyPrefix + id + "_" + secret
}

func parseAPIKey(key string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(key, apiKeyPrefix)
	if !ok || len(rest) != 16+1+43 || rest[16] != '_' {
		return "", "", false
	}
	id, secret = rest[:16], rest[17:]
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", false
	}
	return id, secret, true
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func secretMatches(secret string, stored []byte) bool {
	return subtle.ConstantTimeCompare(hashSecret(secret), stored) == 1
}
