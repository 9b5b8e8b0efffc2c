package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// The parts of Grafana's dashboard model that the test checks. Unknown
// fields are allowed: Grafana's model has many more.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasource     `json:"datasource"`
}

// dsVariable is how every query names its data source: through the
// dashboard's datasource variable, so that the dashboard imports into any
// Grafana whatever its Prometheus data source is called.
var dsVariable = datasource{Type: "prometheus", UID: "${datasource}"}

// panelTypes are the panel kinds the dashboard may use: built into Grafana.
var panelTypes = map[string]bool{"row": true, "stat": true, "timeseries": true, "gauge": true, "table": true, "bargauge": true, "state-timeline": true}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "grafana", "dbrest-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("config/grafana/dbrest-operator.json is not a dashboard: %v", err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// TestDashboardModel checks what Grafana needs to import the dashboard
// and show every panel.
func TestDashboardModel(t *testing.T) {
	g := NewWithT(t)
	d := loadDashboard(t)
	g.Expect(d.Title).NotTo(BeEmpty())
	g.Expect(d.UID).To(MatchRegexp(`^[a-zA-Z0-9_-]{1,40}$`))
	// Grafana migrates older models on load; 36 is where a datasource
	// became an object with a uid, as here.
	g.Expect(d.SchemaVersion).To(BeNumerically(">=", 36))

	var dsVar *variable
	for i, v := range d.Templating.List {
		if v.Type == "datasource" {
			dsVar = &d.Templating.List[i]
		}
	}
	g.Expect(dsVar).NotTo(BeNil(), "no datasource variable")
	g.Expect(dsVar.Name).To(Equal("datasource"))
	g.Expect(string(dsVar.Query)).To(Equal(`"prometheus"`))

	ids := map[int]string{}
	panels := allPanels(d.Panels)
	g.Expect(panels).NotTo(BeEmpty())
	for _, p := range panels {
		g.Expect(p.ID).To(BeNumerically(">", 0), p.Title)
		g.Expect(ids).NotTo(HaveKey(p.ID), "panels %q and %q share id %d", ids[p.ID], p.Title, p.ID)
		ids[p.ID] = p.Title
		g.Expect(panelTypes).To(HaveKey(p.Type), p.Title)
		g.Expect(p.Title).NotTo(BeEmpty())
		g.Expect(p.GridPos.W).To(BeNumerically(">", 0), p.Title)
		g.Expect(p.GridPos.H).To(BeNumerically(">", 0), p.Title)
		g.Expect(p.GridPos.X+p.GridPos.W).To(BeNumerically("<=", 24), p.Title)
		if p.Type == "row" {
			continue
		}
		g.Expect(p.Datasource).To(HaveValue(Equal(dsVariable)), p.Title)
		g.Expect(p.Targets).NotTo(BeEmpty(), p.Title)
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			g.Expect(tg.Expr).NotTo(BeEmpty(), p.Title)
			g.Expect(tg.Datasource).To(HaveValue(Equal(dsVariable)), p.Title)
			g.Expect(refs).NotTo(HaveKey(tg.RefID), "%s: refId %s twice", p.Title, tg.RefID)
			refs[tg.RefID] = true
		}
	}
	// No two panels cover the same cell of the grid.
	cells := map[[2]int]string{}
	for _, p := range panels {
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				c := [2]int{x, y}
				g.Expect(cells).NotTo(HaveKey(c), "panels %q and %q overlap", cells[c], p.Title)
				cells[c] = p.Title
			}
		}
	}
}

// grafanaRange and grafanaVariable are Grafana's template variables in a
// query: a range such as [$__rate_interval], and any other variable,
// which the dashboard uses only inside label matchers (job=~"$job").
var (
	grafanaRange    = regexp.MustCompile(`\[\$\{?__\w+\}?\]`)
	grafanaVariable = regexp.MustCompile(`\$\{?\w+\}?`)
)

// expand replaces Grafana's variables as Grafana would before sending the
// query: a range by a duration, other variables by "match anything".
func expand(expr string) string {
	return grafanaVariable.ReplaceAllString(grafanaRange.ReplaceAllString(expr, "[5m]"), ".*")
}

// labelValues matches a variable query label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// dashboardQueries returns every query of the dashboard by where it is.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	d := loadDashboard(t)
	out := map[string]string{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			out["panel "+p.Title+" "+tg.RefID] = expand(tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Definition)
		}
		out["variable "+v.Name] = expand(m[1])
	}
	return out
}

// TestDashboardVariables checks the query variables: each lists the
// values of a label that its metric has, through the datasource variable.
func TestDashboardVariables(t *testing.T) {
	g := NewWithT(t)
	for _, v := range loadDashboard(t).Templating.List {
		if v.Type != "query" {
			continue
		}
		g.Expect(v.Datasource).To(HaveValue(Equal(dsVariable)), v.Name)
		m := labelValues.FindStringSubmatch(v.Definition)
		g.Expect(m).NotTo(BeNil(), "variable %s: %q is not label_values(selector, label)", v.Name, v.Definition)
		g.Expect(string(v.Query)).To(ContainSubstring(strings.ReplaceAll(v.Definition, `"`, `\"`)), v.Name)
		if targetLabels[m[2]] {
			continue
		}
		for _, name := range metricNames(expand(m[1])) {
			g.Expect(exported[name]).To(HaveKey(m[2]), "variable %s: %s has no label %s", v.Name, name, m[2])
		}
	}
}

// TestDashboardQueries parses every query and checks that it selects only
// what the manager exports.
func TestDashboardQueries(t *testing.T) {
	queries := dashboardQueries(t)
	if len(queries) == 0 {
		t.Fatal("no queries")
	}
	for where, expr := range queries {
		for _, p := range checkExpr(t, expr) {
			t.Errorf("%s: %s\n  %s", where, p, expr)
		}
	}
}

// shownMetrics are the metrics the dashboard is for (docs/observability.md):
// each must be in a query.
var shownMetrics = []string{
	"dbrest_deployments",
	"dbrest_databaseapis",
	"dbrest_rest_requests_total",
	"dbrest_rest_request_duration_seconds_bucket",
	"dbrest_jobs_in_flight",
	"dbrest_job_duration_seconds_bucket",
	"dbrest_job_duration_seconds_count",
	"dbrest_databaseapi_circuit_open",
	"dbrest_rest_requests_refused_total",
	"controller_runtime_reconcile_errors_total",
	"controller_runtime_reconcile_total",
	"workqueue_depth",
}

func TestDashboardShowsTheOperatorMetrics(t *testing.T) {
	shown := map[string]bool{}
	for _, expr := range dashboardQueries(t) {
		for _, name := range metricNames(expr) {
			shown[name] = true
		}
	}
	for _, name := range shownMetrics {
		if !shown[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}
