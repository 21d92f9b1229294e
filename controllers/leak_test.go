package controllers

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
)

// TestNoSecretReachesLogsEventsStatusOrMetrics walks credentials of every
// type through issue, rotation, repair and revocation, collects every secret,
// private key, hash and digest that existed, and searches everything the
// manager printed or published for them.
func TestNoSecretReachesLogsEventsStatusOrMetrics(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.create(account("leaky"))
	h.create(rule("leaky", []string{"leaky"}, "a:b"))
	var creds []*iamv1.ClientCredential
	for name, typ := range map[string]iamv1.CredentialType{"cs": iamv1.ClientSecretType, "ak": iamv1.APIKeyType, "pk": iamv1.PrivateKeyJWTType} {
		cc := clientCredential(name, "leaky", typ)
		h.create(cc)
		creds = append(creds, cc)
	}

	var needles []string
	collect := func() {
		for _, cc := range creds {
			h.waitReady(cc)
			ws := h.workloadSecret(cc)
			for _, key := range []string{keyClientSecret, keyAPIKey, keyPrivateKey} {
				needles = append(needles, secretNeedles(string(ws.Data[key]))...)
			}
			needles = append(needles, ws.Annotations[annDigest])
			rec := h.record(g, cc)
			for _, s := range rec.Secrets {
				needles = append(needles, s.Hash, s.Hash[strings.LastIndex(s.Hash, "$")+1:])
			}
		}
	}
	collect()
	for _, cc := range creds {
		update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "rotate" })
	}
	h.waitFor(creds[0], func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(cc.Status.ObservedGeneration).To(Equal(cc.Generation))
	})
	collect()
	for _, cc := range creds {
		g.Expect(k8s.Delete(h.ctx, h.workloadSecret(cc))).To(Succeed())
	}
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.RepairedReason)))
	collect()
	hk := &corev1.Secret{}
	g.Expect(k8s.Get(h.ctx, client.ObjectKey{Namespace: h.signetNS, Name: record.HashKeySecretName}, hk)).To(Succeed())
	needles = append(needles, secretNeedles(string(hk.Data[record.KeysKey]))...)
	for _, cc := range creds {
		update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Revoked = true })
	}
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.RevokedReason)))

	published := map[string]string{"manager log": h.logs.String()}
	events := &eventsv1.EventList{}
	g.Expect(k8s.List(h.ctx, events)).To(Succeed())
	published["events"] = mustJSON(t, events)
	for _, list := range []client.ObjectList{&iamv1.ClientCredentialList{}, &iamv1.ServiceAccountList{}, &iamv1.AccessRuleList{}} {
		g.Expect(k8s.List(h.ctx, list, client.InNamespace(h.ns))).To(Succeed())
		published["status"] += mustJSON(t, list)
	}
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	published["metrics"] = mustJSON(t, families)

	g.Expect(len(needles)).To(BeNumerically(">", 12), "the walk must have produced secrets to look for")
	g.Expect(published["manager log"]).To(ContainSubstring("Rotated"), "the log capture must hold the manager's output")
	for where, text := range published {
		if leaked := containsAny(text, needles...); leaked != "" {
			t.Errorf("a secret, key, hash or digest reached the %s: %.12s…", where, leaked)
		}
	}
}

// secretNeedles returns the strings that would betray a secret: the value,
// and for PEM or JSON material each long line or field of it.
func secretNeedles(value string) []string {
	if value == "" {
		return nil
	}
	out := []string{value}
	for _, part := range strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || r == '"' || r == ',' || r == ':' }) {
		if len(part) >= 24 && !strings.HasPrefix(part, "-----") {
			out = append(out, part)
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
