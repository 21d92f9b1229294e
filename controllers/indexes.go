package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
)

// Field indexes on the manager's cache. They turn "which objects refer to
// this one" into a map lookup, so that a change to an AccessRule or a
// ServiceAccount reaches the right ClientCredentials without a list scan.
const (
	// credentialAccountIndex indexes ClientCredentials by spec.serviceAccountName.
	credentialAccountIndex = "spec.serviceAccountName"
	// credentialSecretIndex indexes ClientCredentials by the workload Secret
	// name they claim (spec.secretName, or the object name).
	credentialSecretIndex = "workloadSecretName"
	// ruleSubjectIndex indexes AccessRules by the names of their subjects.
	ruleSubjectIndex = "spec.subjects.name"
	// recordOwnerIndex indexes credential records by the namespace/name of
	// the ClientCredential they were compiled for, which finds a record
	// handed over by a deleted credential, or adopted from one.
	recordOwnerIndex = "credentialRecordOwner"
)

func registerIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &iamv1.ClientCredential{}, credentialAccountIndex, func(o client.Object) []string {
		return []string{o.(*iamv1.ClientCredential).Spec.ServiceAccountName}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &iamv1.ClientCredential{}, credentialSecretIndex, func(o client.Object) []string {
		return []string{workloadSecretName(o.(*iamv1.ClientCredential))}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &corev1.Secret{}, recordOwnerIndex, func(o client.Object) []string {
		l := o.GetLabels()
		if l[record.LabelComponent] != record.ComponentCredentialRecord {
			return nil
		}
		return []string{l[record.LabelNamespace] + "/" + l[record.LabelCredential]}
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &iamv1.AccessRule{}, ruleSubjectIndex, func(o client.Object) []string {
		rule := o.(*iamv1.AccessRule)
		names := make([]string, 0, len(rule.Spec.Subjects))
		for _, s := range rule.Spec.Subjects {
			names = append(names, s.Name)
		}
		return names
	})
}

// workloadSecretName is the Secret a ClientCredential writes.
func workloadSecretName(obj *iamv1.ClientCredential) string {
	if obj.Spec.SecretName != "" {
		return obj.Spec.SecretName
	}
	return obj.Name
}

// listRequests lists objects of a namespace matching an index value and
// turns them into reconcile requests.
func listRequests(ctx context.Context, c client.Client, list client.ObjectList, namespace, index, value string) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing objects for a watch", "index", index)
		return nil
	}
	var out []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		obj := o.(client.Object)
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}})
		return nil
	})
	return out
}

// accountToCredentials maps a ServiceAccount to the ClientCredentials that
// authenticate as it.
func accountToCredentials(c client.Client) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return listRequests(ctx, c, &iamv1.ClientCredentialList{}, o.GetNamespace(), credentialAccountIndex, o.GetName())
	}
}

// ruleToCredentials maps an AccessRule to the ClientCredentials of every
// account it names. Controller-runtime calls it with both the old and the
// new object on update, so a subject removed from a rule is reconciled too.
func ruleToCredentials(c client.Client) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, s := range o.(*iamv1.AccessRule).Spec.Subjects {
			out = append(out, listRequests(ctx, c, &iamv1.ClientCredentialList{}, o.GetNamespace(), credentialAccountIndex, s.Name)...)
		}
		return out
	}
}

// ruleToAccounts maps an AccessRule to the ServiceAccounts it names.
func ruleToAccounts(_ context.Context, o client.Object) []reconcile.Request {
	rule := o.(*iamv1.AccessRule)
	out := make([]reconcile.Request, 0, len(rule.Spec.Subjects))
	for _, s := range rule.Spec.Subjects {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: rule.Namespace, Name: s.Name}})
	}
	return out
}

// accountToRules maps a ServiceAccount to the AccessRules that name it, so a
// rule's found and missing subjects follow accounts coming and going.
func accountToRules(c client.Client) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return listRequests(ctx, c, &iamv1.AccessRuleList{}, o.GetNamespace(), ruleSubjectIndex, o.GetName())
	}
}

// credentialToAccount maps a ClientCredential to its ServiceAccount, whose
// status counts credentials.
func credentialToAccount(_ context.Context, o client.Object) []reconcile.Request {
	cc := o.(*iamv1.ClientCredential)
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: cc.Namespace, Name: cc.Spec.ServiceAccountName}}}
}

// secretToCredentials maps a workload Secret to every ClientCredential that
// claims its name (the owner, and any that lost the claim and wait for it),
// and a credential record to the ClientCredential it was compiled from.
func secretToCredentials(c client.Client, signetNamespace string) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		labels := o.GetLabels()
		if o.GetNamespace() == signetNamespace && labels[record.LabelComponent] == record.ComponentCredentialRecord {
			ns, name := labels[record.LabelNamespace], labels[record.LabelCredential]
			if ns == "" || name == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
		}
		return listRequests(ctx, c, &iamv1.ClientCredentialList{}, o.GetNamespace(), credentialSecretIndex, o.GetName())
	}
}

// isSignetSecret filters Secret events to the ones Signet writes.
func isSignetSecret(o client.Object) bool {
	_, ok := o.(*corev1.Secret)
	return ok && o.GetLabels()[record.LabelComponent] != ""
}
