package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/grants"
	"github.com/signet-iam/signet/internal/record"
)

// notice is an Event plan decides on. Apply emits it once the writes it
// announces have succeeded.
type notice struct {
	warning bool
	reason  string
	action  string
	message string
	// issued marks the announcement of a new secret, which apply counts.
	issued bool
}

// outcome is what plan decides for one snapshot at one moment: the desired
// workload Secret and record, the status, the Events and when to look again.
type outcome struct {
	// snapshot is what plan worked from: the observed one, or a copy under
	// an adopted identity (continueIdentity). Apply and status use it.
	snapshot *snapshot
	now      time.Time
	account  accountState
	grants   grants.Grants

	// workload is the workload Secret's desired content; nil when the pass
	// stopped before it (no hash key yet, or the name is taken).
	workload *workload
	// writeWorkload is set when the stored workload Secret differs.
	writeWorkload bool
	// record is the desired credential record, set with workload.
	record *record.Record
	// writeRecord is set when the stored record differs.
	writeRecord bool
	// restartStamp is set when rollout restart targets must carry it.
	restartStamp string
	// notBefore is the record's NotBefore once moved: no new secret is
	// issued before it.
	notBefore *time.Time
	// nameTaken is set when the workload Secret's name belongs to another
	// credential or to a Secret Signet did not create.
	nameTaken bool

	// retired is set when a previous secret stopped being accepted in this
	// pass: the record keeps when and why, for the status.
	retired *record.Retirement

	conditions conditionSet
	notices    []notice
	// next is the earliest moment time-based work is due.
	next time.Time
}

// schedule records a moment at which the credential must be reconciled again.
func (o *outcome) schedule(t time.Time) {
	if t.After(o.now) {
		o.next = earliest(o.next, t)
	}
}

func (o *outcome) notify(warning bool, reason, action, format string, args ...any) {
	o.notices = append(o.notices, notice{warning: warning, reason: reason, action: action, message: fmt.Sprintf(format, args...)})
}

// plan is a pure function of the snapshot and the time: it decides the
// workload Secret, the record, the conditions and the Events, and writes
// nothing. Every secret it keeps or issues is checked against the record's
// not-before, which it moves first.
func plan(s *snapshot, now time.Time) (*outcome, error) {
	o := &outcome{now: now}
	s = continueIdentity(s, o)
	o.snapshot = s
	planAccount(s, o)
	if s.hasher == nil {
		o.conditions.markReconciling(iamv1.KeysNotReadyReason, "waiting for the hash key Secret "+record.HashKeySecretName)
		o.schedule(now.Add(2 * time.Second))
		return o, nil
	}
	if s.workloadSecret != nil && !mayWrite(s.workloadSecret, s.obj) {
		stallOnSecretName(s, o)
		return o, nil
	}
	prev, rebuilt := previousRecord(s)
	rec := baseRecord(s, o)
	moveNotBefore(s, o, rec, prev, rebuilt)
	o.notBefore = rec.NotBefore
	w, err := planWorkload(s, o, rec, prev)
	if err != nil {
		return nil, err
	}
	o.workload = w
	finishWorkload(s, o)
	if err := planMaterial(s, o, rec, prev); err != nil {
		return nil, err
	}
	finishRecord(s, o, rec, prev)
	credentialConditions(s, o)
	return o, nil
}

// finishWorkload decides whether the workload Secret must be written, and
// what a new secret must announce and restart.
func finishWorkload(s *snapshot, o *outcome) {
	obj, w := s.obj, o.workload
	o.writeWorkload = s.workloadSecret == nil || !workloadUpToDate(s.workloadSecret, workloadData(s, w), workloadAnnotations(obj, w))
	if w.value == "" {
		return
	}
	o.schedule(nextRotation(obj, w.issuedAt))
	if s.workloadSecret == nil || string(s.workloadSecret.Data[valueKey(obj)]) != w.value {
		o.notices = append(o.notices, notice{reason: w.reason, action: "IssueSecret", issued: true,
			message: fmt.Sprintf("%s a new %s in Secret %s", issueVerb(w.reason), obj.Spec.Type, workloadSecretName(obj))})
	}
	if len(obj.Spec.RolloutRestartTargets) > 0 && w.reason != iamv1.IssuedReason {
		o.restartStamp = w.issuedAt.UTC().Format(time.RFC3339Nano)
	}
}

