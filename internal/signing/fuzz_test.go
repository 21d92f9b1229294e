package signing

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzParse: the signing key Secret is parsed by every token server and by
// the manager. Arbitrary content must never panic either, whatever is
// accepted must be able to sign under its declared algorithm, and no error
// may quote the private key.
func FuzzParse(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	for _, alg := range []string{"ES256", "EdDSA"} {
		k, err := NewKey(alg, now, now)
		if err != nil {
			f.Fatal(err)
		}
		data, err := (&KeySet{Keys: []*Key{k}}).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"keys":[{"kid":"a","alg":"ES256","privateKeyPem":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}]}`))
	f.Add([]byte(`{"keys":[null]}`))
	f.Add([]byte(`{"keys":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			var raw KeySet
			_ = json.Unmarshal(data, &raw)
			for _, k := range raw.Keys {
				// The kid is named in errors on purpose; it is not secret.
				if k != nil && len(k.PrivateKeyPEM) >= 8 &&
					strings.Contains(strings.ReplaceAll(err.Error(), k.ID, ""), k.PrivateKeyPEM) {
					t.Fatalf("the error quotes a private key: %v", err)
				}
			}
			return
		}
		for _, k := range s.Keys {
			if k == nil || k.Signer() == nil {
				t.Fatalf("accepted a key that cannot sign: %+v", k)
			}
			if err := checkAlgorithm(k.Algorithm, k.Signer().Public()); err != nil {
				t.Fatalf("accepted a key whose algorithm does not fit: %v", err)
			}
		}
	})
}
