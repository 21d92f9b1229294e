package clientauth

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestParseBasic(t *testing.T) {
	cases := map[string]struct {
		header, id, secret string
		ok                 bool
	}{
		"plain credentials":                       {basicHeader("sgc_a", "sgs_b"), "sgc_a", "sgs_b", true},
		"form-encoded credentials are decoded":    {basicHeader("a%3Ab", "c+d%2B"), "a:b", "c d+", true},
		"the scheme is case-insensitive":          {"basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), "a", "b", true},
		"a colon in the password is kept":         {basicHeader("a", "b:c"), "a", "b:c", true},
		"no colon is refused":                     {"Basic " + base64.StdEncoding.EncodeToString([]byte("ab")), "", "", false},
		"bad base64 is refused":                   {"Basic !!!", "", "", false},
		"a bad escape is refused":                 {basicHeader("a%zz", "b"), "", "", false},
		"an empty user is refused":                {basicHeader("", "b"), "", "", false},
		"another scheme is refused":               {"Bearer abc", "", "", false},
		"a header over the size limit is refused": {basicHeader("a", strings.Repeat("b", 2000)), "", "", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			id, secret, err := ParseBasic(tc.header)
			if (err == nil) != tc.ok || id != tc.id || secret != tc.secret {
				t.Fatalf("got %q %q %v", id, secret, err)
			}
		})
	}
}

// FuzzParseBasic: no input panics; the error never carries the input; and
// whatever golang.org/x/oauth2 would send (QueryEscape of both parts) comes
// back unchanged.
func FuzzParseBasic(f *testing.F) {
	for _, s := range [][2]string{{"sgc_a", "sgs_b"}, {"a:b", "c d"}, {"", ""}, {"%", "+"}, {"ü", "\x00"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, user, pass string) {
		h := basicHeader(url.QueryEscape(user), url.QueryEscape(pass))
		id, secret, err := ParseBasic(h)
		if err != nil {
			if strings.Contains(err.Error(), pass) && pass != "" && utf8.ValidString(pass) && len(pass) > 3 {
				t.Fatal("the error carries the password")
			}
			if user != "" && len(h) <= maxBasicHeader {
				t.Fatalf("refused well-formed credentials: %v", err)
			}
			return
		}
		if id != user || secret != pass {
			t.Fatalf("round trip: %q %q -> %q %q", user, pass, id, secret)
		}
		// Raw headers must not panic either.
		_, _, _ = ParseBasic(user)
	})
}

func TestExtractFindsOneMethod(t *testing.T) {
	h := http.Header{}
	h.Set("Authorization", basicHeader("sgc_a", "sgs_b"))
	h.Add("Authorization", basicHeader("sgc_a", "sgs_b"))
	if _, f := Extract(h, mustParse(t, "grant_type=x")); f == nil || f.Code != CodeInvalidRequest {
		t.Fatalf("a repeated Authorization header was accepted: %+v", f)
	}
	bearer := http.Header{"Authorization": {"Bearer x"}}
	c, f := Extract(bearer, mustParse(t, "client_id=sgc_a&client_secret=s"))
	if f != nil || c.Method != MethodPost {
		t.Fatalf("a Bearer header should be ignored: %+v %+v", c, f)
	}
}
