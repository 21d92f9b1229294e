package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/replicareport"
)

// propagationFieldOwner is the field manager of the ClientCredential
// status fields the propagation controller decides: the Propagated
// condition and status.propagation, and nothing else.
const propagationFieldOwner = client.FieldOwner("signet-propagation")

// PropagationReconciler sets Propagated and status.propagation on each
// ClientCredential from the token-server replicas' reports
// (docs/design/0029-replica-reports.md). It is its own controller, with
// its own field manager, so that the credential reconciler's passes are not
// repeated for every report a replica writes.
type PropagationReconciler struct {
	client.Client
	Clock clock.PassiveClock
	// Namespace is the Signet namespace: records and reports.
	Namespace               string
	MaxConcurrentReconciles int

	pending pendingSet
}

// Reconcile decides the Propagated condition of one ClientCredential.
func (r *PropagationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &iamv1.ClientCredential{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil || !obj.DeletionTimestamp.IsZero() {
		r.pending.set(req.NamespacedName, false, "")
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	in := propagationInput{generation: obj.Generation, previousStatus: obj.Status.Propagation,
		previous: meta.FindStatusCondition(obj.Status.Conditions, iamv1.PropagatedCondition)}
	rec, version, err := r.record(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	in.recordPending = rec == nil || rec.Generation != obj.Generation
	if !in.recordPending {
		in.versions = []string{version}
		in.changedAt = deref(rec.ChangedAt)
	}
	if in.reports, err = reports(ctx, r.Client, r.Namespace); err != nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	o := planPropagation(in, now)
	r.pending.set(req.NamespacedName, !o.done, o.awaits)
	if err := r.writeStatus(ctx, obj, in.previous, o, now); err != nil {
		reconcileErrors.WithLabelValues("propagation").Inc()
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	observePropagation("ClientCredential", o)
	return ctrl.Result{RequeueAfter: requeueAfter(now, o.next)}, nil
}

// record reads the credential's record from the cache, with the
// resourceVersion of its Secret; nil when there is none or it does not
// parse (the credential reconciler rebuilds it).
func (r *PropagationReconciler) record(ctx context.Context, obj *iamv1.ClientCredential) (*record.Record, string, error) {
	clientID := obj.Status.ClientID
	if clientID == "" {
		var err error
		if clientID, err = credential.ClientID(string(obj.UID)); err != nil {
			return nil, "", err
		}
	}
	s := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: record.SecretName(clientID)}, s)
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	rec, perr := record.Parse(s.Data[record.RecordKey])
	if perr != nil {
		return nil, "", nil
	}
	return rec, s.ResourceVersion, nil
}

// writeStatus applies the Propagated condition and status.propagation,
// owning nothing else; it writes nothing when neither changed.
func (r *PropagationReconciler) writeStatus(ctx context.Context, obj *iamv1.ClientCredential, previous *metav1.Condition, o propagationOutcome, now time.Time) error {
	cond := withTransitionTime(o.condition, previous, now)
	if previous != nil && sameCondition(*previous, cond) && samePropagation(obj.Status.Propagation, &o.status) {
		return nil
	}
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&iamv1.ClientCredentialStatus{
		Propagation: &o.status, Conditions: []metav1.Condition{cond}})
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetGroupVersionKind(iamv1.GroupVersion.WithKind("ClientCredential"))
	u.SetNamespace(obj.Namespace)
	u.SetName(obj.Name)
	return r.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), propagationFieldOwner, client.ForceOwnership)
}

// SetupWithManager watches ClientCredentials (a new generation), their
// records (the generation written) and the replica reports (what each
// replica applied), the last only for credentials still waiting.
func (r *PropagationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("propagation").
		For(&iamv1.ClientCredential{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(recordToCredential(r.Namespace)),
			builder.WithPredicates(predicate.NewPredicateFuncs(isSignetSecret))).
		Watches(&coordinationv1.Lease{}, handler.EnqueueRequestsFromMapFunc(r.pending.requests),
			builder.WithPredicates(predicate.NewPredicateFuncs(isReport))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// recordToCredential maps a credential record to its ClientCredential.
func recordToCredential(signetNamespace string) handler.MapFunc {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		l := o.GetLabels()
		if o.GetNamespace() != signetNamespace || l[record.LabelComponent] != record.ComponentCredentialRecord || l[record.LabelCredential] == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: l[record.LabelNamespace], Name: l[record.LabelCredential]}}}
	}
}

// isReport filters Lease events to the replica reports.
func isReport(o client.Object) bool {
	return o.GetLabels()[record.LabelComponent] == replicareport.Component
}

// reports reads the replica reports from the cache. One that does not
// decode is skipped: a replica counts only once it says something usable.
func reports(ctx context.Context, c client.Reader, namespace string) ([]replicareport.Report, error) {
	leases := &coordinationv1.LeaseList{}
	if err := c.List(ctx, leases, client.InNamespace(namespace), client.MatchingLabels{record.LabelComponent: replicareport.Component}); err != nil {
		return nil, err
	}
	out := make([]replicareport.Report, 0, len(leases.Items))
	for i := range leases.Items {
		if rep, err := replicareport.Decode(&leases.Items[i]); err == nil {
			out = append(out, rep)
		}
	}
	return out, nil
}

// observePropagation puts a new propagation's latency into the histogram.
func observePropagation(kind string, o propagationOutcome) {
	if o.observe && o.status.Latency != nil {
		propagationSeconds.WithLabelValues(kind).Observe(o.status.Latency.Seconds())
	}
}

