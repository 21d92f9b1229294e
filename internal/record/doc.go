// Package record is the contract between Signet's manager and its token
// server: the Secrets the manager writes in the Signet namespace and the
// token server reads. A credential record holds everything the token server
// needs to authenticate a client and shape its tokens, and nothing from
// which a secret can be recovered.
//
// Both binaries import this package; neither imports the other.
package record
