// Command kubectl-signet is the kubectl plugin for Signet: "kubectl signet
// token|status|rotate|revoke|inspect|can-grant". Installed on the PATH (or
// through krew, plugins/signet.yaml), kubectl runs it as "kubectl signet".
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/signet-iam/signet/internal/kubectlsignet"
)

func main() {
	os.Exit(kubectlsignet.Execute(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
