package credential

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// ClientIDPrefix starts every client_id, so that a client_id is never
// mistaken for a user name or for a secret.
const ClientIDPrefix = "sgc_"

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ClientID derives the client_id of a ClientCredential from its UID. It is
// stable for the life of the object (across rotations and controller
// restarts) and needs no storage, so a crash can never give one credential
// two client IDs. A re-created object is a new client.
func ClientID(uid string) (string, error) {
	raw, err := hex.DecodeString(strings.ReplaceAll(uid, "-", ""))
	if err != nil || len(raw) != 16 {
		return "", fmt.Errorf("object UID %q is not a UUID", uid)
	}
	return ClientIDPrefix + lowerBase32.EncodeToString(raw), nil
}

// ValidClientID reports whether s has the shape of a Signet client_id. The
// token server uses it to refuse junk before any lookup.
func ValidClientID(s string) bool {
	if len(s) != len(ClientIDPrefix)+26 || !strings.HasPrefix(s, ClientIDPrefix) {
		return false
	}
	for i := len(ClientIDPrefix); i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// Subject is the "sub" claim of every token issued to a ServiceAccount. It
// names the namespace (the tenant) and the account, and cannot collide with
// Kubernetes' own "system:serviceaccount:" subjects.
func Subject(namespace, serviceAccount string) string {
	return "signet:" + namespace + ":" + serviceAccount
}
