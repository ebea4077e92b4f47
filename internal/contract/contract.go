// Package contract checks HTTP exchanges against an OpenAPI document, so the
// API tests fail when a handler's answer, or a request they send, leaves
// api/openapi.yaml. It is imported by tests only.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Validator checks exchanges against one document. It is safe for
// concurrent use: the document and the router are only read.
type Validator struct {
	router routers.Router
	opts   *openapi3filter.Options
}

// Load parses and validates an OpenAPI 3.0 document.
func Load(spec []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("contract: loading the document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("contract: the document is invalid: %w", err)
	}
	// Match operations on the path alone: the document's servers name one
	// address, and the exchanges checked come from anywhere (a test server's
	// random port).
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("contract: routing the document's paths: %w", err)
	}
	opts := &openapi3filter.Options{
		MultiError:                        true, // every difference, not just the first
		IncludeResponseStatus:             true, // an undeclared status is a difference
		RejectWhenRequestBodyNotSpecified: true, // so is a body the operation does not take
		SkipSettingDefaults:               true, // check what was sent, never amend it
		AuthenticationFunc:                credentialsPresent,
	}
	opts.WithCustomSchemaErrorFunc(describeSchemaError)
	return &Validator{router: router, opts: opts}, nil
}

// Check validates one exchange: the request (method, path, parameters, body)
// and the response (its status is declared, its body and headers match).
// reqBody and respBody are the bodies as sent; req's own body is not read.
func (v *Validator) Check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) error {
	return v.check(req, reqBody, true, status, header, respBody)
}

// CheckResponse validates only the response, for a request sent outside the
// document on purpose (malformed JSON, an unknown field, a wrong type): the
// operation is still found from req's method and path.
func (v *Validator) CheckResponse(req *http.Request, status int, header http.Header, respBody []byte) error {
	return v.check(req, nil, false, status, header, respBody)
}

func (v *Validator) check(req *http.Request, reqBody []byte, checkRequest bool, status int, header http.Header, respBody []byte) error {
	route, pathParams, err := v.router.FindRoute(req)
	if err != nil {
		// The server answers a route it does not have with 404 or 405, and
		// such a route has no operation here to check it against.
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return nil
		}
		return &Mismatch{Operation: req.Method + " " + req.URL.Path, Status: status,
			Problems: []string{"no operation in the document: " + err.Error()}}
	}
	m := &Mismatch{Operation: fmt.Sprintf("%s (%s %s)", route.Operation.OperationID, route.Method, route.Path), Status: status}

	// Validation reads the request's body, so it gets a copy holding reqBody.
	r := req.Clone(context.Background())
	r.Body, r.GetBody = nil, nil
	if len(reqBody) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: pathParams, Route: route, Options: v.opts}
	if checkRequest {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			m.Problems = append(m.Problems, flatten("request", err)...)
		}
	}

	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: v.opts}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		m.Problems = append(m.Problems, flatten("response", err)...)
	} else if len(bytes.TrimSpace(respBody)) > 0 && !declaresBody(route, status) {
		// kin-openapi accepts any body where the document declares none.
		m.Problems = append(m.Problems, "response: has a body, but the document declares none for this status")
	}
	if len(m.Problems) > 0 {
		return m
	}
	return nil
}

// declaresBody reports whether the response the document gives for status has content.
func declaresBody(route *routers.Route, status int) bool {
	resp := route.Operation.Responses.Status(status)
	if resp == nil {
		resp = route.Operation.Responses.Default()
	}
	return resp != nil && resp.Value != nil && len(resp.Value.Content) > 0
}

// Mismatch is an exchange that leaves the document.
type Mismatch struct {
	Operation string // operationId (METHOD /path/template)
	Status    int    // the status the server answered
	Problems  []string
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("contract: %s answered %d, which leaves the OpenAPI document:\n  - %s",
		m.Operation, m.Status, strings.Join(m.Problems, "\n  - "))
}

// flatten turns kin-openapi's nested errors into one line per difference.
func flatten(side string, err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, x := range e {
				walk(x)
			}
			return
		case *openapi3filter.RequestError:
			part := "body"
			if p := e.Parameter; p != nil {
				part = fmt.Sprintf("%s parameter %q", p.In, p.Name)
			}
			if me, many := e.Err.(openapi3.MultiError); many {
				for _, x := range me { // schema errors, one by one
					out = append(out, side+" "+part+": "+x.Error())
				}
				return
			}
			msg := e.Reason
			if e.Err != nil && e.Reason != "" {
				msg += ": " + e.Err.Error()
			} else if e.Err != nil {
				msg = e.Err.Error()
			}
			out = append(out, side+" "+part+": "+msg)
			return
		case *openapi3filter.ResponseError:
			if me, ok := e.Err.(openapi3.MultiError); ok {
				for _, x := range me {
					out = append(out, side+" body: "+x.Error())
				}
				return
			}
			out = append(out, side+": "+e.Error())
			return
		case *openapi3filter.SecurityRequirementsError:
			out = append(out, side+": credentials: "+errors.Join(e.Errors...).Error())
			return
		}
		out = append(out, side+": "+err.Error())
	}
	walk(err)
	return out
}

// describeSchemaError says where in the body a value differs and how, in one
// line; kin-openapi's own message appends the whole schema and value.
func describeSchemaError(e *openapi3.SchemaError) string {
	msg := e.Reason
	if msg == "" {
		msg = "does not match the schema's " + e.SchemaField
	}
	if e.Origin != nil { // oneOf, allOf: the reasons of the schemas tried
		return "at /" + strings.Join(e.JSONPointer(), "/") + ": " + msg + ": " + e.Origin.Error()
	}
	switch e.Value.(type) {
	case map[string]any, []any, nil:
	default: // a scalar: show it, it is what differs
		if v, err := json.Marshal(e.Value); err == nil {
			s := string(v)
			if len(s) > 60 {
				s = s[:57] + "..."
			}
			msg += " (got " + s + ")"
		}
	}
	return "at /" + strings.Join(e.JSONPointer(), "/") + ": " + msg
}

// credentialsPresent checks that a request carries the credentials its
// operation requires: the contract says which scheme, the server decides
// whether they are good (a wrong key is a 401 the document declares).
func credentialsPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		return fmt.Errorf("security scheme %q (%s) is not supported by the contract checker", in.SecuritySchemeName, s.Type)
	}
	scheme, token, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no Authorization: Bearer <token> header")
	}
	return nil
}
