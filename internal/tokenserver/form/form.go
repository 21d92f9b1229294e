// Package form reads the application/x-www-form-urlencoded bodies of the
// token, introspection and revocation endpoints with the strictness RFC 6749
// 3.1 and 3.2 ask for: a parameter may appear once, an empty parameter is
// treated as absent, and unknown ones are ignored.
package form

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// MaxBodyBytes bounds a request body. The largest legitimate body carries a
// client assertion (at most a few KiB); anything beyond is refused before
// it is parsed.
const MaxBodyBytes = 16 << 10

// Multi lists the parameters that may repeat: RFC 8707 2 lets a client ask
// for several "resource" values, and RFC 8693 2.1 several "audience" values.
var Multi = map[string]bool{"resource": true, "audience": true}

// Values are the parameters of one request.
type Values struct {
	single map[string]string
	multi  map[string][]string
}

// Get returns a single-valued parameter, or "" when absent or empty.
func (v Values) Get(name string) string { return v.single[name] }

// Has reports whether a single-valued parameter is present and non-empty.
func (v Values) Has(name string) bool { _, ok := v.single[name]; return ok }

// All returns the non-empty values of a parameter listed in Multi, without
// duplicates, in request order.
func (v Values) All(name string) []string { return v.multi[name] }

// Error is a request the endpoint must refuse with invalid_request. Its
// message names parameters, never their values.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// ErrTooLarge is returned for a body over MaxBodyBytes.
var ErrTooLarge = &Error{msg: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)}

// Read checks the method and content type of r and parses its body. Every
// error it returns is an *Error.
func Read(r *http.Request) (Values, error) {
	if r.Method != http.MethodPost {
		return Values{}, &Error{msg: "the method must be POST"}
	}
	if r.URL.RawQuery != "" {
		// Credentials must never travel in a URL (RFC 6749 2.3.1), where
		// proxies and access logs keep them.
		return Values{}, &Error{msg: "parameters must be sent in the body, not the URL"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return Values{}, &Error{msg: "the content type must be application/x-www-form-urlencoded"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return Values{}, &Error{msg: "the request body could not be read"}
	}
	if len(body) > MaxBodyBytes {
		return Values{}, ErrTooLarge
	}
	return Parse(string(body))
}

// Parse parses a form body.
func Parse(body string) (Values, error) {
	if len(body) > MaxBodyBytes {
		return Values{}, ErrTooLarge
	}
	q, err := url.ParseQuery(body)
	if err != nil {
		return Values{}, &Error{msg: "the request body is not valid form encoding"}
	}
	v := Values{single: map[string]string{}, multi: map[string][]string{}}
	for key, values := range q {
		if Multi[key] {
			for _, value := range values {
				v.addMulti(key, value)
			}
			continue
		}
		if len(values) > 1 {
			return Values{}, repeated(key)
		}
		if values[0] != "" {
			v.single[key] = values[0]
		}
	}
	return v, nil
}

func (v Values) addMulti(key, value string) {
	if value == "" {
		return
	}
	for _, have := range v.multi[key] {
		if have == value {
			return
		}
	}
	v.multi[key] = append(v.multi[key], value)
}

// known are the parameter names an error message may repeat back. Other
// names are not echoed: a client that pastes a secret into the wrong place
// must not find it in a response or a log.
var known = map[string]bool{
	"grant_type": true, "scope": true, "client_id": true, "client_secret": true,
	"client_assertion": true, "client_assertion_type": true, "apikey": true,
	"token": true, "token_type_hint": true, "resource": true, "audience": true,
}

func repeated(name string) error {
	if known[name] {
		return &Error{msg: fmt.Sprintf("parameter %q is repeated", name)}
	}
	return &Error{msg: "a parameter is repeated"}
}
