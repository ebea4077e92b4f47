// Package vault encrypts secrets (client secrets, tokens) for storage.
//
// Each ciphertext is AES-256-GCM, records the id of the key that sealed it,
// and is bound through the associated data to the row and column it lives in
// (application, table, row id, column): a ciphertext copied into another row
// or column does not open. Several keys may be configured; the first seals,
// all open, so keys can be rotated without downtime (see Rotate).
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

const version = "v1"

// ErrDecrypt means a ciphertext could not be opened: wrong row, tampered, or
// sealed with a key that is not configured. Deliberately uninformative.
var ErrDecrypt = errors.New("vault: ciphertext does not open")

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Key is one configured encryption key.
type Key struct {
	ID     string
	Secret []byte
}

// Binding names the place a ciphertext belongs to.
type Binding struct {
	ApplicationID string
	Table         string
	RowID         string
	Column        string
}

// Keyring seals with its active key and opens with any of its keys.
type Keyring struct {
	active  string
	aeads   map[string]cipher.AEAD
	macKeys map[string][]byte
}

// New builds a keyring; keys[0] is the active key.
func New(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("at least one key is required")
	}
	kr := &Keyring{active: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys)), macKeys: map[string][]byte{}}
	for i, k := range keys {
		if !keyIDPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("key %d: id %q must be 1-32 characters of A-Z a-z 0-9 _ -", i+1, k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("key %d (%s): must be %d bytes, got %d", i+1, k.ID, KeySize, len(k.Secret))
		}
		if _, dup := kr.aeads[k.ID]; dup {
			return nil, fmt.Errorf("key %d: id %q appears twice", i+1, k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("key %d (%s): %w", i+1, k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %d (%s): %w", i+1, k.ID, err)
		}
		kr.aeads[k.ID] = aead
		// A separate key for MACs, derived so the cipher key is never used twice.
		m := hmac.New(sha256.New, k.Secret)
		m.Write([]byte("confhub.vault.mac.v1"))
		kr.macKeys[k.ID] = m.Sum(nil)
	}
	return kr, nil
}

// ParseKeys parses "id:base64,id:base64" (standard or URL base64, padded or
// not). Errors name the entry but never echo key material.
func ParseKeys(spec string) (*Keyring, error) {
	var keys []Key
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		id, b64, ok := strings.Cut(entry, ":")
		if !ok || id == "" || b64 == "" {
			return nil, fmt.Errorf("entry %d: want keyid:base64-of-32-bytes", i+1)
		}
		secret, err := decodeBase64(b64)
		if err != nil {
			return nil, fmt.Errorf("entry %d (%s): key is not valid base64", i+1, id)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return New(keys)
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// ActiveID is the id of the key that seals.
func (k *Keyring) ActiveID() string { return k.active }

// Seal encrypts plaintext for the place b names.
func (k *Keyring) Seal(plaintext string, b Binding) (string, error) {
	aead := k.aeads[k.active]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("vault: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), associatedData(k.active, b))
	return version + ":" + k.active + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a ciphertext sealed for the place b names.
func (k *Keyring) Open(sealed string, b Binding) (string, error) {
	keyID, body, err := split(sealed)
	if err != nil {
		return "", err
	}
	aead, ok := k.aeads[keyID]
	if !ok {
		return "", ErrDecrypt
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", ErrDecrypt
	}
	nonce, ct := raw[:aead.NonceSize()], raw[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ct, associatedData(keyID, b))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}

// KeyID reports which key sealed a ciphertext.
func KeyID(sealed string) (string, error) {
	id, _, err := split(sealed)
	return id, err
}

func split(sealed string) (keyID, body string, err error) {
	v, rest, ok := strings.Cut(sealed, ":")
	if !ok || v != version {
		return "", "", ErrDecrypt
	}
	keyID, body, ok = strings.Cut(rest, ":")
	if !ok {
		return "", "", ErrDecrypt
	}
	return keyID, body, nil
}

// associatedData length-prefixes each part so that no two different bindings
// can produce the same bytes.
func associatedData(keyID string, b Binding) []byte {
	parts := []string{"confhub.vault." + version, keyID, b.ApplicationID, b.Table, b.RowID, b.Column}
	var out []byte
	for _, p := range parts {
		out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out
}

// MAC authenticates msg for a purpose with the active key: "<keyid>.<mac>".
func (k *Keyring) MAC(purpose string, msg []byte) string {
	return k.active + "." + base64.RawURLEncoding.EncodeToString(k.mac(k.active, purpose, msg))
}

// VerifyMAC checks a MAC made by any configured key.
func (k *Keyring) VerifyMAC(purpose string, msg []byte, tag string) bool {
	id, b64, ok := strings.Cut(tag, ".")
	if !ok {
		return false
	}
	if _, known := k.macKeys[id]; !known {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(b64)
	return err == nil && hmac.Equal(got, k.mac(id, purpose, msg))
}

func (k *Keyring) mac(keyID, purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, k.macKeys[keyID])
	m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(purpose))))
	m.Write([]byte(purpose))
	m.Write(msg)
	return m.Sum(nil)
}
