package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/confhub/confhub/internal/apperr"
)

// Reasons a string from outside cannot be kept: PostgreSQL's text and jsonb
// hold neither NUL nor bytes that are not UTF-8. encoding/json would pass the
// first through and silently turn the second into U+FFFD, so both are caught
// here, before any lookup, and named.
const (
	ReasonNUL  = `contains a NUL character (\u0000), which cannot be stored`
	ReasonUTF8 = "is not valid UTF-8"
)

// TextProblem says why s cannot be stored as text, or "" when it can.
func TextProblem(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return ReasonNUL
	case !utf8.ValidString(s):
		return ReasonUTF8
	}
	return ""
}

// CheckText rejects JSON text with a string, value or object key, that
// PostgreSQL cannot store, naming its path (prefix first, as Decode does).
// Malformed JSON passes: the decoder that follows reports it better.
func CheckText(data []byte, prefix string) error {
	if utf8.Valid(data) && !bytes.Contains(data, []byte(`\u0000`)) {
		return nil // the common case, without tokenizing
	}
	type frame struct {
		array  bool
		index  int
		key    string
		wanted bool // an object expecting a key next
	}
	var stack []frame
	path := func(stack []frame) string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		return b.String()
	}
	// next moves the innermost container past the value just read.
	next := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wanted = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var prev int64
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or malformed JSON: left to the decoder
		}
		raw := data[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{wanted: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				next()
			}
		case string:
			reason := TextProblem(t)
			if reason == "" && !utf8.Valid(raw) {
				reason = ReasonUTF8 // the tokenizer already replaced the bytes
			}
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].wanted {
				if reason != "" {
					key := t
					if reason == ReasonUTF8 {
						// Show the key's own bytes, not the tokenizer's U+FFFD.
						key = string(raw[bytes.IndexByte(raw, '"')+1 : bytes.LastIndexByte(raw, '"')])
					}
					return fieldErr(prefix, path(stack[:n-1]), fmt.Sprintf("object key %+q %s", key, reason))
				}
				stack[n-1].key, stack[n-1].wanted = t, false
				continue
			}
			if reason != "" {
				if p := path(stack); p != "" || prefix != "" {
					return fieldErr(prefix, p, reason)
				}
				return apperr.Invalidf("request body %s", reason)
			}
			next()
		default:
			next()
		}
	}
}

// IsEmail reports whether s is a bare email address (no display name, no
// angle brackets) of at most 320 characters. Callers name the field.
func IsEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return s != "" && err == nil && a.Address == s && len(s) <= 320
}
