package configtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dbrest-io/dbrest-operator/config/installer"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// releaseImage is an image as a release sets it, with a registry port so
// that the tag split is not fooled by the first colon.
const releaseImage = "registry.example.com:5000/dbrest/dbrest-operator:v9.8.7"

// buildInstaller builds the installer as `make build-installer` does and
// decodes it as `kubectl apply -f` would.
func buildInstaller(t *testing.T, image string) []*unstructured.Unstructured {
	t.Helper()
	b, err := installer.Build(filepath.Join(testenv.Root(), "config"), image)
	if err != nil {
		t.Fatalf("building the installer: %v", err)
	}
	return decodeDocuments(t, b)
}

// decodeDocuments splits a multi-document YAML file into objects,
// skipping documents that hold only comments.
func decodeDocuments(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		if string(j) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatalf("%v in document:\n%s", err, doc)
		}
		objs = append(objs, u)
	}
}

// objectKey names an object the way the API server tells objects apart.
func objectKey(u *unstructured.Unstructured) string {
	return u.GetAPIVersion() + " " + u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// managerImage returns the image of the one container of the manager
// Deployment in objs.
func managerImage(g Gomega, objs []*unstructured.Unstructured) string {
	var images []string
	for _, u := range objs {
		if u.GetKind() != "Deployment" {
			continue
		}
		containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		g.Expect(err).NotTo(HaveOccurred())
		for _, c := range containers {
			images = append(images, c.(map[string]any)["image"].(string))
		}
	}
	g.Expect(images).To(HaveLen(1))
	return images[0]
}

// TestInstallerIsConfigDefault checks that the installer holds exactly
// the objects of config/default, each unchanged but for the image.
func TestInstallerIsConfigDefault(t *testing.T) {
	for _, image := range []string{
		releaseImage,
		"ghcr.io/dbrest-io/dbrest-operator@sha256:" + string(bytes.Repeat([]byte("ab"), 32)),
		"dbrest-operator:v0.1.0",
	} {
		t.Run(image, func(t *testing.T) {
			g := NewWithT(t)
			got := buildInstaller(t, image)
			want := build(t, "default")
			g.Expect(managerImage(g, got)).To(Equal(image))

			wantByKey := map[string]*unstructured.Unstructured{}
			for _, u := range want {
				wantByKey[objectKey(u)] = u
			}
			gotKeys := make([]string, 0, len(got))
			for _, u := range got {
				gotKeys = append(gotKeys, objectKey(u))
			}
			wantKeys := make([]string, 0, len(want))
			for k := range wantByKey {
				wantKeys = append(wantKeys, k)
			}
			g.Expect(gotKeys).To(ConsistOf(wantKeys))

			defaultImage := managerImage(g, want)
			for _, u := range got {
				u = u.DeepCopy()
				if u.GetKind() == "Deployment" {
					containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
					containers[0].(map[string]any)["image"] = defaultImage
					g.Expect(unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers")).To(Succeed())
				}
				g.Expect(u.Object).To(Equal(wantByKey[objectKey(u)].Object), objectKey(u))
			}
		})
	}
}

// TestInstallerOrder checks that `kubectl apply -f` can create the
// objects in file order: the namespace and the CRDs come before anything
// that lives in the namespace.
func TestInstallerOrder(t *testing.T) {
	g := NewWithT(t)
	objs := buildInstaller(t, releaseImage)
	seenNamespaced := false
	for _, u := range objs {
		switch u.GetKind() {
		case "Namespace", "CustomResourceDefinition":
			g.Expect(seenNamespaced).To(BeFalse(), "%s comes after a namespaced object", objectKey(u))
		default:
			if u.GetNamespace() != "" {
				seenNamespaced = true
			}
		}
	}
}

func TestInstallerRejectsABadImage(t *testing.T) {
	g := NewWithT(t)
	root := filepath.Join(testenv.Root(), "config")
	for _, image := range []string{"", "has space:v1"} {
		_, err := installer.Build(root, image)
		g.Expect(err).To(HaveOccurred(), "%q", image)
	}
}

// TestInstallerAppliesWithServerDryRun applies the installer in file
// order, as `kubectl apply --server-side -f install.yaml` does: the
// namespace for real, the rest as a dry run. Every object must be
// accepted, with no warning (Pod Security included).
func TestInstallerAppliesWithServerDryRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cfg := rest.CopyConfig(restConfig)
	warned := &warnings{}
	cfg.WarningHandler = warned
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	objs := buildInstaller(t, releaseImage)
	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		opts := []client.ApplyOption{client.FieldOwner("kubectl"), client.ForceOwnership}
		if u.GetKind() != "Namespace" {
			opts = append(opts, client.DryRunAll)
		}
		g.Expect(c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), opts...)).
			To(Succeed(), objectKey(u))
	}
	g.Expect(kinds).To(And(
		HaveKeyWithValue("Namespace", 1),
		HaveKeyWithValue("CustomResourceDefinition", 2),
		HaveKeyWithValue("Deployment", 1),
		HaveKeyWithValue("Service", 1),
		HaveKeyWithValue("ServiceAccount", 1),
		HaveKey("ClusterRole"), HaveKey("ClusterRoleBinding"), HaveKey("Role"), HaveKey("RoleBinding"),
	))
	g.Expect(warned.all()).To(BeEmpty())
}
