package form

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := map[string]struct {
		body    string
		wantErr bool
		check   func(t *testing.T, v Values)
	}{
		"a repeated single parameter is refused":       {body: "grant_type=a&grant_type=a", wantErr: true},
		"a repeated empty parameter is still repeated": {body: "scope=&scope=", wantErr: true},
		"an unknown repeated parameter is refused":     {body: "x=1&x=2", wantErr: true},
		"a bad escape is refused":                      {body: "scope=%zz", wantErr: true},
		"a semicolon separator is refused":             {body: "a=1;b=2&c=3", wantErr: true},
		"an empty value is absent": {body: "scope=&grant_type=x", check: func(t *testing.T, v Values) {
			if v.Has("scope") || v.Get("grant_type") != "x" {
				t.Errorf("got %+v", v)
			}
		}},
		"resource may repeat and duplicates collapse": {body: "resource=a&resource=b&resource=a&resource=", check: func(t *testing.T, v Values) {
			if got := strings.Join(v.All("resource"), ","); got != "a,b" {
				t.Errorf("resources %q", got)
			}
		}},
		"plus is a space": {body: "scope=a+b", check: func(t *testing.T, v Values) {
			if v.Get("scope") != "a b" {
				t.Errorf("scope %q", v.Get("scope"))
			}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := Parse(tc.body)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, v)
			}
		})
	}
}

func TestErrorsNeverEchoUnknownNames(t *testing.T) {
	const secret = "sgs_thisLooksLikeASecret"
	_, err := Parse(secret + "=1&" + secret + "=2")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error %v", err)
	}
}

func TestReadChecksTheRequest(t *testing.T) {
	cases := map[string]struct {
		method, target, ctype, body string
		ok                          bool
	}{
		"a form POST is read":                       {"POST", "/t", "application/x-www-form-urlencoded", "a=1", true},
		"a charset parameter is fine":               {"POST", "/t", "application/x-www-form-urlencoded; charset=UTF-8", "a=1", true},
		"GET is refused":                            {"GET", "/t", "application/x-www-form-urlencoded", "a=1", false},
		"a query string is refused":                 {"POST", "/t?client_secret=x", "application/x-www-form-urlencoded", "a=1", false},
		"multipart is refused":                      {"POST", "/t", "multipart/form-data", "a=1", false},
		"a body one byte over the limit is refused": {"POST", "/t", "application/x-www-form-urlencoded", "a=" + strings.Repeat("b", MaxBodyBytes-1), false},
		"a body exactly at the limit is read":       {"POST", "/t", "application/x-www-form-urlencoded", "a=" + strings.Repeat("b", MaxBodyBytes-2), true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			_, err := Read(r)
			if (err == nil) != tc.ok {
				t.Fatalf("error %v", err)
			}
		})
	}
}

// FuzzParse: no input panics, and whatever parses agrees with net/url on
// the parameters it keeps.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "grant_type=client_credentials&scope=a+b", "a=1&a=2", "resource=x&resource=y",
		"%zz=1", "a=%", "=", "&&&", "a=1;b=2", "scope=%E2%82%AC", strings.Repeat("a=1&", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := Parse(body)
		if err != nil {
			if ferr := (*Error)(nil); !errors.As(err, &ferr) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		ref, rerr := url.ParseQuery(body)
		if rerr != nil {
			t.Fatalf("Parse accepted what net/url refuses: %v", rerr)
		}
		for k, vals := range ref {
			if Multi[k] {
				continue
			}
			if len(vals) != 1 {
				t.Fatalf("repeated %q accepted", k)
			}
			if v.Get(k) != vals[0] {
				t.Fatalf("%q = %q, net/url says %q", k, v.Get(k), vals[0])
			}
		}
	})
}
