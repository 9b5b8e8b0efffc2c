// Command installer writes the single-file installer (dist/install.yaml)
// for `make build-installer`: config/default with the manager image set.
// It uses kustomize's Go API, so the build needs no kustomize binary.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dbrest-io/dbrest-operator/config/installer"
)

func main() {
	config := flag.String("config", "config", "The config/ directory of the repository.")
	image := flag.String("image", "", `Manager image, e.g. "ghcr.io/org/dbrest-operator:v0.1.0" (required).`)
	out := flag.String("o", "dist/install.yaml", "Output file.")
	flag.Parse()
	if err := run(*config, *image, *out); err != nil {
		fmt.Fprintln(os.Stderr, "installer:", err)
		os.Exit(1)
	}
}

func run(config, image, out string) error {
	abs, err := filepath.Abs(config)
	if err != nil {
		return err
	}
	b, err := installer.Build(abs, image)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
