package kubectlsignet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/scheme"
)

// changeOptions are shared by rotate and revoke: both patch the spec and
// can wait for the manager (and, where reported, the token servers).
type changeOptions struct {
	*options
	print   *genericclioptions.PrintFlags
	wait    bool
	timeout time.Duration
}

func newChangeOptions(o *options, operation string) *changeOptions {
	return &changeOptions{options: o, print: genericclioptions.NewPrintFlags(operation).WithTypeSetter(scheme.New())}
}

func (c *changeOptions) addFlags(cmd *cobra.Command, waitHelp string) {
	c.print.AddFlags(cmd)
	cmd.Flags().BoolVar(&c.wait, "wait", false, waitHelp)
	cmd.Flags().DurationVar(&c.timeout, "timeout", time.Minute, "How long --wait waits before giving up.")
}

func newRotateCommand(o *options) *cobra.Command {
	c := newChangeOptions(o, "rotation triggered")
	cmd := &cobra.Command{
		Use:   "rotate CREDENTIAL",
		Short: "Rotate a ClientCredential's secret now",
		Long: `Set spec.rotation.trigger of a ClientCredential to a new value, which makes the
manager generate a new secret at once. The previous secret keeps working for
spec.rotation.gracePeriod (none by default).

In a GitOps setup, change spec.rotation.trigger in Git instead: the next
sync would otherwise set it back, which rotates once more.`,
		Example:           `  kubectl signet rotate -n payments billing-api --wait`,
		Args:              exactOneArg("CREDENTIAL"),
		ValidArgsFunction: completeNames(o, credentialKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.rotate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0])
		},
	}
	c.addFlags(cmd, "Wait until the manager has issued the new secret.")
	return cmd
}

func newRevokeCommand(o *options) *cobra.Command {
	c := newChangeOptions(o, "revoked")
	cmd := &cobra.Command{
		Use:   "revoke CREDENTIAL",
		Short: "Revoke a ClientCredential and every token issued with it",
		Long: `Set spec.revoked on a ClientCredential: the token server refuses it and every
access token issued with it introspects as inactive. Setting spec.revoked
back to false issues a new secret; earlier tokens stay inactive.

With --wait, waits until the manager has applied the revocation and, where
the cluster reports it (the Propagated condition), until every token-server
replica has; where it does not, says so.`,
		Example:           `  kubectl signet revoke -n payments billing-api --wait`,
		Args:              exactOneArg("CREDENTIAL"),
		ValidArgsFunction: completeNames(o, credentialKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.revoke(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0])
		},
	}
	c.addFlags(cmd, "Wait until the revocation is in force (and propagated, where the cluster reports that).")
	return cmd
}

func (c *changeOptions) rotate(ctx context.Context, out, errOut io.Writer, name string) error {
	ns, cl, obj, err := c.load(ctx, name)
	if err != nil {
		return err
	}
	if obj.Spec.PublicKeys != nil {
		return fmt.Errorf("ClientCredential %q uses public keys you supplied, which Signet cannot rotate: replace spec.publicKeys instead", name)
	}
	if obj.Spec.Revoked {
		return fmt.Errorf("ClientCredential %q is revoked: set spec.revoked to false to issue a new secret", name)
	}
	before := obj.Status.LastRotationTime
	trigger := "kubectl-signet-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	patch := map[string]any{"spec": map[string]any{"rotation": map[string]any{"trigger": trigger}}}
	if err := c.patch(ctx, cl, obj, patch); err != nil {
		return err
	}
	if c.wait {
		err := c.waitFor(ctx, cl, ns, name, "the new secret", func(cc *iamv1.ClientCredential) bool {
			rotated := cc.Status.LastRotationTime != nil && (before == nil || cc.Status.LastRotationTime.After(before.Time))
			return rotated && cc.Status.ObservedGeneration >= obj.Generation &&
				apimeta.IsStatusConditionTrue(cc.Status.Conditions, iamv1.ReadyCondition)
		})
		if err != nil {
			return err
		}
		if obj, err = getCredential(ctx, cl, ns, name); err != nil {
			return err
		}
		if err := c.reportPropagation(ctx, cl, ns, obj, errOut); err != nil {
			return err
		}
	}
	return c.printResult(obj, out)
}

