package monitoring

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// TestRulesFire evaluates each alert's expression with Prometheus's own
// engine on series that should and should not make it fire (promqltest,
// the format of Prometheus's PromQL tests). The `for` duration is the
// rule manager's business and is not evaluated here.
func TestRulesFire(t *testing.T) {
	all := alerts(t)
	expr := func(name string) string {
		r, ok := all[name]
		if !ok {
			t.Fatalf("no alert %s", name)
		}
		return oneLine(r.Expr.String())
	}
	for name, script := range map[string]string{
		// Only the Stalled reasons count; a retried 429 or a Ready
		// Deployment does not.
		"DbrestDeploymentStalled": fmt.Sprintf(`
load 1m
  dbrest_deployments{job="op", ready="False", reason="JobFailed"} 2x30
  dbrest_deployments{job="op", ready="False", reason="Throttled"} 1x30
  dbrest_deployments{job="op", ready="True", reason="Deployed"} 5x30
  dbrest_deployments{job="other", ready="True", reason="Deployed"} 5x30

eval instant at 20m %s
  {job="op", reason="JobFailed"} 2
`, expr("DbrestDeploymentStalled")),

		"DbrestDatabaseAPINotReady": fmt.Sprintf(`
load 1m
  dbrest_databaseapis{job="op", ready="False", reason="Unreachable"} 1x30
  dbrest_databaseapis{job="op", ready="True", reason="Reachable"} 3x30
  dbrest_databaseapis{job="other", ready="True", reason="Reachable"} 1x30

eval instant at 20m %s
  {job="op", reason="Unreachable"} 1
`, expr("DbrestDatabaseAPINotReady")),

		// shop/db: 4 of 10 requests a minute fail (503 or no answer);
		// shop/ok: 1 in 100 does, under the threshold.
		"DbrestRESTErrorRatioHigh": fmt.Sprintf(`
load 1m
  dbrest_rest_requests_total{job="op", databaseapi="shop/db", operation="getApp", code="200"} 0+6x30
  dbrest_rest_requests_total{job="op", databaseapi="shop/db", operation="getApp", code="503"} 0+3x30
  dbrest_rest_requests_total{job="op", databaseapi="shop/db", operation="deploy", code="error"} 0+1x30
  dbrest_rest_requests_total{job="op", databaseapi="shop/ok", operation="getApp", code="200"} 0+99x30
  dbrest_rest_requests_total{job="op", databaseapi="shop/ok", operation="getApp", code="500"} 0+1x30

eval instant at 20m %s
  {job="op", databaseapi="shop/db"} 0.4
`, expr("DbrestRESTErrorRatioHigh")),

		// "stuck" reports DatabaseAPIs but its reconcile counter stopped;
		// "fine" keeps reconciling; "empty" has no DatabaseAPI at all.
		"DbrestNoReconcile": fmt.Sprintf(`
load 1m
  dbrest_databaseapis{job="stuck", ready="True", reason="Reachable"} 2x150
  controller_runtime_reconcile_total{job="stuck", controller="databaseapi", result="success"} 0+1x30 30x120
  dbrest_databaseapis{job="fine", ready="True", reason="Reachable"} 2x150
  controller_runtime_reconcile_total{job="fine", controller="databaseapi", result="success"} 0+1x150
  controller_runtime_reconcile_total{job="empty", controller="databaseapi", result="success"} 0x150

eval instant at 60m %s

eval instant at 100m %s
  {job="stuck"} 2
`, expr("DbrestNoReconcile"), expr("DbrestNoReconcile")),
	} {
		t.Run(name, func(t *testing.T) {
			promqltest.RunTest(t, script, promqltest.NewTestEngine(t, false, 5*time.Minute, promqltest.DefaultMaxSamplesPerQuery))
		})
	}
}
