package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
)

// world is an in-memory stand-in for the objects plan reads and apply
// writes, so plan can be driven without an API server, thousands of times
// a second: the plan table tests and the model test share it. Its apply
// does what the real one does to the objects: the workload Secret as server-
// side apply leaves it, the record as record.ApplyConfiguration encodes it.
type world struct {
	t      testing.TB
	now    time.Time
	hasher *credential.Hasher
	uids   int

	account *iamv1.ServiceAccount
	rules   []iamv1.AccessRule
	cred    *iamv1.ClientCredential
	// id is the credential's client_id: derived from its UID, or adopted
	// through continuity (as the last reconcile decided).
	id       string
	workload *corev1.Secret
	// records are the stored records by client_id; recordUIDs the
	// credential UID each record Secret is labelled with.
	records    map[string][]byte
	recordUIDs map[string]string
	// notices are the Events of the last reconcile.
	notices []notice
	// consumers is what observe would read from the replica reports and
	// the rollout restart targets while the record holds a previous secret.
	consumers *consumers
}

const worldNS = "tenant"

func newWorld(t testing.TB, now time.Time) *world {
	h, err := credential.NewHasher("k1", []credential.HashKey{{ID: "k1", Key: []byte(strings.Repeat("k", 32))}})
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, now: now, hasher: h, records: map[string][]byte{}, recordUIDs: map[string]string{}}
}

func (w *world) uid() types.UID {
	w.uids++
	return types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", w.uids))
}

func (w *world) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: worldNS, UID: w.uid(), Generation: 1, CreationTimestamp: metav1.NewTime(w.now.Truncate(time.Second))}
}

// createAccount creates the ServiceAccount "svc", a new identity each time.
func (w *world) createAccount() {
	w.account = &iamv1.ServiceAccount{ObjectMeta: w.meta("svc")}
}

// createCredential creates the ClientCredential "svc" of account "svc".
func (w *world) createCredential(mutate func(*iamv1.ClientCredential)) {
	cc := &iamv1.ClientCredential{ObjectMeta: w.meta("svc"), Spec: iamv1.ClientCredentialSpec{ServiceAccountName: "svc", Type: iamv1.ClientSecretType}}
	if mutate != nil {
		mutate(cc)
	}
	w.cred = cc
	id, err := credential.ClientID(string(cc.UID))
	if err != nil {
		w.t.Fatal(err)
	}
	w.id = id
}

// edit changes the credential's spec, as kubectl apply would.
func (w *world) edit(mutate func(*iamv1.ClientCredential)) {
	mutate(w.cred)
	w.cred.Generation++
}

// deleteCredential does what reconcileDelete and the garbage collector do:
// the record goes, or is handed over when the credential asks for
// continuity; the workload Secret goes or, with Orphan, loses its owner.
func (w *world) deleteCredential() {
	id := w.clientID()
	switch rec, write := handOver(w.records[id], w.now, DefaultContinuityWindow); {
	case !wantsContinuity(w.cred) || rec == nil:
		w.deleteRecord(id)
	case write:
		w.storeRecord(rec)
	}
	if w.workload != nil && w.cred.Spec.DeletionPolicy == iamv1.OrphanPolicy {
		w.workload.OwnerReferences = nil
	} else {
		w.workload = nil
	}
	w.cred = nil
}

// storeRecord writes rec as record.ApplyConfiguration encodes and labels it.
func (w *world) storeRecord(rec *record.Record) {
	_, data, err := record.ApplyConfiguration("signet", rec)
	if err != nil {
		w.t.Fatal(err)
	}
	w.records[rec.ClientID], w.recordUIDs[rec.ClientID] = data, rec.CredentialUID
}

func (w *world) deleteRecord(clientID string) {
	delete(w.records, clientID)
	delete(w.recordUIDs, clientID)
}

