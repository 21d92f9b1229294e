package testutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The token server as its clients see it, through stock clients, for the
// end-to-end and fault tests. Credentials are a workload Secret's data as
// strings: client_id, client_secret, token_url.

// TokenFor gets a token with the stock client_credentials client
// (client_secret_basic) from the Secret's token_url.
func TokenFor(creds map[string]string, scopes ...string) (*oauth2.Token, error) {
	cfg := clientcredentials.Config{
		ClientID:     creds["client_id"],
		ClientSecret: creds["client_secret"],
		TokenURL:     creds["token_url"],
		Scopes:       scopes,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	return cfg.Token(context.Background())
}

// TokenAt gets a token like TokenFor, from the token-server replica at base.
func TokenAt(base string, creds map[string]string, scopes ...string) (*oauth2.Token, error) {
	at := map[string]string{}
	for k, v := range creds {
		at[k] = v
	}
	at["token_url"] = base + "/oauth2/token"
	return TokenFor(at, scopes...)
}

// IntrospectAt asks the token-server replica at base whether token is
// active, authenticating as caller.
func IntrospectAt(base string, caller map[string]string, token string) (bool, error) {
	resp, err := postBasic(base+"/oauth2/introspect", caller, token)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection: HTTP %d", resp.StatusCode)
	}
	var body struct {
		Active bool `json:"active"`
	}
	return body.Active, json.NewDecoder(resp.Body).Decode(&body)
}

// RevokeAt revokes token (RFC 7009) at the replica at base as creds, and
// returns the HTTP status.
func RevokeAt(base string, creds map[string]string, token string) (int, error) {
	resp, err := postBasic(base+"/oauth2/revoke", creds, token)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// ActiveAt reports an error unless the replica at base introspects token as
// active for caller.
func ActiveAt(base string, caller map[string]string, token string) error {
	active, err := IntrospectAt(base, caller, token)
	if err == nil && !active {
		err = errors.New("inactive")
	}
	return err
}

// InactiveAt reports an error unless the replica at base introspects token
// as inactive for caller.
func InactiveAt(base string, caller map[string]string, token string) error {
	active, err := IntrospectAt(base, caller, token)
	if err == nil && active {
		err = errors.New("still active")
	}
	return err
}

func postBasic(endpoint string, creds map[string]string, token string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(creds["client_id"], creds["client_secret"])
	return http.DefaultClient.Do(req)
}

// WaitFor polls check until it returns nil, failing the test when timeout
// passes first, and returns how long it took.
func WaitFor(t testing.TB, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
