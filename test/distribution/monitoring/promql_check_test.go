package monitoring

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestCheckExprCatches shows that the checks of the dashboard and rule
// queries fail on each kind of mistake they are meant to catch.
func TestCheckExprCatches(t *testing.T) {
	for expr, want := range map[string]string{
		`sum(rate(dbrest_rest_requests_total[5m]`:                     "does not parse",
		`dbrest_rest_request_total`:                                   "does not export dbrest_rest_request_total",
		`dbrest_rest_request_duration_seconds`:                        "does not export dbrest_rest_request_duration_seconds",
		`sum by (reason) (dbrest_deployments{status="False"})`:        `no label "status"`,
		`dbrest_deployments{reason=~"JobFailed|JobFailure"}`:          `"JobFailure" is not a value of reason`,
		`dbrest_deployments{ready="false"}`:                           `"false" is not a value of ready`,
		`workqueue_depth{name="deployments"}`:                         `"deployments" is not a value of name`,
		`{__name__="dbrest_deployments"}`:                             "selects no metric by name",
		`rate(controller_runtime_reconcile_total{controler="x"}[5m])`: `no label "controler"`,
	} {
		problems := checkExpr(t, expr)
		if len(problems) == 0 {
			t.Errorf("%s: no problem found, want %q", expr, want)
			continue
		}
		NewWithT(t).Expect(problems).To(ContainElement(ContainSubstring(want)), expr)
	}
	// And the real names pass: a histogram by its series, a target label.
	g := NewWithT(t)
	g.Expect(checkExpr(t, `histogram_quantile(0.9, sum by (le) (rate(dbrest_job_duration_seconds_bucket{job="x"}[5m])))`)).To(BeEmpty())
	g.Expect(checkExpr(t, `dbrest_deployments{ready="False", reason=~"JobFailed|Conflict"}`)).To(BeEmpty())
}
