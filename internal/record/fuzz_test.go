package record

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParse: the token server decodes every record it watches with Parse,
// so a damaged or hostile record must never panic it, never be half-read
// (whatever Parse accepts survives a round trip unchanged), and never have
// its contents copied into the error, which reaches logs.
func FuzzParse(f *testing.F) {
	exp := time.Unix(1_800_000_000, 0).UTC()
	valid := &Record{
		ClientID: "sgc_aaaaaaaaaaaaaaaaaaaaaaaaaa", Type: TypeClientSecret, Subject: "signet:team-a:builder",
		Namespace: "team-a", ServiceAccount: "builder", Credential: "builder",
		Scopes: []string{"a", "b"}, Secrets: []SecretHash{{Hash: "hmac-sha256:k1:secrethashvalue"}},
		ExpiresAt: &exp, AccessTokenLifetimeSeconds: 3600,
	}
	data, err := valid.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"version":99,"clientId":"x","subject":"y","type":"ClientSecret","accessTokenLifetimeSeconds":1}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(strings.Repeat("[", 1<<10)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if len(data) >= 16 && strings.Contains(err.Error(), string(data)) {
				t.Fatalf("the error quotes the record: %v", err)
			}
			if strings.Contains(err.Error(), "secrethashvalue") {
				t.Fatalf("the error quotes a hash: %v", err)
			}
			return
		}
		if r.ClientID == "" || r.Subject == "" || r.AccessTokenLifetimeSeconds <= 0 || r.Version < 1 {
			t.Fatalf("accepted an incomplete record %+v", r)
		}
		again, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Parse(again)
		if err != nil {
			t.Fatalf("a record Parse accepted does not parse again: %v", err)
		}
		if !reflect.DeepEqual(normalise(t, r), normalise(t, r2)) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, r2)
		}
	})
}

// normalise compares records by their JSON form, so that nil and empty
// slices, and time zones, do not count as differences.
func normalise(t *testing.T, r *Record) map[string]any {
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
