// Command oidc-issuer runs a local OIDC issuer on a loopback port, for
// trying Federated ClientCredentials without GitHub Actions, GitLab CI or
// another cluster: it serves discovery and a JWKS, and GET /token signs a
// token with the claims given in the query, as a CI system hands a job its
// token. It prints its issuer URL, then serves until interrupted.
//
// It signs for anyone who asks: never trust it outside a trial.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/signet-iam/signet/internal/testutil/oidcissuer"
)

func main() {
	is, err := oidcissuer.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "oidc-issuer:", err)
		os.Exit(1)
	}
	defer is.Close()
	is.ServeMinting()
	fmt.Println(is.URL)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}
