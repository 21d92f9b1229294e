package grants

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

func rule(name string, subjects []string, scopes, audiences []string, expires *time.Time) iamv1.AccessRule {
	r := iamv1.AccessRule{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, s := range subjects {
		r.Spec.Subjects = append(r.Spec.Subjects, iamv1.Subject{Kind: "ServiceAccount", Name: s})
	}
	r.Spec.Scopes, r.Spec.Audiences = scopes, audiences
	if expires != nil {
		r.Spec.ExpiresAt = &metav1.Time{Time: *expires}
	}
	return r
}

func TestCompile(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	soon, later, past := now.Add(time.Hour), now.Add(48*time.Hour), now.Add(-time.Second)
	deleting := rule("deleting", []string{"app"}, []string{"admin"}, nil, nil)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}

	tests := map[string]struct {
		rules []iamv1.AccessRule
		want  Grants
	}{
		"no rules grant nothing": {nil, Grants{}},
		"scopes of several rules are merged, sorted and deduplicated": {
			[]iamv1.AccessRule{
				rule("a", []string{"app"}, []string{"orders:write", "orders:read"}, []string{"https://b"}, nil),
				rule("b", []string{"other", "app"}, []string{"orders:read", "billing:read"}, []string{"https://a", "https://b"}, nil),
			},
			Grants{Scopes: []string{"billing:read", "orders:read", "orders:write"}, Audiences: []string{"https://a", "https://b"}},
		},
		"rules naming other accounts are ignored": {
			[]iamv1.AccessRule{rule("a", []string{"other"}, []string{"x"}, nil, nil)},
			Grants{},
		},
		"expired rules are excluded": {
			[]iamv1.AccessRule{rule("a", []string{"app"}, []string{"x"}, nil, &past)},
			Grants{},
		},
		"a rule being deleted is excluded": {[]iamv1.AccessRule{deleting}, Grants{}},
		"the earliest expiry in force is the next change": {
			[]iamv1.AccessRule{
				rule("a", []string{"app"}, []string{"x"}, nil, &later),
				rule("b", []string{"app"}, []string{"y"}, nil, &soon),
				rule("c", []string{"app"}, []string{"z"}, nil, &past),
			},
			Grants{Scopes: []string{"x", "y"}, NextChange: soon},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Compile(tc.rules, "app", now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Compile = %+v, want %+v", got, tc.want)
			}
		})
	}
}
