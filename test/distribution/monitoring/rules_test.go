package monitoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"

	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	promql "github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// loadRules decodes config/prometheus/rules.yaml into the Prometheus
// Operator's type, failing on any field that type does not have.
func loadRules(t *testing.T) monitoringv1.PrometheusRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	var r monitoringv1.PrometheusRule
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("config/prometheus/rules.yaml: %v", err)
	}
	return r
}

// alerts returns the alerting rules by name.
func alerts(t *testing.T) map[string]monitoringv1.Rule {
	t.Helper()
	out := map[string]monitoringv1.Rule{}
	for _, group := range loadRules(t).Spec.Groups {
		for _, r := range group.Rules {
			if r.Alert == "" {
				continue
			}
			if _, dup := out[r.Alert]; dup {
				t.Fatalf("alert %s twice", r.Alert)
			}
			out[r.Alert] = r
		}
	}
	return out
}

// templateFuncs stand for the functions Prometheus gives alert templates.
var templateFuncs = template.FuncMap{"humanize": stub, "humanizePercentage": stub, "humanizeDuration": stub}

func stub(v float64) string { return fmt.Sprint(v) }

// templateDefs are the variables Prometheus defines before expanding an
// alert's annotation (rules.NewTemplateExpander's header).
const templateDefs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// templateData is what Prometheus expands an annotation with.
type templateData struct {
	Labels         map[string]string
	ExternalLabels map[string]string
	ExternalURL    string
	Value          float64
}

// expandAnnotation expands an annotation as Prometheus does, for an alert
// whose series has labels and value 2.
func expandAnnotation(name, text string, labels map[string]string) (string, error) {
	tmpl, err := template.New(name).Option("missingkey=zero").Funcs(templateFuncs).Parse(templateDefs + text)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = tmpl.Execute(&out, templateData{Labels: labels, Value: 2})
	return out.String(), err
}

// TestRulesModel checks each alert as Prometheus loads it: a name, an
// expression, a duration it parses, a severity and templates that parse.
func TestRulesModel(t *testing.T) {
	g := NewWithT(t)
	r := loadRules(t)
	g.Expect(r.Kind).To(Equal("PrometheusRule"))
	g.Expect(r.APIVersion).To(Equal("monitoring.coreos.com/v1"))
	all := alerts(t)
	g.Expect(all).To(HaveLen(4))
	for name, rule := range all {
		g.Expect(name).To(MatchRegexp(`^Dbrest[A-Z][A-Za-z]+$`))
		g.Expect(rule.Expr.String()).NotTo(BeEmpty(), name)
		g.Expect(rule.For).NotTo(BeNil(), name)
		_, err := model.ParseDuration(string(*rule.For))
		g.Expect(err).NotTo(HaveOccurred(), name)
		g.Expect(rule.Labels).To(HaveKeyWithValue("severity", BeElementOf("warning", "critical")), name)
		// Every label an annotation names is one the expression keeps.
		e, err := parse(rule.Expr.String())
		g.Expect(err).NotTo(HaveOccurred(), name)
		kept := map[string]string{}
		for _, l := range outputLabels(e) {
			kept[l] = "<" + l + ">"
		}
		for _, a := range []string{"summary", "description"} {
			g.Expect(rule.Annotations).To(HaveKeyWithValue(a, Not(BeEmpty())), name)
			text, err := expandAnnotation(name, rule.Annotations[a], kept)
			g.Expect(err).NotTo(HaveOccurred(), "%s %s", name, a)
			g.Expect(text).NotTo(ContainSubstring("<no value>"), "%s %s", name, a)
			for _, ref := range labelRef.FindAllStringSubmatch(rule.Annotations[a], -1) {
				g.Expect(kept).To(HaveKey(ref[1]), "%s %s names $labels.%s, which the expression drops", name, a, ref[1])
			}
		}
	}
}

// TestRulesQueries parses every expression and checks that it selects only
// what the manager exports.
func TestRulesQueries(t *testing.T) {
	for name, rule := range alerts(t) {
		for _, p := range checkExpr(t, rule.Expr.String()) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

// labelRef matches $labels.name in an annotation.
var labelRef = regexp.MustCompile(`\$labels\.(\w+)`)

// outputLabels returns the labels an alert expression's result keeps:
// those of the outermost aggregation's by (...) clause, found by walking
// down binary operators to their left-hand side.
func outputLabels(e promql.Expr) []string {
	for {
		switch n := e.(type) {
		case *promql.ParenExpr:
			e = n.Expr
		case *promql.BinaryExpr:
			e = n.LHS
		case *promql.AggregateExpr:
			if n.Without {
				return nil
			}
			return n.Grouping
		default:
			return nil
		}
	}
}

// oneLine joins a multi-line expression for promqltest's eval command.
func oneLine(expr string) string { return strings.Join(strings.Fields(expr), " ") }
