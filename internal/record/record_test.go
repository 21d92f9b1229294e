package record

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func TestAcceptedSecretsHonourNotBeforeAndGrace(t *testing.T) {
	r := &Record{NotBefore: at(0), Secrets: []SecretHash{
		{Hash: "current", IssuedAt: at(time.Minute)},
		{Hash: "in-grace", IssuedAt: at(0), NotAfter: at(time.Hour)},
		{Hash: "before-not-before", IssuedAt: at(-time.Second), NotAfter: at(time.Hour)},
		{Hash: "grace-over", IssuedAt: at(0), NotAfter: at(time.Minute)},
		{Hash: "no-issue-time", NotAfter: at(time.Hour)},
	}}
	var got []string
	for _, s := range r.AcceptedSecrets(t0.Add(2 * time.Minute)) {
		got = append(got, s.Hash)
	}
	if len(got) != 2 || got[0] != "current" || got[1] != "in-grace" {
		t.Errorf("accepted %v, want [current in-grace]", got)
	}
}

func TestMatchSecretCapsTokensOfASecretInGrace(t *testing.T) {
	r := &Record{ExpiresAt: at(24 * time.Hour), AccessTokenLifetimeSeconds: 3600, Secrets: []SecretHash{
		{Hash: "current", IssuedAt: at(0)},
		{Hash: "previous", IssuedAt: at(-time.Hour), NotAfter: at(10 * time.Minute)},
	}}
	via, ok := r.MatchSecret(t0, func(h string) bool { return h == "previous" })
	if !ok || !via.TokenExpiry(t0).Equal(*at(10 * time.Minute)) {
		t.Errorf("a token of the previous secret expires at %v, want its grace end", via.TokenExpiry(t0))
	}
	if r.ExpiresAt.Equal(*at(10 * time.Minute)) {
		t.Error("MatchSecret changed the record itself")
	}
	via, ok = r.MatchSecret(t0, func(h string) bool { return h == "current" })
	if !ok || via != r || !via.TokenExpiry(t0).Equal(*at(time.Hour)) {
		t.Errorf("a token of the current secret expires at %v, want in an hour", via.TokenExpiry(t0))
	}
	if _, ok := r.MatchSecret(t0, func(string) bool { return false }); ok {
		t.Error("matched nothing yet accepted")
	}
}

func TestBacks(t *testing.T) {
	r := &Record{TokensNotBefore: at(0), Scopes: []string{"a", "b"}, Audiences: []string{"api"}, GrantsExpireAt: at(time.Hour)}
	now := t0.Add(time.Minute)
	tests := map[string]struct {
		issued    time.Time
		now       time.Time
		scopes    []string
		audiences []string
		want      bool
	}{
		"a token issued at the not-before":     {t0, now, []string{"a"}, []string{"api"}, true},
		"a token issued before it":             {t0.Add(-time.Millisecond), now, nil, nil, false},
		"a withdrawn scope":                    {t0, now, []string{"c"}, nil, false},
		"a withdrawn audience":                 {t0, now, nil, []string{"other"}, false},
		"the default audience is no grant":     {t0, now, nil, []string{"default"}, true},
		"stale grants back no scope":           {t0, t0.Add(2 * time.Hour), []string{"a"}, nil, false},
		"stale grants still back no-scope use": {t0, t0.Add(2 * time.Hour), nil, nil, true},
	}
	for name, tc := range tests {
		if got := r.Backs(tc.issued, tc.now, tc.scopes, tc.audiences, "default"); got != tc.want {
			t.Errorf("%s: Backs = %v, want %v", name, got, tc.want)
		}
	}
}

