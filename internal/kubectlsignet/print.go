package kubectlsignet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// printStructured prints v as indented JSON or as YAML.
func printStructured(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// exactOneArg is cobra.ExactArgs(1) with a message that names the argument.
func exactOneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError{fmt.Errorf("%s takes exactly one %s, got %d arguments\nSee '%s --help'", cmd.Name(), what, len(args), cmd.CommandPath())}
		}
		return nil
	}
}

type kind int

const (
	credentialKind kind = iota
	accountKind
)

// completeNames completes the names of Signet objects in the namespace for
// shell completion; it stays quiet when the cluster is unreachable.
func completeNames(o *options, k kind) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 && k == credentialKind {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ns, err := o.namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, _, err := o.clients()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var names []string
		creds := &iamv1.ClientCredentialList{}
		if err := c.List(ctx, creds, client.InNamespace(ns)); err == nil {
			for _, cc := range creds.Items {
				names = append(names, prefixIf(k == accountKind, "clientcredential/", cc.Name))
			}
		}
		if k == accountKind {
			accounts := &iamv1.ServiceAccountList{}
			if err := c.List(ctx, accounts, client.InNamespace(ns)); err == nil {
				for _, sa := range accounts.Items {
					names = append(names, sa.Name, "serviceaccount/"+sa.Name)
				}
			}
		}
		out := names[:0]
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func prefixIf(cond bool, prefix, s string) string {
	if cond {
		return prefix + s
	}
	return s
}

// ago and in render times relative to now for tables.
func relative(t time.Time, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return "in " + humanDuration(d)
	case d < 0:
		return humanDuration(-d) + " ago"
	}
	return "now"
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}
