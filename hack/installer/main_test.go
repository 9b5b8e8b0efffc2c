package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// TestRunWritesTheInstaller runs what `make build-installer` runs, into a
// directory that does not exist yet.
func TestRunWritesTheInstaller(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dist", "install.yaml")
	const image = "registry.example.com/dbrest-operator:v1.2.3"
	if err := run(filepath.Join(testenv.Root(), "config"), image, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "image: "+image+"\n") {
		t.Errorf("%s has no manager image %s", out, image)
	}
	if err := run(filepath.Join(testenv.Root(), "config"), "", out); err == nil {
		t.Error("no error without an image")
	}
}
