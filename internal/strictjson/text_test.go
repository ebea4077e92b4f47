package strictjson

import (
	"strings"
	"testing"

	"github.com/confhub/confhub/internal/apperr"
)

// PostgreSQL can hold neither NUL nor invalid UTF-8; encoding/json lets the
// first through and silently replaces the second, so Decode refuses both and
// names where they are, values and keys alike, at any depth.
func TestDecodeRefusesTextTheDatabaseCannotHold(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"a\u0000b"}`:                       "name: " + ReasonNUL,
		"{\"name\":\"a\xffb\"}":                     "name: " + ReasonUTF8,
		`{"settings":{"client_id":"\u0000"}}`:       "settings.client_id: " + ReasonNUL,
		"{\"settings\":{\"client_id\":\"\xc3\"}}":   "settings.client_id: " + ReasonUTF8,
		`{"tags":["ok","x\u0000"]}`:                 "tags[1]: " + ReasonNUL,
		`{"count":1,"tags":[],"name":"\u0000"}`:     "name: " + ReasonNUL,
		`{"settings":{"k\u0000":"v"}}`:              `settings: object key "k\x00" ` + ReasonNUL,
		"{\"\xfe\":1}":                              `object key "\xfe" ` + ReasonUTF8,
		`"\u0000"`:                                  "request body " + ReasonNUL,
		`{"a":[{"b":[1,{"c":"\u0000"}]}],"name":1}`: "a[0].b[1].c: " + ReasonNUL,
	} {
		var v outer
		err := Decode([]byte(body), &v, "")
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.Invalid || e.Public() != want {
			t.Errorf("Decode(%q) = %v, want Invalid %q", body, err, want)
		}
	}
	var v inner
	err := Decode([]byte(`{"client_id":"\u0000"}`), &v, "settings")
	if e, ok := apperr.As(err); !ok || e.Field != "settings.client_id" {
		t.Fatalf("with a prefix: %v, want field settings.client_id", err)
	}
}

func TestCheckTextLeavesStorableTextAlone(t *testing.T) {
	for _, body := range []string{
		`{"name":"\\u0000 is written here, not sent"}`, // an escaped backslash: the text \u0000
		`{"name":"caf\u00e9 \ud83d\ude00 \ufffd"}`,     // escapes, a surrogate pair, a real U+FFFD
		"{\"name\":\"café\"}",
		`{"name" "\u0000"}`, // malformed first: the decoder's error is the better one
	} {
		if err := CheckText([]byte(body), ""); err != nil {
			t.Errorf("CheckText(%s) = %v", body, err)
		}
	}
	if !strings.Contains(ReasonNUL, "NUL") || TextProblem("ok") != "" || TextProblem("\x00") != ReasonNUL || TextProblem("\xff") != ReasonUTF8 {
		t.Fatal("TextProblem")
	}
}
