// Package replicareport is the one format of the reports token-server
// replicas publish about themselves (docs/design/0029-replica-reports.md):
// one Lease per replica in the Signet namespace, saying which credential
// records the replica has applied and when a previous secret in grace was
// last used, from where. The token server writes them (Lease); the manager
// reads them (Decode) to decide the Propagated condition and when a
// previous secret may retire.
package replicareport

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"

	"github.com/signet-iam/signet/internal/record"
)

// Component is the value of record.LabelComponent on every report Lease.
const Component = "token-server-report"

// Selector selects the report Leases.
const Selector = record.LabelComponent + "=" + Component

// Annotations of a report Lease.
const (
	// AnnotationAppliedVersion is the highest resourceVersion of a Secret
	// event the replica's index has applied; absent until its first list
	// is applied.
	AnnotationAppliedVersion = "iam.signet.dev/applied-version"
	// AnnotationUses lists the last use of each previous secret in grace:
	// one line per client, "client_id unix-seconds address".
	AnnotationUses = "iam.signet.dev/previous-secret-uses"
	// AnnotationUsesTruncated is "true" when the replica saw more uses than
	// MaxUses: a reader must then take every previous secret as in use.
	AnnotationUsesTruncated = "iam.signet.dev/previous-secret-uses-truncated"
)

// Bounds of a report.
const (
	// MaxUses bounds the lines of AnnotationUses.
	MaxUses = 1000
	// MaxAddressBytes bounds a source address; longer ones are cut.
	MaxAddressBytes = 64
	// MaxAnnotationBytes bounds what Lease puts into annotations, well
	// under the API server's 256 KiB for an object's annotations.
	MaxAnnotationBytes = 128 << 10
	// UseMemory is how long a use is reported: no grace period is longer.
	UseMemory = 24 * time.Hour
	// DefaultTimeout is how long a replica stays in the set after its last
	// write.
	DefaultTimeout = 15 * time.Second
)

// Use is the last use of a client's previous secret.
type Use struct {
	At      time.Time
	Address string
}

// Report is what one replica says about itself.
type Report struct {
	// Replica names the replica (its Pod).
	Replica string
	// AppliedVersion is the highest resourceVersion of a Secret event the
	// replica's index has applied; empty until its first list is applied.
	AppliedVersion string
	// Uses are the last uses of previous secrets, by client_id.
	Uses map[string]Use
	// Truncated is set when uses were left out to keep the report bounded.
	Truncated bool
	// RenewTime is when the replica last wrote the report.
	RenewTime time.Time
	// Timeout is how long after RenewTime the report counts.
	Timeout time.Duration
}

// LeaseName is the name of a replica's report Lease: "signet-report-" and
// the replica's name, shortened with a hash when it would not fit.
func LeaseName(replica string) string {
	const prefix, limit = "signet-report-", 63
	name := prefix + strings.ToLower(replica)
	if len(name) <= limit {
		return name
	}
	sum := sha256.Sum256([]byte(replica))
	return name[:limit-17] + "-" + hex.EncodeToString(sum[:8])
}

// Live reports whether the report still counts at now.
func (r *Report) Live(now time.Time) bool { return now.Before(r.Expires()) }

// Expires is when the report stops counting unless renewed.
func (r *Report) Expires() time.Time { return r.RenewTime.Add(r.Timeout) }

// Applied reports whether the replica has applied the Secret write of
// resourceVersion version (or a later one).
func (r *Report) Applied(version string) bool {
	if r.AppliedVersion == "" || version == "" {
		return false
	}
	c, err := resourceversion.CompareResourceVersion(r.AppliedVersion, version)
	return err == nil && c >= 0
}

// Lease renders the report as its Lease in namespace.
func (r *Report) Lease(namespace string) *coordinationv1.Lease {
	uses, truncated := EncodeUses(r.Uses)
	ann := map[string]string{}
	if r.AppliedVersion != "" {
		ann[AnnotationAppliedVersion] = r.AppliedVersion
	}
	if uses != "" {
		ann[AnnotationUses] = uses
	}
	if truncated || r.Truncated {
		ann[AnnotationUsesTruncated] = "true"
	}
	seconds := int32(r.Timeout / time.Second)
	renew := metav1.NewMicroTime(r.RenewTime)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: LeaseName(r.Replica), Namespace: namespace,
			Labels:      map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelComponent: Component},
			Annotations: ann,
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &r.Replica, LeaseDurationSeconds: &seconds, RenewTime: &renew},
	}
}

// Decode reads a report Lease. Lines of the uses list that do not parse
// are skipped and mark the report truncated, so that a reader errs on the
// side of "in use".
func Decode(l *coordinationv1.Lease) (Report, error) {
	r := Report{Uses: map[string]Use{}}
	if l.Spec.HolderIdentity == nil || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return r, fmt.Errorf("report Lease %s lacks holderIdentity, renewTime or leaseDurationSeconds", l.Name)
	}
	r.Replica = *l.Spec.HolderIdentity
	r.RenewTime = l.Spec.RenewTime.Time
	r.Timeout = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	r.AppliedVersion = l.Annotations[AnnotationAppliedVersion]
	r.Truncated = l.Annotations[AnnotationUsesTruncated] == "true"
	for line := range strings.Lines(l.Annotations[AnnotationUses]) {
		f := strings.Fields(line)
		if len(f) != 3 {
			r.Truncated = true
			continue
		}
		sec, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			r.Truncated = true
			continue
		}
		r.Uses[f[0]] = Use{At: time.Unix(sec, 0), Address: f[2]}
	}
	return r, nil
}

// EncodeUses renders uses as lines, most recent first, at most MaxUses of
// them and at most MaxAnnotationBytes; truncated says some were left out.
func EncodeUses(uses map[string]Use) (lines string, truncated bool) {
	var b strings.Builder
	for i, id := range MostRecent(uses) {
		line := id + " " + strconv.FormatInt(uses[id].At.Unix(), 10) + " " + Address(uses[id].Address) + "\n"
		if i == MaxUses || b.Len()+len(line) > MaxAnnotationBytes {
			return b.String(), true
		}
		b.WriteString(line)
	}
	return b.String(), false
}

// MostRecent returns the client_ids of uses, most recent use first.
func MostRecent(uses map[string]Use) []string {
	ids := make([]string, 0, len(uses))
	for id := range uses {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := uses[b].At.Compare(uses[a].At); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}

// Address is a source address as a report holds it: one field, at most
// MaxAddressBytes, "-" when unknown.
func Address(addr string) string {
	addr = strings.Join(strings.Fields(addr), "")
	if addr == "" {
		return "-"
	}
	if len(addr) > MaxAddressBytes {
		addr = addr[:MaxAddressBytes]
	}
	return addr
}
