package v1alpha1_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

var k8s client.Client

func TestMain(m *testing.M) {
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s, err = client.New(cfg, client.Options{})
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	_ = env.Stop()
	os.Exit(code)
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "t-" + rand.String(8)}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func validDeployment(ns string) *dbrestv1.Deployment {
	return &dbrestv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns},
		Spec: dbrestv1.DeploymentSpec{
			DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
			Application: dbrestv1.ApplicationSpec{
				Name: "orders", DeploymentPath: "/apps/orders.war", Targets: []string{"cluster1"},
			},
		},
	}
}

func validDatabaseAPI(ns string) *dbrestv1.DatabaseAPI {
	return &dbrestv1.DatabaseAPI{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: dbrestv1.DatabaseAPISpec{
			URL:                  "https://db.example.com:7002/management/wls/latest/",
			CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
		},
	}
}

func TestDeploymentRejectedAtAdmission(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*dbrestv1.Deployment)
		want   string
	}{
		{"app name not a DNS label", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = "Orders_1" }, "spec.application.name"},
		{"app name empty", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = "" }, "spec.application.name"},
		{"app name too long", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = strings.Repeat("a", 64) }, "spec.application.name"},
		{"no deploymentPath", func(d *dbrestv1.Deployment) { d.Spec.Application.DeploymentPath = "" }, "spec.application.deploymentPath"},
		{"no targets", func(d *dbrestv1.Deployment) { d.Spec.Application.Targets = nil }, "spec.application.targets"},
		{"empty target", func(d *dbrestv1.Deployment) { d.Spec.Application.Targets = []string{""} }, "spec.application.targets[0]"},
		{"duplicate targets", func(d *dbrestv1.Deployment) { d.Spec.Application.Targets = []string{"a", "a"} }, "Duplicate value"},
		{"no databaseAPIRef", func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "" }, "spec.databaseAPIRef.name"},
		{"poll interval too short", func(d *dbrestv1.Deployment) { d.Spec.PollInterval = &metav1.Duration{Duration: 100e6} },
			"pollInterval must be a duration such as 30s or 1m30s, between 1s and 10m"},
		{"timeout too short", func(d *dbrestv1.Deployment) { d.Spec.Timeout = &metav1.Duration{Duration: 1e9} },
			"timeout must be a duration such as 30s or 1m30s, between 10s and 24h"},
		{"resync too short", func(d *dbrestv1.Deployment) { d.Spec.ResyncInterval = &metav1.Duration{Duration: 1e9} },
			"resyncInterval must be a duration such as 30s or 1m30s, between 30s and 24h"},
		{"bad deletion policy", func(d *dbrestv1.Deployment) { d.Spec.DeletionPolicy = "Keep" }, `supported values: "Delete", "Orphan"`},
		{"bad adoption", func(d *dbrestv1.Deployment) { d.Spec.Adoption = "Steal" }, `spec.adoption: Unsupported value: "Steal"`},
		{"bad management policy", func(d *dbrestv1.Deployment) { d.Spec.ManagementPolicy = "Maybe" },
			`spec.managementPolicy: Unsupported value: "Maybe"`},
		{"ObserveOnly with deletionPolicy Delete", func(d *dbrestv1.Deployment) {
			d.Spec.ManagementPolicy, d.Spec.DeletionPolicy = dbrestv1.ManagementObserveOnly, dbrestv1.DeletionPolicyDelete
		}, "spec.deletionPolicy Delete cannot be combined with spec.managementPolicy ObserveOnly"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			d := validDeployment(newNamespace(t))
			tc.mutate(d)
			err := k8s.Create(context.Background(), d)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

func TestDeploymentRejectsBadDurationText(t *testing.T) {
	g := NewWithT(t)
	d := validDeployment(newNamespace(t))
	u, err := toUnstructured(d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(unstructured.SetNestedField(u.Object, "five seconds", "spec", "pollInterval")).To(Succeed())
	err = k8s.Create(context.Background(), u)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("pollInterval must be a duration such as 30s"))
}

func TestDeploymentImmutableFields(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		mutate func(*dbrestv1.Deployment)
		want   string
	}{
		{"application name", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = "orders2" }, "application.name is immutable"},
		{"databaseAPIRef", func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "other" }, "databaseAPIRef is immutable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			d := validDeployment(newNamespace(t))
			g.Expect(k8s.Create(ctx, d)).To(Succeed())
			tc.mutate(d)
			err := k8s.Update(ctx, d)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
	t.Run("other fields stay mutable", func(t *testing.T) {
		g := NewWithT(t)
		d := validDeployment(newNamespace(t))
		g.Expect(k8s.Create(ctx, d)).To(Succeed())
		d.Spec.Application.DeploymentPath = "/apps/orders-2.war"
		d.Spec.Suspend = true
		g.Expect(k8s.Update(ctx, d)).To(Succeed())
	})
}

func TestDeploymentDefaults(t *testing.T) {
	g := NewWithT(t)
	d := validDeployment(newNamespace(t))
	g.Expect(k8s.Create(context.Background(), d)).To(Succeed())
	g.Expect(d.Spec.Detached).To(Equal(ptr.To(true)))
	g.Expect(d.Spec.PollInterval.Duration.String()).To(Equal("5s"))
	g.Expect(d.Spec.Timeout.Duration.String()).To(Equal("30m0s"))
	g.Expect(d.Spec.DeletionPolicy).To(BeEmpty(), "unset: Delete for what the operator deployed, Orphan for what it adopted")
	g.Expect(d.Spec.Adoption).To(Equal(dbrestv1.AdoptionRefuse))
	g.Expect(d.Spec.ManagementPolicy).To(Equal(dbrestv1.ManagementFull))
	g.Expect(d.Spec.ResyncInterval).To(BeNil(), "unset: the manager's --resync-interval applies")
}

