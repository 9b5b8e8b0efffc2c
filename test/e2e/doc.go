// Package e2e holds process-level reliability tests: the manager runs as a
// separate binary against a real kube-apiserver and etcd and a simulator
// of the REST API, and the tests inject faults, kill the manager with
// SIGKILL, run two replicas with leader election and restart the
// apiserver. They are behind the e2e build tag and run with
// `make test-e2e`; docs/reliability.md quotes their figures.
package e2e
