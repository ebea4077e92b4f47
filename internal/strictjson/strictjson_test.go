package strictjson

import (
	"strings"
	"testing"

	"github.com/confhub/confhub/internal/apperr"
)

type inner struct {
	ID *string `json:"client_id"`
}

type outer struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	In    inner    `json:"settings"`
}

func TestDecodeNamesTheField(t *testing.T) {
	for body, want := range map[string]string{
		`{"name": 1}`:                       "name: must be a string, not number",
		`{"count": "x"}`:                    "count: must be an integer, not string",
		`{"count": 1.5}`:                    "count: must be an integer",
		`{"tags": "x"}`:                     "tags: must be an array, not string",
		`{"settings": {"client_id": true}}`: "settings.client_id: must be a string, not bool",
		`{"settings": {"nope": 1}}`:         "settings.nope: unknown field",
		`{"other": 1}`:                      "other: unknown field",
		`{"name": "a"`:                      "malformed JSON",
		`{"name": "a"}x`:                    "unexpected data after the JSON value",
		`   `:                               "request body is required",
		`"x"`:                               "request body must be an object, not string",
	} {
		var v outer
		err := Decode([]byte(body), &v, "")
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.Invalid || !strings.Contains(e.Public(), want) {
			t.Errorf("Decode(%s) = %v, want Invalid mentioning %q", body, err, want)
		}
	}
}

func TestDecodeWithPrefix(t *testing.T) {
	var v inner
	err := Decode([]byte(`{"client_id": 5}`), &v, "settings")
	if e, ok := apperr.As(err); !ok || e.Field != "settings.client_id" {
		t.Fatalf("err = %v, want field settings.client_id", err)
	}
	if err := Decode(nil, &v, "settings"); err == nil || !strings.Contains(err.Error(), "settings: is required") {
		t.Fatalf("empty nested: %v", err)
	}
}

func TestDecodeAcceptsValid(t *testing.T) {
	var v outer
	if err := Decode([]byte(`{"name":"n","count":3,"tags":["a"],"settings":{"client_id":"c"}}`), &v, ""); err != nil {
		t.Fatal(err)
	}
	if v.Name != "n" || v.Count != 3 || *v.In.ID != "c" {
		t.Fatalf("decoded %+v", v)
	}
}
