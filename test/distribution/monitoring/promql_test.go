package monitoring

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promql "github.com/prometheus/prometheus/promql/parser"

	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// targetLabels are added by Prometheus to every series of a scrape
// target (the ServiceMonitor's job, namespace, pod, ...), so a query may
// select on them although the manager does not export them.
var targetLabels = map[string]bool{
	"job": true, "instance": true, "namespace": true, "pod": true,
	"service": true, "endpoint": true, "container": true,
}

// literalAlternation matches a regular expression that is a plain list of
// values, such as "deployment|databaseapi".
var literalAlternation = regexp.MustCompile(`^[A-Za-z0-9_-]+(\|[A-Za-z0-9_-]+)*$`)

// parse parses a PromQL expression with Prometheus's own parser.
func parse(expr string) (promql.Expr, error) {
	return promql.NewParser(promql.Options{}).ParseExpr(expr)
}

// checkExpr parses expr and checks every series selector in it against
// what the manager exports: the metric name, each label it matches on,
// and the values a matcher lists. It returns every problem found.
func checkExpr(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parse(expr)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems []string
	promql.Inspect(e, func(node promql.Node, _ []promql.Node) error {
		if vs, ok := node.(*promql.VectorSelector); ok {
			problems = append(problems, checkSelector(t, vs)...)
		}
		return nil
	})
	return problems
}

// checkSelector checks one series selector (see checkExpr).
func checkSelector(t *testing.T, vs *promql.VectorSelector) []string {
	t.Helper()
	if vs.Name == "" {
		return []string{fmt.Sprintf("%s selects no metric by name", vs)}
	}
	exportedLabels, ok := exported[vs.Name]
	if !ok {
		return []string{fmt.Sprintf("the manager does not export %s", vs.Name)}
	}
	var problems []string
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel || targetLabels[m.Name] {
			continue
		}
		seen, ok := exportedLabels[m.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has no label %q", vs.Name, m.Name))
			continue
		}
		if (m.Type != labels.MatchEqual && m.Type != labels.MatchRegexp) || !literalAlternation.MatchString(m.Value) {
			continue
		}
		known := knownValues(t, m.Name, seen)
		for _, v := range strings.Split(m.Value, "|") {
			if !known[v] {
				problems = append(problems, fmt.Sprintf("%s{%s}: %q is not a value of %s", vs.Name, m, v, m.Name))
			}
		}
	}
	return problems
}

// knownValues are the values label may take: every reason constant for
// "reason", the condition statuses for "ready", and for any other label
// the values the manager exported (controller and queue names).
func knownValues(t *testing.T, label string, seen map[string]bool) map[string]bool {
	t.Helper()
	switch label {
	case "reason":
		return reasons(t)
	case "ready":
		return map[string]bool{"True": true, "False": true, "Unknown": true}
	default:
		return seen
	}
}

// reasons reads the condition reasons, the Reason* string constants of
// api/v1alpha1/conditions.go, plus "Unknown" (an object not reconciled yet).
func reasons(t *testing.T) map[string]bool {
	t.Helper()
	path := filepath.Join(testenv.Root(), "api", "v1alpha1", "conditions.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{"Unknown": true}
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if !strings.HasPrefix(name.Name, "Reason") || i >= len(spec.Values) {
				continue
			}
			if lit, ok := spec.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[v] = true
			}
		}
		return true
	})
	if len(out) < 10 {
		t.Fatalf("found only %d reasons in %s", len(out), path)
	}
	return out
}

// metricNames returns the metric names expr selects.
func metricNames(expr string) []string {
	e, err := parse(expr)
	if err != nil {
		return nil
	}
	var out []string
	promql.Inspect(e, func(node promql.Node, _ []promql.Node) error {
		if vs, ok := node.(*promql.VectorSelector); ok && !slices.Contains(out, vs.Name) {
			out = append(out, vs.Name)
		}
		return nil
	})
	return out
}
