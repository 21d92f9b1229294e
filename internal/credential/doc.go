// Package credential defines the strings a Signet client holds and how the
// token server recognises them without storing them: the client ID, the
// subject, the secret format (prefix, 256 random bits, checksum), and the
// keyed hash (HMAC-SHA-256) kept in credential records.
//
// Both binaries import it: the manager to generate and hash, the token server
// to verify. It has no Kubernetes dependencies.
package credential
