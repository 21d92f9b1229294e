// Package kubectlsignet implements "kubectl signet", the kubectl plugin for
// Signet. It follows kubectl's conventions through k8s.io/cli-runtime: the
// kubeconfig flags (--kubeconfig, --context, -n, --as, ...) and -o
// json|yaml|name on the commands that print objects.
package kubectlsignet

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/signet-iam/signet/internal/scheme"
)

// options are shared by every command.
type options struct {
	genericiooptions.IOStreams
	config *genericclioptions.ConfigFlags
}

// NewCommand returns the root "kubectl signet" command.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{IOStreams: streams, config: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		// kubectl shows plugins as "kubectl signet"; cobra derives the
		// completion script's command name from Use.
		Use:   "kubectl-signet",
		Short: "Work with Signet machine identities: tokens, status, rotation, revocation",
		Long: `kubectl signet works with Signet's ServiceAccounts, AccessRules and
ClientCredentials (iam.signet.dev) and with the Signet token server.

It reads the same kubeconfig as kubectl and takes kubectl's flags
(--kubeconfig, --context, -n/--namespace, --as, ...).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl signet",
		},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	o.config.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newTokenCommand(o),
		newStatusCommand(o),
		newRotateCommand(o),
		newRevokeCommand(o),
		newInspectCommand(o),
		newCanGrantCommand(o),
	)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\nSee '%s --help'", err, c.CommandPath())}
	})
	return cmd
}

// Execute runs the plugin with the process's arguments and returns its exit
// status. Errors are printed once, as kubectl prints them ("error: ...").
func Execute(streams genericiooptions.IOStreams) int {
	err := NewCommand(streams).Execute()
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errDenied):
		// The table already said which grants are missing.
		return 1
	}
	fmt.Fprintln(streams.ErrOut, "error:", err)
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError marks an error in how the command was called: exit status 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// errDenied is returned by can-grant when a grant is not allowed, so that
// scripts can test the exit status, as with "kubectl auth can-i".
var errDenied = errors.New("not allowed")

// namespace is the namespace from -n or the kubeconfig context.
func (o *options) namespace() (string, error) {
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// client returns a controller-runtime client (typed Signet objects) and a
// clientset (SelfSubjectAccessReview) for the kubeconfig in use.
func (o *options) clients() (client.Client, kubernetes.Interface, error) {
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return c, cs, nil
}