// withTransitionTime keeps the previous condition's lastTransitionTime
// while its status does not change.
func withTransitionTime(cond metav1.Condition, previous *metav1.Condition, now time.Time) metav1.Condition {
	cond.LastTransitionTime = metav1.NewTime(now)
	if previous != nil && previous.Status == cond.Status {
		cond.LastTransitionTime = previous.LastTransitionTime
	}
	return cond
}

func sameCondition(a, b metav1.Condition) bool {
	return a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message && a.ObservedGeneration == b.ObservedGeneration
}

func samePropagation(a, b *iamv1.Propagation) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Replicas == b.Replicas && a.Applied == b.Applied && (a.Latency == nil) == (b.Latency == nil) &&
		(a.Latency == nil || a.Latency.Duration == b.Latency.Duration)
}

// pendingSet holds the objects whose Propagated condition is not yet True
// for their generation, with the record write each awaits: a replica
// report wakes only those it could complete, so that a burst of changes
// is not reconciled again at every report.
type pendingSet struct {
	mu   sync.Mutex
	keys map[types.NamespacedName]string
}

// set records whether key is pending and the record write it awaits
// (empty while only a record write can move it).
func (p *pendingSet) set(key types.NamespacedName, pending bool, awaits string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !pending {
		delete(p.keys, key)
		return
	}
	if p.keys == nil {
		p.keys = map[types.NamespacedName]string{}
	}
	p.keys[key] = awaits
}

// requests is a handler.MapFunc for a report Lease: the pending objects
// whose awaited write the report has reached.
func (p *pendingSet) requests(_ context.Context, o client.Object) []reconcile.Request {
	lease, ok := o.(*coordinationv1.Lease)
	if !ok {
		return nil
	}
	rep, err := replicareport.Decode(lease)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []reconcile.Request
	for key, awaits := range p.keys {
		if awaits != "" && rep.Applied(awaits) {
			out = append(out, reconcile.Request{NamespacedName: key})
		}
	}
	return out
}

// accountPropagation decides a ServiceAccount's Propagated condition: the
// account's generation is propagated once the record of every credential
// of the account holds it and every live replica applied all of them.
func accountPropagation(ctx context.Context, c client.Reader, signetNamespace string, obj *iamv1.ServiceAccount, creds []iamv1.ClientCredential, now time.Time) (propagationOutcome, error) {
	in := propagationInput{generation: obj.Generation, previousStatus: obj.Status.Propagation,
		previous: meta.FindStatusCondition(obj.Status.Conditions, iamv1.PropagatedCondition)}
	secrets := &corev1.SecretList{}
	if err := c.List(ctx, secrets, client.InNamespace(signetNamespace), client.MatchingLabels{
		record.LabelComponent: record.ComponentCredentialRecord, record.LabelNamespace: obj.Namespace, record.LabelServiceAccount: obj.Name,
	}); err != nil {
		return propagationOutcome{}, err
	}
	byCredential := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		if s := &secrets.Items[i]; s.Labels[record.LabelHandover] == "" {
			byCredential[s.Labels[record.LabelCredential]] = s
		}
	}
	for _, cc := range creds {
		s := byCredential[cc.Name]
		if s == nil {
			in.recordPending = true
			break
		}
		rec, err := record.Parse(s.Data[record.RecordKey])
		if err != nil || rec.AccountGeneration != obj.Generation {
			in.recordPending = true
			break
		}
		in.versions = append(in.versions, s.ResourceVersion)
		in.changedAt = latest(in.changedAt, deref(rec.ChangedAt))
	}
	var err error
	if in.reports, err = reports(ctx, c, signetNamespace); err != nil {
		return propagationOutcome{}, err
	}
	return planPropagation(in, now), nil
}

// recordToAccount maps a credential record to its ServiceAccount.
func recordToAccount(signetNamespace string) handler.MapFunc {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		l := o.GetLabels()
		if o.GetNamespace() != signetNamespace || l[record.LabelComponent] != record.ComponentCredentialRecord || l[record.LabelServiceAccount] == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: l[record.LabelNamespace], Name: l[record.LabelServiceAccount]}}}
	}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// reportRetention is how long past its expiry a report Lease is kept: a
// replica that comes back within it writes over its own.
const reportRetention = time.Hour

// reportSweeper deletes the report Leases of replicas gone for longer than
// reportRetention (Pods of past rollouts), on the leader only, so that the
// token server needs no right to delete Leases.
type reportSweeper struct {
	client   client.Client
	clock    interface{ Now() time.Time }
	ns       string
	interval time.Duration
}

func (s *reportSweeper) NeedLeaderElection() bool { return true }

func (s *reportSweeper) Start(ctx context.Context) error {
	return every(ctx, s.interval, "sweeping the reports of departed token-server replicas", s.sweep)
}

func (s *reportSweeper) sweep(ctx context.Context) error {
	leases := &coordinationv1.LeaseList{}
	if err := s.client.List(ctx, leases, client.InNamespace(s.ns), client.MatchingLabels{record.LabelComponent: replicareport.Component}); err != nil {
		return err
	}
	now := s.clock.Now()
	for i := range leases.Items {
		l := &leases.Items[i]
		rep, err := replicareport.Decode(l)
		if err == nil && now.Sub(rep.Expires()) < reportRetention {
			continue
		}
		uid := l.UID
		if err := s.client.Delete(ctx, l, client.Preconditions{UID: &uid, ResourceVersion: &l.ResourceVersion}); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("deleting report Lease %s: %s", l.Name, safeReason(err))
		}
	}
	return nil
}
