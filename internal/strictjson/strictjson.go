// Package strictjson decodes request bodies strictly: unknown fields, wrong
// types, trailing data, malformed JSON and text the database cannot hold
// (NUL, invalid UTF-8) are all rejected with an apperr.Invalid that names the
// offending field, so a typo in a request never silently drops a setting and
// no string reaches a query that would fail on it.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/confhub/confhub/internal/apperr"
)

// Decode decodes data into v. prefix is prepended to field names in errors
// (for nested objects decoded in a second pass, such as "settings").
func Decode(data []byte, v any, prefix string) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		if prefix != "" {
			return apperr.InvalidField(prefix, "is required")
		}
		return apperr.Invalidf("request body is required (a JSON object)")
	}
	if err := CheckText(data, prefix); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if _, unknown := strings.CutPrefix(err.Error(), "json: unknown field "); unknown {
			// encoding/json names an unknown field without its path; find it.
			if path := unknownFieldPath(data, reflect.TypeOf(v)); path != "" {
				return fieldErr(prefix, path, "unknown field")
			}
		}
		return translate(err, prefix)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fieldErr(prefix, "", "unexpected data after the JSON value")
	}
	return nil
}

func translate(err error, prefix string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fieldErr(prefix, "", fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error()))
	case errors.As(err, &typ):
		field := typ.Field
		msg := fmt.Sprintf("must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		if field == "" && prefix == "" {
			msg = "request body " + msg
		}
		return fieldErr(prefix, field, msg)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr(prefix, "", "malformed JSON: unexpected end of input")
	}
	// encoding/json reports unknown fields only as text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(prefix, strings.Trim(name, `"`), "unknown field")
	}
	return fieldErr(prefix, "", "malformed JSON: "+err.Error())
}

func fieldErr(prefix, field, msg string) error {
	switch {
	case prefix != "" && field != "":
		field = prefix + "." + field
	case prefix != "":
		field = prefix
	}
	if field == "" {
		return apperr.Invalidf("%s", msg)
	}
	return apperr.InvalidField(field, "%s", msg)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a different type"
}

// unknownFieldPath returns the dotted path of the first JSON object key in
// data that type t has no field for, matching keys as encoding/json does
// (case-insensitively).
func unknownFieldPath(data []byte, t reflect.Type) string {
	var generic any
	if json.Unmarshal(data, &generic) != nil {
		return ""
	}
	return walkUnknown(generic, t, "")
}

func walkUnknown(v any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[strings.ToLower(name)] = f.Type
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				return join(k)
			}
			if p := walkUnknown(obj[k], ft, join(k)); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok || t.Elem().Kind() == reflect.Uint8 {
			return ""
		}
		for i, e := range arr {
			if p := walkUnknown(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		for k, e := range obj {
			if p := walkUnknown(e, t.Elem(), join(k)); p != "" {
				return p
			}
		}
	}
	return ""
}
