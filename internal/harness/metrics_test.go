package harness

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// labels is a shorthand for a sample's labels.
type labels = map[string]string

func TestParseMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Metrics
		// wantErr, when set, is part of the error wanted.
		wantErr string
	}{{
		name: "counters with labels",
		in: `# HELP rest_client_requests_total [ALPHA] Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:41235",method="GET"} 17
rest_client_requests_total{code="200",host="127.0.0.1:41235",method="PATCH"} 3000
rest_client_requests_total{code="201",host="127.0.0.1:41235",method="POST"} 2000
# HELP controller_runtime_reconcile_total Total number of reconciliations per controller
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="deployment",result="error"} 0
controller_runtime_reconcile_total{controller="deployment",result="success"} 2003
controller_runtime_reconcile_total{controller="databaseapi",result="success"} 4
`,
		want: Metrics{
			{Name: "controller_runtime_reconcile_total", Labels: labels{"controller": "deployment", "result": "error"}, Value: 0},
			{Name: "controller_runtime_reconcile_total", Labels: labels{"controller": "deployment", "result": "success"}, Value: 2003},
			{Name: "controller_runtime_reconcile_total", Labels: labels{"controller": "databaseapi", "result": "success"}, Value: 4},
			{Name: "rest_client_requests_total", Labels: labels{"code": "200", "host": "127.0.0.1:41235", "method": "GET"}, Value: 17},
			{Name: "rest_client_requests_total", Labels: labels{"code": "200", "host": "127.0.0.1:41235", "method": "PATCH"}, Value: 3000},
			{Name: "rest_client_requests_total", Labels: labels{"code": "201", "host": "127.0.0.1:41235", "method": "POST"}, Value: 2000},
		},
	}, {
		name: "histogram",
		in: `# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.
# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{component="apiserver",resource="deployments",verb="PATCH",le="0.005"} 120
apiserver_request_duration_seconds_bucket{component="apiserver",resource="deployments",verb="PATCH",le="0.1"} 2900
apiserver_request_duration_seconds_bucket{component="apiserver",resource="deployments",verb="PATCH",le="1"} 3000
apiserver_request_duration_seconds_bucket{component="apiserver",resource="deployments",verb="PATCH",le="+Inf"} 3000
apiserver_request_duration_seconds_sum{component="apiserver",resource="deployments",verb="PATCH"} 41.25
apiserver_request_duration_seconds_count{component="apiserver",resource="deployments",verb="PATCH"} 3000
`,
		want: Metrics{
			{Name: "apiserver_request_duration_seconds_bucket", Labels: labels{"component": "apiserver", "resource": "deployments", "verb": "PATCH", "le": "0.005"}, Value: 120},
			{Name: "apiserver_request_duration_seconds_bucket", Labels: labels{"component": "apiserver", "resource": "deployments", "verb": "PATCH", "le": "0.1"}, Value: 2900},
			{Name: "apiserver_request_duration_seconds_bucket", Labels: labels{"component": "apiserver", "resource": "deployments", "verb": "PATCH", "le": "1"}, Value: 3000},
			{Name: "apiserver_request_duration_seconds_bucket", Labels: labels{"component": "apiserver", "resource": "deployments", "verb": "PATCH", "le": "+Inf"}, Value: 3000},
			{Name: "apiserver_request_duration_seconds_sum", Labels: labels{"component": "apiserver", "resource": "deployments", "verb": "PATCH"}, Value: 41.25},
			{Name: "apiserver_request_duration_seconds_count", Labels: labels{"component": "apiserver", "resource": "deployments", "verb": "PATCH"}, Value: 3000},
		},
	}, {
		name: "summary",
		in: `# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.1e-05
go_gc_duration_seconds{quantile="0.5"} 4.7e-05
go_gc_duration_seconds{quantile="1"} 0.000312
go_gc_duration_seconds_sum 0.0042
go_gc_duration_seconds_count 61
`,
		want: Metrics{
			{Name: "go_gc_duration_seconds", Labels: labels{"quantile": "0"}, Value: 2.1e-05},
			{Name: "go_gc_duration_seconds", Labels: labels{"quantile": "0.5"}, Value: 4.7e-05},
			{Name: "go_gc_duration_seconds", Labels: labels{"quantile": "1"}, Value: 0.000312},
			{Name: "go_gc_duration_seconds_sum", Labels: labels{}, Value: 0.0042},
			{Name: "go_gc_duration_seconds_count", Labels: labels{}, Value: 61},
		},
	}, {
		name: "escaping in label values and help",
		in: `# HELP bench_escape_total Escapes: a backslash \\ and a newline \n in help.
# TYPE bench_escape_total counter
bench_escape_total{path="C:\\apps\\a.war",msg="say \"hi\"\nbye",empty=""} 2
bench_escape_total{path="/u01/apps/{a,b}.war",msg="a=b, c}",empty=""} 3
`,
		want: Metrics{
			{Name: "bench_escape_total", Labels: labels{"path": `C:\apps\a.war`, "msg": "say \"hi\"\nbye", "empty": ""}, Value: 2},
			{Name: "bench_escape_total", Labels: labels{"path": "/u01/apps/{a,b}.war", "msg": "a=b, c}", "empty": ""}, Value: 3},
		},
	}, {
		name: "untyped, gauge, timestamps, blank lines, special values, no final newline",
		in: "leader_election_master_status{name=\"dbrest-operator\"} 1\n\n" +
			"# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.7e+09 1700000000000\n" +
			"# TYPE bench_gauge gauge\nbench_gauge{kind=\"inf\"} +Inf\nbench_gauge{kind=\"neg\"} -3.5",
		want: Metrics{
			{Name: "bench_gauge", Labels: labels{"kind": "inf"}, Value: math.Inf(1)},
			{Name: "bench_gauge", Labels: labels{"kind": "neg"}, Value: -3.5},
			{Name: "leader_election_master_status", Labels: labels{"name": "dbrest-operator"}, Value: 1},
			{Name: "process_start_time_seconds", Labels: labels{}, Value: 1.7e+09},
		},
	}, {
		name: "empty",
		in:   "",
		want: nil,
	}, {
		name: "comments only",
		in:   "# HELP x unused\n# TYPE x counter\n",
		want: nil,
	}, {
		name:    "value not a number",
		in:      "rest_client_requests_total{method=\"GET\"} many\n",
		wantErr: "line 1",
	}, {
		name:    "unterminated label value",
		in:      "ok_total 1\nrest_client_requests_total{method=\"GET} 1\n",
		wantErr: "line 2",
	}, {
		name:    "no value",
		in:      "rest_client_requests_total{method=\"GET\"}\n",
		wantErr: "line 1",
	}, {
		name:    "second TYPE line",
		in:      "# TYPE a counter\na 1\n# TYPE a counter\n",
		wantErr: "line 3",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseMetrics(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				g.Expect(got).To(BeNil())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

// TestMetricsSum checks Sum and SumBy the way the bench and the e2e tests
// use them, on a parsed scrape.
func TestMetricsSum(t *testing.T) {
	g := NewWithT(t)
	m, err := ParseMetrics(strings.NewReader(`# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="a",method="GET"} 5
rest_client_requests_total{code="409",host="a",method="PATCH"} 1
rest_client_requests_total{code="200",host="a",method="PATCH"} 4
rest_client_requests_total{code="201",host="b",method="POST"} 2
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="deployment",result="success"} 7
controller_runtime_reconcile_total{controller="deployment",result="requeue"} 3
controller_runtime_reconcile_total{controller="databaseapi",result="success"} 1
`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.SumBy("rest_client_requests_total", "method", nil)).To(Equal(map[string]float64{"GET": 5, "PATCH": 5, "POST": 2}))
	g.Expect(m.SumBy("rest_client_requests_total", "code", map[string]string{"host": "a"})).To(Equal(map[string]float64{"200": 9, "409": 1}))
	g.Expect(m.Sum("controller_runtime_reconcile_total", map[string]string{"controller": "deployment"})).To(Equal(10.0))
	g.Expect(m.Sum("controller_runtime_reconcile_total", nil)).To(Equal(11.0))
	g.Expect(m.Sum("absent_total", nil)).To(BeZero())
	g.Expect(m.SumBy("absent_total", "method", nil)).To(BeEmpty())
}

func TestScrapeMetrics(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, "# TYPE leader_election_master_status gauge\nleader_election_master_status{name=\"x\"} 1\n")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := Scrape(ctx, srv.URL+"/metrics")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.Sum("leader_election_master_status", nil)).To(Equal(1.0))
	_, err = ScrapeWith(ctx, srv.Client(), srv.URL+"/other")
	g.Expect(err).To(MatchError(ContainSubstring("HTTP 404")))
}
