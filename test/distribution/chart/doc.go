// Package chart tests the Helm chart in charts/dbrest-operator with Helm's
// Go packages (no helm binary): helm lint, rendering as `helm template`
// does for the default values and overrides, a server-side dry run of
// every rendered object on a real kube-apiserver, and that the chart stays
// in step with config/ (the kustomize tree it mirrors).
package chart