// sweep does what the record sweeper does to handovers: it deletes
// records whose handover ended.
func (w *world) sweep() {
	for id, data := range w.records {
		if handedOver(data) && handoverEnded(data, w.now) {
			w.deleteRecord(id)
		}
	}
}

// handedOver reports whether a record is labelled as handed over.
func handedOver(data []byte) bool {
	rec, err := record.Parse(data)
	return err == nil && rec.HandoverUntil != nil
}

// clientID is the credential's client_id.
func (w *world) clientID() string { return w.id }

func (w *world) snapshot() *snapshot {
	var acct *iamv1.ServiceAccount
	if w.account != nil {
		acct = w.account.DeepCopy()
	}
	s := &snapshot{
		obj: w.cred.DeepCopy(), account: acct, rules: w.rules, hasher: w.hasher,
		tokenURL: "https://signet.example/oauth2/token", issuer: "https://signet.example",
	}
	derived, err := credential.ClientID(string(w.cred.UID))
	if err != nil {
		w.t.Fatal(err)
	}
	// Every record in the world is labelled with the one credential name.
	s.clientID, s.recordData, s.handover, err = chooseIdentity(s.obj, derived, w.records[derived], func() ([]namedRecord, error) {
		var out []namedRecord
		for id, data := range w.records {
			out = append(out, namedRecord{clientID: id, credentialUID: w.recordUIDs[id], data: data})
		}
		return out, nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if w.workload != nil {
		s.workloadSecret = w.workload.DeepCopy()
	}
	if holdsPrevious(s.recordData) {
		s.consumers = w.consumers
	}
	return s
}

// reconcile plans at the world's time and applies the outcome.
func (w *world) reconcile() *outcome {
	w.t.Helper()
	s := w.snapshot()
	o, err := plan(s, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	s = o.snapshot
	w.id = s.clientID
	w.notices = o.notices
	if o.workload == nil {
		return o
	}
	if o.writeWorkload {
		w.workload = renderWorkload(s, o.workload, w.workload)
	}
	if o.writeRecord {
		w.storeRecord(o.record)
	}
	return o
}

// renderWorkload is the workload Secret after applyWorkloadSecret.
func renderWorkload(s *snapshot, wl *workload, existing *corev1.Secret) *corev1.Secret {
	obj := s.obj
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: workloadSecretName(obj), Namespace: obj.Namespace,
			Labels: workloadLabels(obj), Annotations: workloadAnnotations(obj, wl),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: iamv1.GroupVersion.String(), Kind: "ClientCredential", Name: obj.Name, UID: obj.UID, Controller: ptr(true)}},
		},
		Type: workloadSecretType,
		Data: workloadData(s, wl),
	}
	if existing != nil {
		secret.CreationTimestamp = existing.CreationTimestamp
	}
	return secret
}

func ptr[T any](v T) *T { return &v }

// record is the stored record of the current credential; nil when none.
func (w *world) record() *record.Record {
	data := w.records[w.clientID()]
	if data == nil {
		return nil
	}
	rec, err := record.Parse(data)
	if err != nil {
		return nil
	}
	return rec
}

// secret is the secret the workload Secret holds.
func (w *world) secret() string {
	if w.workload == nil {
		return ""
	}
	return string(w.workload.Data[keyClientSecret])
}

// accepts reports whether the token server, holding the stored records,
// would accept secret for client_id at the world's time.
func (w *world) accepts(clientID, secret string) bool {
	data, ok := w.records[clientID]
	if !ok {
		return false
	}
	rec, err := record.Parse(data)
	if err != nil {
		return false
	}
	if ok, _ := rec.Usable(w.now); !ok {
		return false
	}
	_, ok = rec.MatchSecret(w.now, func(hash string) bool {
		ok, err := w.hasher.Verify(credential.SecretDomain, secret, hash)
		return ok && err == nil
	})
	return ok
}

func (w *world) reasons() []string {
	var out []string
	for _, n := range w.notices {
		out = append(out, n.reason)
	}
	return out
}