// planAccount evaluates the ServiceAccount and compiles its grants. An
// unusable account does not stop the pass: the record must say so, so that
// the token server refuses the credential and its tokens.
func planAccount(s *snapshot, o *outcome) {
	o.account = stateOf(s.account, o.now)
	name := s.obj.Spec.ServiceAccountName
	if o.account.usable() {
		o.schedule(deref(o.account.expiresAt))
	} else {
		reason, message := o.account.reason(name)
		if !o.account.found && s.coreAccount {
			message += coreAccountHint
		}
		o.conditions.markNotReady(reason, message)
	}
	o.grants = grants.Compile(s.rules, name, o.now)
	o.schedule(o.grants.NextChange)
}

// previousRecord parses the stored record. It returns nil when there is
// none to build on, and rebuilt when that loses state: a record that is
// unreadable, of an unknown version or for another credential, or missing
// although the workload Secret holds a secret. Either way plan starts from
// not-before = now, so nothing issued before is valid (fail-closed).
func previousRecord(s *snapshot) (*record.Record, bool) {
	if s.recordData == nil {
		hadSecret := s.workloadSecret != nil && len(s.workloadSecret.Data[valueKey(s.obj)]) > 0
		return nil, hadSecret
	}
	prev, err := record.Parse(s.recordData)
	if err != nil || prev.ClientID != s.clientID || (prev.CredentialUID != "" && prev.CredentialUID != string(s.obj.UID) && !s.adopting) {
		return nil, true
	}
	if prev.HandoverUntil != nil && !s.adopting {
		// Handed over by a deleted credential whose UID this one shares:
		// only adoption may bring it back.
		return nil, true
	}
	return prev, false
}

// accountUID is the account a record is compiled for, AccountNone when
// there is none.
func accountUID(s *snapshot) string {
	if s.account == nil || !s.account.DeletionTimestamp.IsZero() {
		return record.AccountNone
	}
	return string(s.account.UID)
}

// baseRecord fills in everything that does not depend on the previous
// record or on the secret.
func baseRecord(s *snapshot, o *outcome) *record.Record {
	obj := s.obj
	rec := &record.Record{
		ClientID:                   s.clientID,
		Type:                       string(obj.Spec.Type),
		Subject:                    credential.Subject(obj.Namespace, obj.Spec.ServiceAccountName),
		Namespace:                  obj.Namespace,
		ServiceAccount:             obj.Spec.ServiceAccountName,
		Credential:                 obj.Name,
		CredentialUID:              string(obj.UID),
		AccountUID:                 accountUID(s),
		Scopes:                     o.grants.Scopes,
		Audiences:                  o.grants.Audiences,
		Disabled:                   !o.account.usable(),
		Revoked:                    obj.Spec.Revoked,
		AccessTokenLifetimeSeconds: int64(time.Hour / time.Second),
	}
	if rec.Type == "" {
		rec.Type = record.TypeClientSecret
	}
	if !o.grants.NextChange.IsZero() {
		t := o.grants.NextChange
		rec.GrantsExpireAt = &t
	}
	if l := obj.Spec.AccessTokenLifetime; l != nil && l.Duration > 0 {
		rec.AccessTokenLifetimeSeconds = int64(l.Duration / time.Second)
	}
	return rec
}

