package kubectlsignet

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// The RBAC resources whose verb "grant" guards adding a scope or an
// audience to an AccessRule, with the scope or audience as resourceName.
const (
	verbGrant         = "grant"
	resourceScopes    = "scopes"
	resourceAudiences = "audiences"
)

type canGrantOptions struct {
	*options
	audiences []string
	output    string
}

func newCanGrantCommand(o *options) *cobra.Command {
	g := &canGrantOptions{options: o}
	cmd := &cobra.Command{
		Use:   "can-grant SCOPE...",
		Short: "Say whether you may grant these scopes (and audiences) in a namespace",
		Long: `Say whether the current user may put these scopes (and, with --audience,
audiences) into an AccessRule in the namespace. Adding a scope or an audience
needs the RBAC verb "grant" on scopes or audiences of iam.signet.dev with the
scope as its resourceName; this asks the API server with a
SelfSubjectAccessReview, so it works from RBAC alone, whether or not the
admission check that enforces it is installed.

Exits with status 1 when any of them is not allowed, like "kubectl auth can-i".`,
		Example: `  kubectl signet can-grant -n payments orders:read orders:write
  kubectl signet can-grant orders:read --audience https://orders.example.com
  kubectl signet can-grant orders:read --as system:serviceaccount:ci:deployer`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && len(g.audiences) == 0 {
				return usageError{fmt.Errorf("name at least one SCOPE (or --audience)\nSee '%s --help'", cmd.CommandPath())}
			}
			return g.run(cmd.Context(), cmd.OutOrStdout(), args)
		},
	}
	cmd.Flags().StringSliceVar(&g.audiences, "audience", nil, "Audiences to check as well.")
	cmd.Flags().StringVarP(&g.output, "output", "o", "", "Output format: empty (a table), json or yaml.")
	return cmd
}

// grantCheck is one answer, as printed by -o json.
type grantCheck struct {
	Resource string `json:"resource"`
	Name     string `json:"name"`
	Allowed  bool   `json:"allowed"`
	Reason   string `json:"reason,omitempty"`
}

func (g *canGrantOptions) run(ctx context.Context, out io.Writer, scopes []string) error {
	if g.output != "" && g.output != "json" && g.output != "yaml" {
		return usageError{fmt.Errorf("--output must be json or yaml, not %q", g.output)}
	}
	ns, err := g.namespace()
	if err != nil {
		return err
	}
	_, cs, err := g.clients()
	if err != nil {
		return err
	}
	var checks []grantCheck
	for _, q := range []struct {
		resource string
		names    []string
	}{{resourceScopes, scopes}, {resourceAudiences, g.audiences}} {
		for _, name := range q.names {
			c, err := canGrant(ctx, cs, ns, q.resource, name)
			if err != nil {
				return err
			}
			checks = append(checks, c)
		}
	}
	if g.output != "" {
		err = printStructured(out, g.output, checks)
	} else {
		err = printGrantChecks(out, ns, checks)
	}
	if err != nil {
		return err
	}
	for _, c := range checks {
		if !c.Allowed {
			return errDenied
		}
	}
	return nil
}

func canGrant(ctx context.Context, cs kubernetes.Interface, ns, resource, name string) (grantCheck, error) {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: verbGrant, Group: iamv1.GroupVersion.Group, Resource: resource, Name: name,
		},
	}}
	res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return grantCheck{}, fmt.Errorf("asking the API server (SelfSubjectAccessReview) about %s %q: %w", resource, name, err)
	}
	reason := res.Status.Reason
	if res.Status.EvaluationError != "" {
		reason += " (evaluation error: " + res.Status.EvaluationError + ")"
	}
	return grantCheck{Resource: resource, Name: name, Allowed: res.Status.Allowed, Reason: reason}, nil
}

func printGrantChecks(out io.Writer, ns string, checks []grantCheck) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tALLOWED\tREASON")
	denied := false
	for _, c := range checks {
		allowed := "yes"
		if !c.Allowed {
			allowed, denied = "no", true
		}
		kind := "scope"
		if c.Resource == resourceAudiences {
			kind = "audience"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", kind, c.Name, allowed, c.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if denied {
		_, err := fmt.Fprintf(out, "\nTo allow it, bind a Role in %s with verbs [grant] on resources [scopes] or [audiences] of apiGroup %s, with the names as resourceNames.\n", ns, iamv1.GroupVersion.Group)
		return err
	}
	return nil
}
