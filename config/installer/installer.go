// Package installer builds the single-file installer, dist/install.yaml:
// config/default (CRDs, namespace, RBAC, the manager Deployment and its
// metrics Service) with the manager image set, as `kubectl apply -f`
// takes it. `make build-installer` writes it through hack/installer, and
// config/configtest applies what it builds to a real API server.
package installer

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/pkg/util"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// ImageName is the placeholder image of the manager container in
// config/manager, the name `make deploy` sets with `kustomize edit set
// image controller=IMG`.
const ImageName = "controller"

// Build returns the installer for the config/ directory configDir with
// the manager image set to image (such as "ghcr.io/org/dbrest-operator:v0.1.0"
// or "repo/name@sha256:…").
//
// It sets the image as `make deploy` does, but on an in-memory copy of
// config/, so building an installer never edits the checked-in
// config/manager/kustomization.yaml.
func Build(configDir, image string) ([]byte, error) {
	if image == "" {
		return nil, fmt.Errorf("no image given")
	}
	mem, err := copyToMemory(configDir)
	if err != nil {
		return nil, err
	}
	if err := setImage(mem, filepath.Join(configDir, "manager", "kustomization.yaml"), image); err != nil {
		return nil, err
	}
	// Legacy order, as `kustomize build` and `kubectl kustomize` give:
	// the Namespace and the CRDs first, so `kubectl apply -f` creates
	// them before the objects that need them.
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	res, err := krusty.MakeKustomizer(opts).Run(mem, filepath.Join(configDir, "default"))
	if err != nil {
		return nil, fmt.Errorf("kustomize build config/default: %w", err)
	}
	body, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# dbrest-operator installer: config/default with image %s.\n", image)
	out.WriteString("# Built by `make build-installer IMG=...`; apply with `kubectl apply --server-side -f install.yaml`.\n")
	out.Write(body)
	return out.Bytes(), nil
}

// copyToMemory copies the files under dir into an in-memory file system
// at the same absolute paths, so relative references between the
// kustomizations resolve as they do on disk.
func copyToMemory(dir string) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(path, b)
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	return mem, nil
}

// setImage rewrites the images entry named ImageName in the kustomization
// at path, as `kustomize edit set image controller=image` does.
func setImage(fsys filesys.FileSystem, path, image string) error {
	b, err := fsys.ReadFile(path)
	if err != nil {
		return err
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name, tag, digest := util.SplitImageName(image)
	if name == "" || strings.ContainsAny(image, " \t\n") {
		return fmt.Errorf("invalid image %q", image)
	}
	found := false
	for i := range k.Images {
		if k.Images[i].Name == ImageName {
			k.Images[i] = types.Image{Name: ImageName, NewName: name, NewTag: tag, Digest: digest}
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%s has no image %q to set", path, ImageName)
	}
	out, err := yaml.Marshal(k)
	if err != nil {
		return err
	}
	return fsys.WriteFile(path, out)
}