func TestVersionOneRecordsReadWithTheirEpoch(t *testing.T) {
	data := []byte(`{"version":1,"clientId":"sgc_x","type":"ClientSecret","subject":"s","accessTokenLifetimeSeconds":60,
		"revokedBefore":"2026-12-01T12:00:00Z","secrets":[{"hash":"h"}]}`)
	r, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.TokensNotBefore == nil || !r.TokensNotBefore.Equal(t0) || r.RevokedBefore != nil {
		t.Errorf("tokensNotBefore %v, revokedBefore %v: want the version 1 epoch moved over", r.TokensNotBefore, r.RevokedBefore)
	}
	if len(r.AcceptedSecrets(t0)) != 1 {
		t.Error("a version 1 record's secret (no issue time, no notBefore) must stay accepted")
	}
	again, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if r2, err := Parse(again); err != nil || r2.Version != versionBefore3 {
		t.Errorf("re-marshalled as version %v (%v), want %d", r2.Version, err, versionBefore3)
	}
}

// A record in handover is refused, secret and tokens alike, and is the
// only kind written with the newest version, so a token server that
// cannot read it refuses it too instead of honouring it.
func TestHandoverRecordsAreRefusedAndVersioned(t *testing.T) {
	r := &Record{ClientID: "sgc_x", Type: TypeClientSecret, Subject: "s", AccessTokenLifetimeSeconds: 60,
		NotBefore: at(0), TokensNotBefore: at(0), Secrets: []SecretHash{{Hash: "h", IssuedAt: at(0)}}}
	now := t0.Add(time.Minute)
	if ok, _ := r.Usable(now); !ok || !r.Backs(t0, now, nil, nil, "") {
		t.Fatal("the record before handover must be usable")
	}
	plain, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r.HandoverUntil = at(time.Hour)
	if ok, why := r.Usable(now); ok || why != "deleted" {
		t.Errorf("a handed-over record is usable = %v (%q)", ok, why)
	}
	if r.Backs(t0, now, nil, nil, "") {
		t.Error("a handed-over record backs a token")
	}
	handed, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for data, want := range map[string]int{string(plain): versionBefore3, string(handed): Version} {
		got, err := Parse([]byte(data))
		if err != nil || got.Version != want {
			t.Errorf("written as version %v (%v), want %d", got.Version, err, want)
		}
	}
	sec, err := Secret("signet", r)
	if err != nil || sec.Labels[LabelHandover] != "true" {
		t.Errorf("a handed-over record Secret's labels %v lack %s (%v)", sec.Labels, LabelHandover, err)
	}
}

func TestLatestNeverMovesBack(t *testing.T) {
	if got := Latest(at(time.Hour), at(0)); !got.Equal(*at(time.Hour)) {
		t.Errorf("Latest moved back to %v", got)
	}
	if got := Latest(nil, at(0)); !got.Equal(t0) {
		t.Errorf("Latest(nil, t) = %v", got)
	}
}

// TestFederatedRecordsAloneAreVersionThree: a token server of the previous
// release reads every record it can check (version 2) and refuses the
// Federated ones (version 3) rather than misreading them.
func TestFederatedRecordsAloneAreVersionThree(t *testing.T) {
	base := Record{ClientID: "sgc_x", Subject: "sa:ns:a", AccessTokenLifetimeSeconds: 60}
	plain := base
	plain.Type = TypeClientSecret
	fed := base
	fed.Type = TypeFederated
	fed.Federation = &Federation{Subject: "system:serviceaccount:ns:builder", Audience: "https://signet.example.com"}
	for _, tc := range []struct {
		rec  Record
		want int
	}{{plain, 2}, {fed, 3}} {
		data, err := tc.rec.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(data)
		if err != nil || got.Version != tc.want {
			t.Errorf("%s record: version %v (%v), want %d", tc.rec.Type, got, err, tc.want)
		}
	}

	bad := map[string]func(r *Record){
		"Federated without federation": func(r *Record) { r.Type, r.Federation = TypeFederated, nil },
		"Federated without audience":   func(r *Record) { r.Federation.Audience = "" },
		"Federated with a secret":      func(r *Record) { r.Secrets = []SecretHash{{Hash: "h"}} },
		"federation on a ClientSecret": func(r *Record) { r.Type = TypeClientSecret },
	}
	for name, edit := range bad {
		r := fed
		f := *fed.Federation
		r.Federation = &f
		edit(&r)
		data, _ := r.Marshal()
		if _, err := Parse(data); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
