package kubectlplugin

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// TestWritePlan covers the plans the envtest cases do not reach: a
// deploy (nothing on the server), an undeploy, an adoption with no
// change, a plan not yet compared, and a spec the operator has not seen.
func TestWritePlan(t *testing.T) {
	base := func(pl *dbrestv1.Plan, gen, observed int64) *dbrestv1.Deployment {
		d := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "d", Generation: gen}}
		d.Spec.Application.Name = "app"
		d.Spec.DatabaseAPIRef.Name = "db"
		d.Status.ObservedGeneration = observed
		d.Status.Plan = pl
		return d
	}
	cases := []struct {
		name string
		d    *dbrestv1.Deployment
		want string
	}{
		{"deploy adds every field", base(&dbrestv1.Plan{Operation: dbrestv1.PlanDeploy, Reason: "absent",
			BlockedBy: dbrestv1.ReasonSuspended,
			Changes:   []dbrestv1.FieldChange{{Field: "version", To: `"1.0"`}, {Field: "targets", To: `["c1"]`}}}, 1, 1),
			`Deployment ns/d: application "app" through DatabaseAPI db
Plan: Deploy; blocked by Suspended
Why: absent

--- server
+++ spec
+ version: "1.0"
+ targets: ["c1"]
`},
		{"undeploy removes the application", base(&dbrestv1.Plan{Operation: dbrestv1.PlanUndeploy, Reason: "deleted",
			BlockedBy: "CircuitOpen"}, 2, 2),
			`Deployment ns/d: application "app" through DatabaseAPI db
Plan: Undeploy; blocked by CircuitOpen
Why: deleted

--- server
+++ spec
- application "app"
`},
		{"adoption with nothing to change", base(&dbrestv1.Plan{Operation: dbrestv1.PlanAdopt, Adopts: true, Reason: "matches"}, 1, 1),
			`Deployment ns/d: application "app" through DatabaseAPI db
Plan: Adopt, taking over an application this Deployment did not deploy
Why: matches
No field changes: the server already runs the spec.
`},
		{"redeploy not compared yet, spec not seen", base(&dbrestv1.Plan{Operation: dbrestv1.PlanRedeploy, Reason: "spec changed"}, 3, 2),
			`Deployment ns/d: application "app" through DatabaseAPI db
Note: the operator has not seen generation 3 yet (last seen: 2); the plan may change.
Plan: Redeploy
Why: spec changed
Field changes unknown: the server has not been read since the spec changed.
`},
		{"no plan", base(nil, 1, 1),
			`Deployment ns/d: application "app" through DatabaseAPI db
No call pending. Ready=Unknown
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			if err := writePlan(&b, c.d); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), c.want)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	cases := []struct {
		arg      string
		allowAPI bool
		want     target
		wantErr  string
	}{
		{arg: "shop", want: target{"deployment", "shop"}},
		{arg: "dbdeploy/shop", want: target{"deployment", "shop"}},
		{arg: "Deployments.apps.dbrest.io/shop", want: target{"deployment", "shop"}},
		{arg: "dbapi/prod", allowAPI: true, want: target{"databaseapi", "prod"}},
		{arg: "dbapi/prod", wantErr: "the kind must be deployment"},
		{arg: "pods/x", allowAPI: true, wantErr: "the kind must be deployment or databaseapi"},
		{arg: "deployment/", wantErr: "want NAME or KIND/NAME"},
		{arg: "a/b/c", wantErr: "want NAME or KIND/NAME"},
	}
	for _, c := range cases {
		got, err := parseTarget(c.arg, c.allowAPI)
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: error %v, want %q", c.arg, err, c.wantErr)
		case c.wantErr == "" && (err != nil || got != c.want):
			t.Errorf("%q: got %+v, %v; want %+v", c.arg, got, err, c.want)
		}
	}
}