// moveNotBefore carries the previous not-before times over and moves them
// forward for what happened since: a rebuild, another account of the same
// name (or none), a revocation, a disable, a withdrawn grant. They never
// move back.
func moveNotBefore(s *snapshot, o *outcome, rec, prev *record.Record, rebuilt bool) {
	now := o.now
	if prev == nil {
		// A first record: nothing before it was ever valid. A lost one:
		// whatever it held is forgotten, so nothing before now is.
		kill := killTime(s, nil, now)
		rec.NotBefore, rec.TokensNotBefore = &kill, &kill
		if rebuilt {
			o.notify(true, iamv1.RecordRebuiltReason, "RebuildRecord",
				"The credential record of client_id %s was missing or unreadable; rebuilt it: earlier secrets and tokens are invalid", s.clientID)
		}
		return
	}
	rec.NotBefore, rec.TokensNotBefore = prev.NotBefore, prev.TokensNotBefore
	// A kill reaches every secret that exists, even one stamped at or after
	// this instant by a clock ahead of this one (another manager replica).
	kill := killTime(s, prev, now)
	both := func() { bump(&rec.NotBefore, kill); bump(&rec.TokensNotBefore, kill) }
	// A version 1 record has no account UID: it is adopted as is.
	if prev.AccountUID != "" && prev.AccountUID != rec.AccountUID {
		both()
	}
	// Continuity carries the secret over, never the tokens: whatever the
	// gap hid (a grant withdrawn and restored, an account disabled and
	// enabled) cannot revive one.
	if s.adopting {
		bump(&rec.TokensNotBefore, now)
	}
	if rec.Revoked && !prev.Revoked {
		both()
		o.notify(true, iamv1.RevokedReason, "Revoke", "Revoked client_id %s: its secret was removed and its tokens are inactive", s.clientID)
	}
	if rec.Disabled && !prev.Disabled {
		bump(&rec.TokensNotBefore, now)
	}
	if !subset(prev.Scopes, rec.Scopes) || !subset(prev.Audiences, rec.Audiences) {
		bump(&rec.TokensNotBefore, now)
	}
}

// killTime is the not-before that invalidates everything issued so far:
// now, or just after the latest issue time the record or the workload
// Secret holds when that is not before now.
func killTime(s *snapshot, prev *record.Record, now time.Time) time.Time {
	at := now.UTC()
	later := func(t *time.Time) {
		if t != nil && !t.Before(at) {
			at = t.Add(time.Nanosecond).UTC()
		}
	}
	for _, m := range materialOf(prev) {
		later(m.issuedAt)
	}
	if ws := s.workloadSecret; ws != nil && len(ws.Data[valueKey(s.obj)]) > 0 {
		if is := parseIssuance(ws.Annotations); !is.issuedAt.IsZero() {
			later(&is.issuedAt)
		}
	}
	return at
}

// bump moves a not-before to at, never back.
func bump(t **time.Time, at time.Time) {
	at = at.UTC()
	*t = record.Latest(*t, &at)
}

// subset reports whether every element of a (sorted) is in b (sorted).
func subset(a, b []string) bool {
	i := 0
	for _, x := range a {
		for i < len(b) && b[i] < x {
			i++
		}
		if i == len(b) || b[i] != x {
			return false
		}
	}
	return true
}

// finishRecord sets the expiry, moves TokensNotBefore when the credential
// expired, and decides whether the record must be written.
func finishRecord(s *snapshot, o *outcome, rec, prev *record.Record) {
	expiry := earliest(secretExpiry(s.obj, o.workload.issuedAt), deref(o.account.expiresAt))
	if !expiry.IsZero() {
		rec.ExpiresAt = &expiry
		if !o.now.Before(expiry) && (rec.TokensNotBefore == nil || rec.TokensNotBefore.Before(expiry)) {
			bump(&rec.TokensNotBefore, expiry)
			if prev != nil {
				o.notify(true, iamv1.ExpiredReason, "Expire", "client_id %s expired", s.clientID)
			}
		}
	}
	stampGenerations(s, rec, prev, o.now)
	rec.PreviousRetired = o.retired
	if rec.PreviousRetired == nil && prev != nil {
		rec.PreviousRetired = prev.PreviousRetired
	}
	o.record = rec
	data, err := rec.Marshal()
	o.writeRecord = err != nil || string(data) != string(s.recordData)
}

