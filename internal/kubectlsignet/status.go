package kubectlsignet

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/scheme"
)

// PropagatedCondition is the condition a ClientCredential carries once every
// token-server replica has applied its current generation
// (docs/revocation.md). Clusters whose manager predates it never set it;
// status and revoke --wait say so instead of guessing.
const PropagatedCondition = iamv1.PropagatedCondition

type statusOptions struct {
	*options
	print *genericclioptions.PrintFlags
}

func newStatusCommand(o *options) *cobra.Command {
	s := &statusOptions{options: o, print: genericclioptions.NewPrintFlags("").WithTypeSetter(scheme.New())}
	cmd := &cobra.Command{
		Use:   "status [ACCOUNT | serviceaccount/NAME | clientcredential/NAME]",
		Short: "Show what an account may do, and when its credentials expire and rotate",
		Long: `Show Signet ServiceAccounts: their subject, the scopes and audiences their
AccessRules grant, their expiry, and each of their ClientCredentials with its
client ID, readiness, expiry, next rotation, how long the previous secret
still works, and whether the last change has reached the token servers.

With no argument, every ServiceAccount in the namespace. A bare NAME is the
ServiceAccount of that name if there is one, else the ClientCredential.
With -o json|yaml|name, prints the objects themselves, as kubectl get does.`,
		Example: `  kubectl signet status -n payments
  kubectl signet status billing-api
  kubectl signet status clientcredential/billing-api -o yaml`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeNames(o, accountKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			return s.run(cmd.Context(), cmd.OutOrStdout(), args)
		},
	}
	s.print.AddFlags(cmd)
	return cmd
}

// accountView is one ServiceAccount (nil when its credentials name an
// account that does not exist) and the credentials shown with it.
type accountView struct {
	name    string
	account *iamv1.ServiceAccount
	creds   []iamv1.ClientCredential
}

func (s *statusOptions) run(ctx context.Context, out io.Writer, args []string) error {
	ns, err := s.namespace()
	if err != nil {
		return err
	}
	c, _, err := s.clients()
	if err != nil {
		return err
	}
	views, err := collect(ctx, c, ns, args)
	if err != nil {
		return err
	}
	if *s.print.OutputFormat != "" {
		return s.printObjects(out, views)
	}
	if len(views) == 0 {
		_, err := fmt.Fprintf(out, "No Signet ServiceAccounts in namespace %s.\n", ns)
		return err
	}
	return printStatus(out, ns, views, time.Now())
}

