package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// warnings collects the API server's warnings: deprecations, and Pod
// Security violations of a pod template.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

// prometheusOperatorKinds are not served by the test API server (no
// monitoring.coreos.com CRDs), so they are checked against the Prometheus
// Operator's Go types instead.
var prometheusOperatorKinds = map[string]func() any{
	"ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// decodeStrict decodes u into the Prometheus Operator type of its kind,
// failing on any field that type does not have.
func decodeStrict(u *unstructured.Unstructured) error {
	b, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	out := prometheusOperatorKinds[u.GetKind()]()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: %w", key(u), err)
	}
	return nil
}

// TestAppliesWithServerDryRun renders the chart with each values file and
// applies every object as `helm install` would send it, as a server-side
// dry run, in a namespace that enforces the "restricted" Pod Security
// level: the API server must accept all of them, with no warning.
func TestAppliesWithServerDryRun(t *testing.T) {
	for name, y := range overrides {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			cfg := rest.CopyConfig(restConfig)
			warned := &warnings{}
			cfg.WarningHandler = warned
			c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
			g.Expect(err).NotTo(HaveOccurred())

			// Each case gets its own release namespace; watched namespaces
			// are made for real, as a dry run needs them to exist.
			ns := "chart-" + rand.String(6)
			vals := values(t, y)
			watched, _ := vals["watchNamespaces"].([]any)
			for i, w := range watched {
				if w == "dbrest-operator-system" {
					watched[i] = ns
				}
			}
			for _, n := range append([]any{ns}, watched...) {
				err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n.(string),
					Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}})
				g.Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
			}

			objs := mustRender(t, "dbrest-operator", ns, vals)
			g.Expect(objs).NotTo(BeEmpty())
			for _, u := range objs {
				if _, ok := prometheusOperatorKinds[u.GetKind()]; ok {
					g.Expect(decodeStrict(u)).To(Succeed())
					continue
				}
				g.Expect(c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
					client.FieldOwner("helm"), client.ForceOwnership, client.DryRunAll)).To(Succeed(), key(u))
			}
			g.Expect(warned.all()).To(BeEmpty())
		})
	}
}
