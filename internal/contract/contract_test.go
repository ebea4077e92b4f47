package contract

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const spec = `
openapi: 3.0.3
info: {title: t, version: "1"}
servers: [{url: "http://localhost:8080"}]
security: [{key: []}]
paths:
  /things/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
    put:
      operationId: putThing
      parameters:
        - {name: notify, in: query, schema: {type: boolean}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [name]
              properties: {name: {type: string}}
      responses:
        "200":
          description: OK
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
                required: [request_id, data]
                properties:
                  request_id: {type: string}
                  data:
                    type: object
                    additionalProperties: false
                    required: [id, name, size]
                    properties:
                      id: {type: string}
                      name: {type: string}
                      size: {type: integer}
        "302":
          description: Elsewhere
          headers:
            Location: {required: true, schema: {type: string}}
        "400":
          description: Bad
          content:
            application/json:
              schema:
                type: object
                required: [error]
                properties: {error: {type: string}}
components:
  securitySchemes:
    key: {type: http, scheme: bearer}
`

func load(t *testing.T) *Validator {
	t.Helper()
	v, err := Load([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func put(query, body string) *http.Request {
	r := httptest.NewRequest("PUT", "http://127.0.0.1:39999/things/t1"+query, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer k")
	return r
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

func TestConformingExchangePasses(t *testing.T) {
	v := load(t)
	body := `{"name":"a"}`
	if err := v.Check(put("?notify=true", body), []byte(body), 200, jsonHeader,
		[]byte(`{"request_id":"r1","data":{"id":"t1","name":"a","size":3}}`)); err != nil {
		t.Fatal(err)
	}
	if err := v.Check(put("", body), []byte(body), 302, http.Header{"Location": {"/x"}}, nil); err != nil {
		t.Fatal(err)
	}
}

// A handler whose answer drifts from the document fails with a message that
// names the operation, the status and each difference.
func TestDriftedResponseFails(t *testing.T) {
	v := load(t)
	body := `{"name":"a"}`
	for _, c := range []struct {
		name   string
		status int
		header http.Header
		resp   string
		want   []string
	}{
		{"renamed field", 200, jsonHeader, `{"request_id":"r1","data":{"id":"t1","title":"a","size":3}}`,
			[]string{"putThing (PUT /things/{id}) answered 200", `at /data/name: property "name" is missing`, `"title"`}},
		{"wrong type", 200, jsonHeader, `{"request_id":"r1","data":{"id":"t1","name":"a","size":"3"}}`,
			[]string{"at /data/size: value must be an integer", `(got "3")`}},
		{"undeclared status", 404, jsonHeader, `{"error":"nope"}`, []string{"answered 404", "status is not supported"}},
		{"not JSON", 200, http.Header{"Content-Type": {"text/plain"}}, `hello`, []string{`"text/plain"`}},
		{"missing header", 302, http.Header{}, ``, []string{"Location"}},
		{"undeclared body", 302, http.Header{"Location": {"/x"}, "Content-Type": {"application/json"}}, `{"a":1}`,
			[]string{"declares none"}},
	} {
		err := v.Check(put("", body), []byte(body), c.status, c.header, []byte(c.resp))
		if err == nil {
			t.Errorf("%s: passed", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not mention %q", c.name, err, w)
			}
		}
	}
}

func TestRequestsOutsideTheDocument(t *testing.T) {
	v := load(t)
	ok := []byte(`{"request_id":"r1","data":{"id":"t1","name":"a","size":3}}`)
	for name, c := range map[string]struct {
		req  *http.Request
		body string
		want string
	}{
		"unknown field":    {put("", `{"name":"a","colour":"red"}`), `{"name":"a","colour":"red"}`, `request body: at /: property "colour" is unsupported`},
		"wrong type":       {put("", `{"name":1}`), `{"name":1}`, "at /name: value must be a string"},
		"bad query":        {put("?notify=maybe", `{"name":"a"}`), `{"name":"a"}`, `request query parameter "notify": value maybe: an invalid boolean`},
		"query too small":  {put("?limit=0", `{"name":"a"}`), `{"name":"a"}`, `request query parameter "limit": at /: number must be at least 1 (got 0)`},
		"no body":          {put("", ``), ``, "request body: value is required"},
		"no credentials":   {httptest.NewRequest("PUT", "/things/t1", nil), `{"name":"a"}`, "credentials"},
		"unknown route":    {httptest.NewRequest("GET", "/nothing", nil), ``, "no operation in the document"},
		"malformed JSON":   {put("", `{"name":`), `{"name":`, "request body"},
		"undeclared query": {put("?x=1", `{"name":"a"}`), `{"name":"a"}`, ""}, // extra query parameters are allowed
	} {
		if name == "no credentials" {
			c.req.Header.Set("Content-Type", "application/json")
		}
		err := v.Check(c.req, []byte(c.body), 200, jsonHeader, ok)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
		// The response alone is fine.
		if name != "unknown route" {
			if err := v.CheckResponse(c.req, 200, jsonHeader, ok); err != nil {
				t.Errorf("%s: response only: %v", name, err)
			}
		}
	}
	// A route the document lacks, refused as the server does, is no difference.
	if err := v.Check(httptest.NewRequest("GET", "/nothing", nil), nil, 404, jsonHeader, []byte(`{}`)); err != nil {
		t.Errorf("404 for an unknown route: %v", err)
	}
}
