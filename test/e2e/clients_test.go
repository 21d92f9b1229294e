//go:build e2e

package e2e

import "github.com/signet-iam/signet/internal/testutil"

// The stock OAuth2 clients and condition waits the fault tests share.
var (
	tokenFor     = testutil.TokenFor
	tokenAt      = testutil.TokenAt
	introspectAt = testutil.IntrospectAt
	activeAt     = testutil.ActiveAt
	inactiveAt   = testutil.InactiveAt
	waitFor      = testutil.WaitFor
)
