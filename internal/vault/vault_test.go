package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func testKey(id string, fill byte) Key {
	return Key{ID: id, Secret: bytes.Repeat([]byte{fill}, KeySize)}
}

func TestSealOpenRoundTripAndBinding(t *testing.T) {
	kr, err := New([]Key{testKey("k1", 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := Binding{ApplicationID: "app1", Table: "connectors", RowID: "row1", Column: "client_secret"}
	sealed, err := kr.Seal("s3cret", b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "s3cret") {
		t.Fatalf("plaintext visible in ciphertext %q", sealed)
	}
	got, err := kr.Open(sealed, b)
	if err != nil || got != "s3cret" {
		t.Fatalf("Open = %q, %v; want s3cret", got, err)
	}
	// Every part of the binding matters.
	for name, other := range map[string]Binding{
		"application": {ApplicationID: "app2", Table: b.Table, RowID: b.RowID, Column: b.Column},
		"table":       {ApplicationID: b.ApplicationID, Table: "grants", RowID: b.RowID, Column: b.Column},
		"row":         {ApplicationID: b.ApplicationID, Table: b.Table, RowID: "row2", Column: b.Column},
		"column":      {ApplicationID: b.ApplicationID, Table: b.Table, RowID: b.RowID, Column: "secret_token"},
	} {
		if _, err := kr.Open(sealed, other); !errors.Is(err, ErrDecrypt) {
			t.Errorf("opening under another %s: err = %v, want ErrDecrypt", name, err)
		}
	}
	// Two seals of the same value differ (random nonce).
	again, _ := kr.Seal("s3cret", b)
	if again == sealed {
		t.Error("two seals produced identical ciphertexts")
	}
}

func TestTamperedCiphertextFails(t *testing.T) {
	kr, _ := New([]Key{testKey("k1", 1)})
	b := Binding{ApplicationID: "a", Table: "t", RowID: "r", Column: "c"}
	sealed, _ := kr.Seal("value", b)
	raw := []byte(sealed)
	raw[len(raw)-3] ^= 0x01
	for _, bad := range []string{string(raw), "", "v1:", "v1:k1:", "v2:k1:AAAA", "v1:k1:!!!", "v1:nokey:" + strings.SplitN(sealed, ":", 3)[2]} {
		if _, err := kr.Open(bad, b); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open(%q) err = %v, want ErrDecrypt", bad, err)
		}
	}
}

func TestRotationKeysOpenOldSealNew(t *testing.T) {
	old, _ := New([]Key{testKey("k1", 1)})
	b := Binding{ApplicationID: "a", Table: "t", RowID: "r", Column: "c"}
	sealed, _ := old.Seal("value", b)

	both, _ := New([]Key{testKey("k2", 2), testKey("k1", 1)})
	if got, err := both.Open(sealed, b); err != nil || got != "value" {
		t.Fatalf("new keyring cannot open old ciphertext: %q %v", got, err)
	}
	resealed, _ := both.Seal("value", b)
	if id, _ := KeyID(resealed); id != "k2" {
		t.Fatalf("sealed with %q, want active key k2", id)
	}
	onlyNew, _ := New([]Key{testKey("k2", 2)})
	if _, err := onlyNew.Open(sealed, b); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("removed key still opens: %v", err)
	}
	if got, err := onlyNew.Open(resealed, b); err != nil || got != "value" {
		t.Fatalf("resealed value does not open with new key alone: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	k32 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	k16 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	kr, err := ParseKeys("new:" + k32 + ", old:" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if kr.ActiveID() != "new" {
		t.Errorf("active = %q, want new", kr.ActiveID())
	}
	for spec, want := range map[string]string{
		"":                         "entry 1",
		"k1":                       "entry 1",
		"k1:" + k16:                "must be 32 bytes",
		"k1:" + k32 + ",k1:" + k32: "appears twice",
		"k1:" + k32 + ",x":         "entry 2",
		"bad id:" + k32:            "must be 1-32 characters",
		"k1:***":                   "not valid base64",
	} {
		_, err := ParseKeys(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeys(%q) err = %v, want it to mention %q", spec, err, want)
		}
		if err != nil && strings.Contains(err.Error(), k32) {
			t.Errorf("error echoes key material: %v", err)
		}
	}
}

func TestMAC(t *testing.T) {
	old, _ := New([]Key{testKey("k1", 1)})
	tag := old.MAC("state", []byte("abc"))
	if !old.VerifyMAC("state", []byte("abc"), tag) {
		t.Fatal("own MAC does not verify")
	}
	for name, ok := range map[string]bool{
		"other message": old.VerifyMAC("state", []byte("abd"), tag),
		"other purpose": old.VerifyMAC("code", []byte("abc"), tag),
		"garbage":       old.VerifyMAC("state", []byte("abc"), "k1.xyz"),
		"no key id":     old.VerifyMAC("state", []byte("abc"), "nodot"),
		"unknown key":   old.VerifyMAC("state", []byte("abc"), "k9"+tag[2:]),
	} {
		if ok {
			t.Errorf("%s verified", name)
		}
	}
	rotated, _ := New([]Key{testKey("k2", 2), testKey("k1", 1)})
	if !rotated.VerifyMAC("state", []byte("abc"), tag) {
		t.Fatal("a MAC from the previous key no longer verifies during rotation")
	}
}