// collect resolves the argument into the accounts and credentials to show.
func collect(ctx context.Context, c client.Client, ns string, args []string) ([]accountView, error) {
	creds := &iamv1.ClientCredentialList{}
	if err := c.List(ctx, creds, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	byAccount := map[string][]iamv1.ClientCredential{}
	for _, cc := range creds.Items {
		byAccount[cc.Spec.ServiceAccountName] = append(byAccount[cc.Spec.ServiceAccountName], cc)
	}
	account := func(name string) (*iamv1.ServiceAccount, error) {
		sa := &iamv1.ServiceAccount{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sa)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return sa, err
	}
	if len(args) == 0 {
		accounts := &iamv1.ServiceAccountList{}
		if err := c.List(ctx, accounts, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		var views []accountView
		seen := map[string]bool{}
		for i := range accounts.Items {
			sa := &accounts.Items[i]
			seen[sa.Name] = true
			views = append(views, accountView{name: sa.Name, account: sa, creds: byAccount[sa.Name]})
		}
		// Credentials whose account is missing are shown too: they cannot
		// get tokens, and that is worth seeing.
		var orphans []string
		for name := range byAccount {
			if !seen[name] {
				orphans = append(orphans, name)
			}
		}
		sort.Strings(orphans)
		for _, name := range orphans {
			views = append(views, accountView{name: name, creds: byAccount[name]})
		}
		return views, nil
	}
	kindName, name, typed := strings.Cut(args[0], "/")
	if !typed {
		name, kindName = kindName, ""
	}
	switch strings.ToLower(kindName) {
	case "", "serviceaccount", "serviceaccounts", "sigsa", "serviceaccount.iam.signet.dev":
		sa, err := account(name)
		if err != nil {
			return nil, err
		}
		if sa != nil {
			return []accountView{{name: name, account: sa, creds: byAccount[name]}}, nil
		}
		if typed {
			return nil, fmt.Errorf("ServiceAccount %q (iam.signet.dev) not found in namespace %q", name, ns)
		}
	case "clientcredential", "clientcredentials", "sigcred", "cc", "clientcredential.iam.signet.dev":
	default:
		return nil, usageError{fmt.Errorf("%q is not a Signet kind: use serviceaccount/NAME or clientcredential/NAME", kindName)}
	}
	for _, cc := range creds.Items {
		if cc.Name == name {
			sa, err := account(cc.Spec.ServiceAccountName)
			if err != nil {
				return nil, err
			}
			return []accountView{{name: cc.Spec.ServiceAccountName, account: sa, creds: []iamv1.ClientCredential{cc}}}, nil
		}
	}
	return nil, fmt.Errorf("no Signet ServiceAccount or ClientCredential named %q in namespace %q", name, ns)
}

// printObjects prints the objects with kubectl's printers, as one List when
// there are several.
func (s *statusOptions) printObjects(out io.Writer, views []accountView) error {
	printer, err := s.print.ToPrinter()
	if err != nil {
		return usageError{err}
	}
	var objs []runtime.Object
	for _, v := range views {
		if v.account != nil {
			objs = append(objs, v.account.DeepCopy())
		}
		for i := range v.creds {
			objs = append(objs, v.creds[i].DeepCopy())
		}
	}
	sch := scheme.New()
	list := &corev1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
	for _, obj := range objs {
		gvk, err := apiutil.GVKForObject(obj, sch)
		if err != nil {
			return err
		}
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		list.Items = append(list.Items, runtime.RawExtension{Object: obj})
	}
	if f := *s.print.OutputFormat; len(objs) == 1 || (f != "json" && f != "yaml") {
		// kubectl's name and template printers take one object at a time.
		for _, obj := range objs {
			if err := printer.PrintObj(obj, out); err != nil {
				return err
			}
		}
		return nil
	}
	return printer.PrintObj(list, out)
}

// printStatus writes the human-readable report.
func printStatus(out io.Writer, ns string, views []accountView, now time.Time) error {
	unreported := false
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if v.account == nil {
			fmt.Fprintf(out, "ServiceAccount %s/%s: not found (its credentials cannot get tokens)\n", ns, v.name)
		} else {
			sa := v.account
			fmt.Fprintf(out, "ServiceAccount %s/%s: %s\n", ns, sa.Name, conditionSummary(sa.Status.Conditions, sa.Generation, sa.Status.ObservedGeneration))
			fmt.Fprintf(out, "  Subject:     %s\n", orNone(sa.Status.Subject))
			fmt.Fprintf(out, "  Scopes:      %s\n", orNone(strings.Join(sa.Status.Scopes, " ")))
			fmt.Fprintf(out, "  Audiences:   %s\n", orNone(strings.Join(sa.Status.Audiences, " ")))
			fmt.Fprintf(out, "  Expires:     %s\n", when(sa.Status.ExpiresAt, now, "never"))
			if sa.Spec.Disabled {
				fmt.Fprintf(out, "  Disabled:    yes (no new tokens; issued tokens introspect inactive)\n")
			}
		}
		if len(v.creds) == 0 {
			fmt.Fprintln(out, "  Credentials: none")
			continue
		}
		fmt.Fprintln(out, "  Credentials:")
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    NAME\tTYPE\tCLIENT ID\tREADY\tEXPIRES\tNEXT ROTATION\tPREVIOUS SECRET UNTIL\tPROPAGATED")
		for _, cc := range v.creds {
			prop := propagation(&cc)
			if prop == "not reported" {
				unreported = true
			}
			typ := string(cc.Spec.Type)
			if typ == "" {
				typ = string(iamv1.ClientSecretType)
			}
			if cc.Spec.Revoked {
				typ += " (revoked)"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cc.Name, typ, orNone(cc.Status.ClientID),
				conditionSummary(cc.Status.Conditions, cc.Generation, cc.Status.ObservedGeneration),
				when(cc.Status.ExpiresAt, now, "never"), when(cc.Status.NextRotationTime, now, "not scheduled"),
				when(cc.Status.PreviousSecretValidUntil, now, "-"), prop)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if unreported {
		fmt.Fprintf(out, "\nPropagation: this cluster does not report it (no %s condition on the ClientCredentials).\n"+
			"Ready means the manager has written the credential record; token servers apply a record within about a second.\n", PropagatedCondition)
	}
	return nil
}

// conditionSummary is "True", "False (Reason)", plus "pending" while the
// manager has not yet observed the latest generation.
func conditionSummary(conds []metav1.Condition, generation, observed int64) string {
	ready := apimeta.FindStatusCondition(conds, iamv1.ReadyCondition)
	s := "Unknown"
	if ready != nil {
		s = string(ready.Status)
		if ready.Status != metav1.ConditionTrue && ready.Reason != "" {
			s += " (" + ready.Reason + ")"
		}
	}
	if apimeta.IsStatusConditionTrue(conds, iamv1.ExpiringSoonCondition) {
		s += ", expiring soon"
	}
	if observed < generation {
		s += ", change pending"
	}
	return s
}

// propagation reports the Propagated condition, or "not reported".
func propagation(cc *iamv1.ClientCredential) string {
	c := apimeta.FindStatusCondition(cc.Status.Conditions, PropagatedCondition)
	if c == nil {
		return "not reported"
	}
	s := string(c.Status)
	if c.Status != metav1.ConditionTrue && c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	if c.ObservedGeneration != 0 && c.ObservedGeneration < cc.Generation {
		s += ", change pending"
	}
	return s
}

func when(t *metav1.Time, now time.Time, unset string) string {
	if t == nil || t.IsZero() {
		return unset
	}
	return t.UTC().Format(time.RFC3339) + " (" + relative(t.Time, now) + ")"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
