package main

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// watchNamespaces parses --watch-namespaces: a comma-separated list of
// namespace names, each a DNS label, spaces and repeats ignored. An empty
// value means every namespace (the cluster-wide mode).
func watchNamespaces(flag string) ([]string, error) {
	var out []string
	for _, ns := range strings.Split(flag, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("--watch-namespaces: %q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}
