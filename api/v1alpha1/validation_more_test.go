package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// Each case below is a mistake a user can make; the apiserver must refuse
// it and the message must name the field and say what is allowed, so the
// user can fix it without reading the CRD.

func TestMoreDeploymentsRejectedAtAdmission(t *testing.T) {
	many := func(n int, f func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	cases := []struct {
		name   string
		mutate func(*dbrestv1.Deployment)
		want   []string
	}{
		{"app name with upper case", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = "Orders" },
			[]string{"spec.application.name", "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"}},
		{"app name starting with a dash", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = "-orders" },
			[]string{"spec.application.name", "should match"}},
		{"app name with a dot", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = "orders.v2" },
			[]string{"spec.application.name", "should match"}},
		{"deploymentPath too long", func(d *dbrestv1.Deployment) { d.Spec.Application.DeploymentPath = "/" + strings.Repeat("a", 4096) },
			[]string{"spec.application.deploymentPath", "may not be more than 4096 bytes"}},
		{"too many targets", func(d *dbrestv1.Deployment) {
			d.Spec.Application.Targets = many(65, func(i int) string { return fmt.Sprintf("c%d", i) })
		}, []string{"spec.application.targets", "must have at most 64 items"}},
		{"target name too long", func(d *dbrestv1.Deployment) { d.Spec.Application.Targets = []string{strings.Repeat("c", 254)} },
			[]string{"spec.application.targets[0]", "may not be more than 253 bytes"}},
		{"planPath too long", func(d *dbrestv1.Deployment) { d.Spec.Application.PlanPath = strings.Repeat("p", 4097) },
			[]string{"spec.application.planPath", "may not be more than 4096 bytes"}},
		{"version too long", func(d *dbrestv1.Deployment) { d.Spec.Application.Version = strings.Repeat("1", 216) },
			[]string{"spec.application.version", "may not be more than 215 bytes"}},
		{"too many properties", func(d *dbrestv1.Deployment) {
			d.Spec.Application.Properties = map[string]string{}
			for i := range 129 {
				d.Spec.Application.Properties[fmt.Sprintf("k%d", i)] = "v"
			}
		}, []string{"spec.application.properties", "must have at most 128 items"}},
		{"databaseAPIRef name too long", func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = strings.Repeat("d", 254) },
			[]string{"spec.databaseAPIRef.name", "may not be more than 253 bytes"}},
		{"poll interval too long", func(d *dbrestv1.Deployment) { d.Spec.PollInterval = &metav1.Duration{Duration: 11 * 60e9} },
			[]string{"pollInterval must be a duration such as 30s or 1m30s, between 1s and 10m"}},
		{"timeout too long", func(d *dbrestv1.Deployment) { d.Spec.Timeout = &metav1.Duration{Duration: 25 * 3600e9} },
			[]string{"timeout must be a duration such as 30s or 1m30s, between 10s and 24h"}},
		{"resync too long", func(d *dbrestv1.Deployment) { d.Spec.ResyncInterval = &metav1.Duration{Duration: 25 * 3600e9} },
			[]string{"resyncInterval must be a duration such as 30s or 1m30s, between 30s and 24h"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			d := validDeployment(newNamespace(t))
			tc.mutate(d)
			err := k8s.Create(context.Background(), d)
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

// TestMoreDeploymentsRejectedAsText sends what a typed client cannot: a
// YAML author's wrong types, units and missing sections.
func TestMoreDeploymentsRejectedAsText(t *testing.T) {
	cases := []struct {
		name  string
		value any
		path  []string
		want  []string
	}{
		{"poll interval in days", "1d", []string{"spec", "pollInterval"}, []string{"pollInterval must be a duration such as 30s"}},
		{"poll interval without a unit", "30", []string{"spec", "pollInterval"}, []string{"pollInterval must be a duration such as 30s"}},
		{"negative timeout", "-5m", []string{"spec", "timeout"}, []string{"timeout must be a duration such as 30s"}},
		{"detached as a string", "yes", []string{"spec", "detached"}, []string{"spec.detached", "must be of type boolean"}},
		{"suspend as a number", int64(1), []string{"spec", "suspend"}, []string{"spec.suspend", "must be of type boolean"}},
		{"targets as a string", "cluster1", []string{"spec", "application", "targets"}, []string{"spec.application.targets", "must be of type array"}},
		{"properties with a number value", map[string]any{"poolSize": int64(20)}, []string{"spec", "application", "properties"},
			[]string{"spec.application.properties.poolSize", "must be of type string"}},
		{"no application", nil, []string{"spec", "application"}, []string{"spec.application", "Required value"}},
		{"no databaseAPIRef", nil, []string{"spec", "databaseAPIRef"}, []string{"spec.databaseAPIRef", "Required value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u, err := toUnstructured(validDeployment(newNamespace(t)))
			g.Expect(err).NotTo(HaveOccurred())
			if tc.value == nil {
				unstructured.RemoveNestedField(u.Object, tc.path...)
			} else {
				g.Expect(unstructured.SetNestedField(u.Object, tc.value, tc.path...)).To(Succeed())
			}
			err = k8s.Create(context.Background(), u)
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

func TestMoreDatabaseAPIsRejectedAtAdmission(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*dbrestv1.DatabaseAPI)
		want   []string
	}{
		{"url too short", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "http://" }, []string{"spec.url", "at least 8 chars long"}},
		{"url too long", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://db.example.com/" + strings.Repeat("a", 2048) },
			[]string{"spec.url", "may not be more than 2048 bytes"}},
		{"url with a fragment", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://db.example.com/api#top" },
			[]string{"url must not have a query or fragment"}},
		{"url with an empty query", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://db.example.com/api?" },
			[]string{"url must not have a query or fragment"}},
		{"url missing a slash", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https:/db.example.com/api/" },
			[]string{"url must start with https:// or http://"}},
		{"url without a scheme", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "db.example.com:7002/api/" },
			[]string{"url must start with https:// or http://"}},
		{"url with a space in the host", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://db example.com/api/" },
			[]string{"url must be an absolute URL with a host"}},
		{"url with an empty user", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://@db.example.com/api/" },
			[]string{"url must not carry credentials"}},
		// Accepted today: the manager then retries "invalid port" dial
		// errors forever as Unreachable. See docs/security.md.
		{"url with a port out of range", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://db.example.com:99999/api/" },
			[]string{"spec.url", "port"}},
		{"secret name too long", func(a *dbrestv1.DatabaseAPI) { a.Spec.CredentialsSecretRef.Name = strings.Repeat("s", 254) },
			[]string{"spec.credentialsSecretRef.name", "may not be more than 253 bytes"}},
		{"CA bundle too large", func(a *dbrestv1.DatabaseAPI) { a.Spec.CABundle = strings.Repeat("A", 262145) },
			[]string{"spec.caBundle", "may not be more than 262144 bytes"}},
		{"CA ref without a name", func(a *dbrestv1.DatabaseAPI) { a.Spec.CABundleRef = &dbrestv1.CABundleSource{Name: ""} },
			[]string{"spec.caBundleRef.name"}},
		{"insecure with a CA ref", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.InsecureSkipTLSVerify = true
			a.Spec.CABundleRef = &dbrestv1.CABundleSource{Name: "ca"}
		}, []string{"insecureSkipTLSVerify disables the CA check"}},
		{"request timeout too short", func(a *dbrestv1.DatabaseAPI) { a.Spec.RequestTimeout = &metav1.Duration{Duration: 500e6} },
			[]string{"requestTimeout must be a duration such as 30s or 1m30s, between 1s and 10m"}},
		{"probe interval too long", func(a *dbrestv1.DatabaseAPI) { a.Spec.ProbeInterval = &metav1.Duration{Duration: 25 * 3600e9} },
			[]string{"probeInterval must be a duration such as 30s or 1m30s, between 10s and 24h"}},
		{"too much concurrency", func(a *dbrestv1.DatabaseAPI) { a.Spec.MaxConcurrentRequests = 1025 },
			[]string{"spec.maxConcurrentRequests", "less than or equal to 1024"}},
		{"Host header", func(a *dbrestv1.DatabaseAPI) { a.Spec.Headers = map[string]string{"host": "other.example"} },
			[]string{"headers must not set Authorization, Accept, Content-Type, Content-Length, Host or Cookie"}},
		{"Cookie header", func(a *dbrestv1.DatabaseAPI) { a.Spec.Headers = map[string]string{"Cookie": "session=1"} },
			[]string{"headers must not set"}},
		{"header name with a colon", func(a *dbrestv1.DatabaseAPI) { a.Spec.Headers = map[string]string{"X-A:B": "1"} },
			[]string{"header names must be HTTP tokens"}},
		{"too many headers", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.Headers = map[string]string{}
			for i := range 33 {
				a.Spec.Headers[fmt.Sprintf("X-H%d", i)] = "v"
			}
		}, []string{"spec.headers", "must have at most 32 items"}},
		{"redeploy path without placeholder", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.Paths = &dbrestv1.APIPaths{Redeploy: "apps/redeploy"}
		}, []string{"paths.redeploy must contain the {name} placeholder"}},
		{"path with a query", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.Paths = &dbrestv1.APIPaths{Jobs: "jobs?all=true"}
		}, []string{"spec.paths.jobs", "should match"}},
		{"path from the root", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.Paths = &dbrestv1.APIPaths{Applications: "/other/apps"}
		}, []string{"spec.paths.applications", "should match"}},
		{"path too long", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.Paths = &dbrestv1.APIPaths{Job: "jobs/{id}/" + strings.Repeat("x", 512)}
		}, []string{"spec.paths.job", "may not be more than 512 bytes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := validDatabaseAPI(newNamespace(t))
			tc.mutate(a)
			err := k8s.Create(context.Background(), a)
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

// TestMoreDatabaseAPIsRejectedAsText: wrong types for the numeric and
// boolean fields, and a zero concurrency that a typed client would omit.
func TestMoreDatabaseAPIsRejectedAsText(t *testing.T) {
	cases := []struct {
		name  string
		value any
		path  []string
		want  []string
	}{
		{"zero concurrency", int64(0), []string{"spec", "maxConcurrentRequests"},
			[]string{"spec.maxConcurrentRequests", "greater than or equal to 1"}},
		{"concurrency as a string", "16", []string{"spec", "maxConcurrentRequests"},
			[]string{"spec.maxConcurrentRequests", "must be of type integer"}},
		{"insecure as a string", "true", []string{"spec", "insecureSkipTLSVerify"},
			[]string{"spec.insecureSkipTLSVerify", "must be of type boolean"}},
		{"empty CA key", "", []string{"spec", "caBundleRef", "key"}, []string{"spec.caBundleRef.key", "at least 1 chars long"}},
		{"no url", nil, []string{"spec", "url"}, []string{"spec.url", "Required value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := validDatabaseAPI(newNamespace(t))
			a.APIVersion, a.Kind = dbrestv1.GroupVersion.String(), "DatabaseAPI"
			if tc.path[1] == "caBundleRef" {
				a.Spec.CABundleRef = &dbrestv1.CABundleSource{Name: "ca"}
			}
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(a)
			g.Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{Object: m}
			if tc.value == nil {
				unstructured.RemoveNestedField(u.Object, tc.path...)
			} else {
				g.Expect(unstructured.SetNestedField(u.Object, tc.value, tc.path...)).To(Succeed())
			}
			err = k8s.Create(context.Background(), u)
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

// TestRuleHoldsOnUpdate: the rules apply to updates as well, so a valid
// object cannot be edited into an invalid one.
func TestRuleHoldsOnUpdate(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	a := validDatabaseAPI(newNamespace(t))
	g.Expect(k8s.Create(ctx, a)).To(Succeed())
	a.Spec.URL = "https://admin:pw@db.example.com/"
	err := k8s.Update(ctx, a)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("url must not carry credentials"))
}