// stampGenerations records which generations of the credential and its
// account the record holds, and since when, for the Propagated condition
// (docs/design/0029-replica-reports.md). ChangedAt moves only with a
// generation, so a pass with nothing new writes nothing.
func stampGenerations(s *snapshot, rec, prev *record.Record, now time.Time) {
	rec.Generation, rec.AccountGeneration = s.obj.Generation, 0
	if s.account != nil {
		rec.AccountGeneration = s.account.Generation
	}
	if prev != nil && prev.Generation == rec.Generation && prev.AccountGeneration == rec.AccountGeneration {
		rec.ChangedAt = prev.ChangedAt
		return
	}
	rec.ChangedAt = nil
	if rec.Generation > 0 {
		at := now.UTC()
		// The watch's time counts only for a new generation of the
		// credential: a change of the account is seen by the account's watch.
		credentialChanged := prev == nil || prev.Generation != rec.Generation
		if seen := s.generationSeenAt; credentialChanged && !seen.IsZero() && seen.Before(at) {
			at = seen.UTC()
		}
		rec.ChangedAt = &at
	}
}

// secretExpiry is when a secret issued at issuedAt expires; zero when never.
func secretExpiry(obj *iamv1.ClientCredential, issuedAt time.Time) time.Time {
	if obj.Spec.ValidFor == nil || issuedAt.IsZero() {
		return time.Time{}
	}
	return issuedAt.Add(obj.Spec.ValidFor.Duration)
}

// credentialConditions decides Ready and ExpiringSoon.
func credentialConditions(s *snapshot, o *outcome) {
	obj, c := s.obj, &o.conditions
	if obj.Spec.Revoked {
		c.markNotReady(iamv1.RevokedReason, "spec.revoked is true: the secret was removed and every token issued from it is inactive")
	}
	if o.record.ExpiresAt == nil {
		c.markReady(fmt.Sprintf("client_id %s is in force", s.clientID))
		return
	}
	expiry := *o.record.ExpiresAt
	if !o.now.Before(expiry) {
		c.markNotReady(iamv1.ExpiredReason, fmt.Sprintf("the credential expired at %s; change spec.rotation.trigger to issue a new secret", expiry.Format(time.RFC3339)))
		return
	}
	o.schedule(expiry)
	warnFrom := expiry.Add(-expiringSoonWindow(obj))
	if !o.now.Before(warnFrom) {
		c.expiringSoon = condition(iamv1.ExpiringSoonCondition, metav1.ConditionTrue, iamv1.ExpiringSoonReason,
			fmt.Sprintf("the credential expires at %s", expiry.Format(time.RFC3339)))
	} else {
		o.schedule(warnFrom)
	}
	c.markReady(fmt.Sprintf("client_id %s is in force until %s", s.clientID, expiry.Format(time.RFC3339)))
}

// expiringSoonWindow is how long before expiry ExpiringSoon shows: a third
// of the validity, at most seven days (a day when validity is unknown,
// because only the account expires).
func expiringSoonWindow(obj *iamv1.ClientCredential) time.Duration {
	const week = 7 * 24 * time.Hour
	if obj.Spec.ValidFor == nil {
		return 24 * time.Hour
	}
	return min(obj.Spec.ValidFor.Duration/3, week)
}

// graceDeadline is when the previous secret or key stops being accepted.
func graceDeadline(rec *record.Record, now time.Time) *metav1.Time {
	var deadline *time.Time
	for _, t := range previousDeadlines(rec) {
		if now.Before(*t) {
			deadline = record.Latest(deadline, t)
		}
	}
	return timeOrNil(deadline)
}

func previousDeadlines(rec *record.Record) []*time.Time {
	var out []*time.Time
	for _, h := range rec.Secrets {
		if h.NotAfter != nil {
			out = append(out, h.NotAfter)
		}
	}
	for _, k := range rec.PublicKeys {
		if k.NotAfter != nil {
			out = append(out, k.NotAfter)
		}
	}
	return out
}
