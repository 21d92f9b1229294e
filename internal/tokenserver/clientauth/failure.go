package clientauth

import "time"

// OAuth error codes (RFC 6749 5.2) an authentication can end with.
const (
	CodeInvalidRequest     = "invalid_request"
	CodeInvalidClient      = "invalid_client"
	CodeUnauthorizedClient = "unauthorized_client"
	// CodeUnavailable (RFC 6749 4.1.2.1) is used with 503 when the server
	// cannot decide, for example when the replay check cannot be recorded.
	CodeUnavailable = "temporarily_unavailable"
)

// Reasons say why an authentication failed, in audit lines and metric
// labels. They are a fixed vocabulary, so that no request data ever becomes
// a label.
const (
	ReasonNoCredentials    = "no_credentials"
	ReasonMultipleMethods  = "multiple_methods"
	ReasonMalformed        = "malformed_credentials"
	ReasonUnknownClient    = "unknown_client"
	ReasonWrongMethod      = "wrong_method"
	ReasonMalformedSecret  = "malformed_secret"
	ReasonWrongSecret      = "wrong_secret"
	ReasonRevoked          = "revoked"
	ReasonDisabled         = "disabled"
	ReasonExpired          = "expired"
	ReasonNotReady         = "not_ready"
	ReasonAssertion        = "assertion_invalid"
	ReasonAssertionKey     = "assertion_unknown_key"
	ReasonAssertionClaims  = "assertion_claims"
	ReasonAssertionAud     = "assertion_audience"
	ReasonAssertionTime    = "assertion_lifetime"
	ReasonAssertionReplay  = "assertion_replayed"
	ReasonReplayCheckError = "replay_check_unavailable"
	ReasonAssertionQuota   = "assertion_quota"
)

// Failure is a refused authentication. Description is safe to send to the
// client and to log: it never holds request data.
type Failure struct {
	Code        string
	Reason      string
	Description string
	// Basic is set when the request used HTTP Basic, so the 401 carries
	// WWW-Authenticate (RFC 6749 5.2).
	Basic bool
	// RetryAfter, when set, is sent as Retry-After.
	RetryAfter time.Duration
}

func fail(code, reason, description string) *Failure {
	return &Failure{Code: code, Reason: reason, Description: description}
}

// Counts reports whether the failure counts against the rate limits: a
// wrong or unusable credential does; a request the server could not judge
// does not.
func (f *Failure) Counts() bool {
	return f.Code == CodeInvalidClient || f.Code == CodeUnauthorizedClient
}