func (c *changeOptions) revoke(ctx context.Context, out, errOut io.Writer, name string) error {
	ns, cl, obj, err := c.load(ctx, name)
	if err != nil {
		return err
	}
	if !obj.Spec.Revoked {
		if err := c.patch(ctx, cl, obj, map[string]any{"spec": map[string]any{"revoked": true}}); err != nil {
			return err
		}
	}
	if c.wait {
		err := c.waitFor(ctx, cl, ns, name, "the revocation", func(cc *iamv1.ClientCredential) bool {
			ready := apimeta.FindStatusCondition(cc.Status.Conditions, iamv1.ReadyCondition)
			return cc.Status.ObservedGeneration >= obj.Generation && ready != nil && ready.Reason == iamv1.RevokedReason
		})
		if err != nil {
			return err
		}
		if obj, err = getCredential(ctx, cl, ns, name); err != nil {
			return err
		}
		if err := c.reportPropagation(ctx, cl, ns, obj, errOut); err != nil {
			return err
		}
	}
	return c.printResult(obj, out)
}

func (c *changeOptions) load(ctx context.Context, name string) (string, client.Client, *iamv1.ClientCredential, error) {
	ns, err := c.namespace()
	if err != nil {
		return "", nil, nil, err
	}
	if _, err := c.print.ToPrinter(); err != nil {
		return "", nil, nil, usageError{err}
	}
	cl, _, err := c.clients()
	if err != nil {
		return "", nil, nil, err
	}
	obj, err := getCredential(ctx, cl, ns, name)
	return ns, cl, obj, err
}

// patch applies a JSON merge patch to the spec, and leaves obj as the API
// server returned it (with its new generation).
func (c *changeOptions) patch(ctx context.Context, cl client.Client, obj *iamv1.ClientCredential, patch map[string]any) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if err := cl.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", data)); err != nil {
		return fmt.Errorf("patching ClientCredential %q: %w", obj.Name, err)
	}
	return nil
}

// waitFor polls the ClientCredential until done holds or --timeout passes.
func (c *changeOptions) waitFor(ctx context.Context, cl client.Client, ns, name, what string, done func(*iamv1.ClientCredential) bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var last *iamv1.ClientCredential
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		cc := &iamv1.ClientCredential{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cc); err != nil {
			return false, nil //nolint:nilerr // retried until the timeout; the last state is reported
		}
		last = cc
		return done(cc), nil
	})
	if err != nil {
		state := "not read"
		if last != nil {
			state = conditionSummary(last.Status.Conditions, last.Generation, last.Status.ObservedGeneration)
		}
		return fmt.Errorf("timed out after %v waiting for %s on ClientCredential %q (Ready: %s); is the Signet manager running?", c.timeout, what, name, state)
	}
	return nil
}

// reportPropagation waits for the Propagated condition where the cluster
// reports it, and says plainly when it does not.
func (c *changeOptions) reportPropagation(ctx context.Context, cl client.Client, ns string, obj *iamv1.ClientCredential, errOut io.Writer) error {
	if apimeta.FindStatusCondition(obj.Status.Conditions, PropagatedCondition) == nil {
		fmt.Fprintf(errOut, "The manager has applied the change. This cluster does not report propagation to the token servers "+
			"(no %s condition); they apply a record within about a second.\n", PropagatedCondition)
		return nil
	}
	return c.waitFor(ctx, cl, ns, obj.Name, "propagation to every token server", func(cc *iamv1.ClientCredential) bool {
		p := apimeta.FindStatusCondition(cc.Status.Conditions, PropagatedCondition)
		return p != nil && p.Status == metav1.ConditionTrue && p.ObservedGeneration >= obj.Generation
	})
}

func (c *changeOptions) printResult(obj *iamv1.ClientCredential, out io.Writer) error {
	printer, err := c.print.ToPrinter()
	if err != nil {
		return usageError{err}
	}
	return printer.PrintObj(obj, out)
}