func TestDatabaseAPIRejectedAtAdmission(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*dbrestv1.DatabaseAPI)
		want   string
	}{
		{"ftp url", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "ftp://db.example.com/" }, "url must start with https:// or http://"},
		{"not a url", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://" }, "spec.url"},
		{"credentials in url", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://admin:pw@db.example.com/" }, "url must not carry credentials"},
		{"query in url", func(a *dbrestv1.DatabaseAPI) { a.Spec.URL = "https://db.example.com/api?x=1" }, "url must not have a query or fragment"},
		{"no secret", func(a *dbrestv1.DatabaseAPI) { a.Spec.CredentialsSecretRef.Name = "" }, "spec.credentialsSecretRef.name"},
		{"both CA sources", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.CABundle = "pem"
			a.Spec.CABundleRef = &dbrestv1.CABundleSource{Name: "ca"}
		}, "set either caBundle or caBundleRef, not both"},
		{"insecure with CA", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.InsecureSkipTLSVerify = true
			a.Spec.CABundle = "pem"
		}, "insecureSkipTLSVerify disables the CA check"},
		{"insecure on http", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.URL = "http://db.example.com/"
			a.Spec.InsecureSkipTLSVerify = true
		}, "insecureSkipTLSVerify only applies to an https:// url"},
		{"CA ref of another kind", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.CABundleRef = &dbrestv1.CABundleSource{Kind: "Pod", Name: "ca"}
		}, `supported values: "ConfigMap", "Secret"`},
		{"timeout too long", func(a *dbrestv1.DatabaseAPI) { a.Spec.RequestTimeout = &metav1.Duration{Duration: 3600e9} },
			"requestTimeout must be a duration such as 30s or 1m30s, between 1s and 10m"},
		{"probe too often", func(a *dbrestv1.DatabaseAPI) { a.Spec.ProbeInterval = &metav1.Duration{Duration: 1e9} },
			"probeInterval must be a duration such as 30s or 1m30s, between 10s and 24h"},
		{"zero concurrency", func(a *dbrestv1.DatabaseAPI) { a.Spec.MaxConcurrentRequests = -1 }, "spec.maxConcurrentRequests"},
		{"authorization header", func(a *dbrestv1.DatabaseAPI) { a.Spec.Headers = map[string]string{"Authorization": "Basic x"} },
			"headers must not set Authorization"},
		{"bad header name", func(a *dbrestv1.DatabaseAPI) { a.Spec.Headers = map[string]string{"X Bad": "1"} },
			"header names must be HTTP tokens"},
		{"absolute path override", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.Paths = &dbrestv1.APIPaths{Applications: "https://other/apps"}
		}, "spec.paths.applications"},
		{"path without placeholder", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.Paths = &dbrestv1.APIPaths{Application: "apps/orders"}
		}, "paths.application must contain the {name} placeholder"},
		{"job path without id", func(a *dbrestv1.DatabaseAPI) {
			a.Spec.Paths = &dbrestv1.APIPaths{Job: "jobs/latest"}
		}, "paths.job must contain the {id} placeholder"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := validDatabaseAPI(newNamespace(t))
			tc.mutate(a)
			err := k8s.Create(context.Background(), a)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

func TestDatabaseAPIDefaults(t *testing.T) {
	g := NewWithT(t)
	a := validDatabaseAPI(newNamespace(t))
	g.Expect(k8s.Create(context.Background(), a)).To(Succeed())
	g.Expect(a.Spec.RequestTimeout.Duration.String()).To(Equal("30s"))
	g.Expect(a.Spec.ProbeInterval.Duration.String()).To(Equal("5m0s"))
	g.Expect(a.Spec.MaxConcurrentRequests).To(Equal(int32(16)))
}

// TestSamplesAreAccepted creates every object of config/samples in a fresh
// namespace: what the README tells users to apply must be valid.
func TestSamplesAreAccepted(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join(testenv.Root(), "config", "samples", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty())
	kinds := map[string]int{}
	for _, f := range files {
		for _, u := range readObjects(t, f) {
			u.SetNamespace(ns)
			g.Expect(k8s.Create(context.Background(), u)).To(Succeed(), "%s: %s/%s", filepath.Base(f), u.GetKind(), u.GetName())
			kinds[u.GetKind()]++
		}
	}
	g.Expect(kinds).To(HaveKey("Deployment"))
	g.Expect(kinds).To(HaveKey("DatabaseAPI"))
}

func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, u)
	}
}

func toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	d := obj.(*dbrestv1.Deployment)
	d.APIVersion, d.Kind = dbrestv1.GroupVersion.String(), "Deployment"
	m, err := runtimeToMap(d)
	return &unstructured.Unstructured{Object: m}, err
}

// TestDatabaseAPIURLSchemeInAnyCase: a URL scheme is case-insensitive
// (RFC 3986), so HTTP:// is admitted like http://.
func TestDatabaseAPIURLSchemeInAnyCase(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	for i, url := range []string{"HTTP://DB.example.com:8080/api/", "Https://db.example.com/api"} {
		api := &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Namespace: ns},
			Spec: dbrestv1.DatabaseAPISpec{URL: url, CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"}}}
		g.Expect(k8s.Create(context.Background(), api)).To(Succeed(), url)
	}
}
