// Package monitoring tests the Grafana dashboard (config/grafana) and the
// Prometheus alert rules (config/prometheus/rules.yaml): that they are
// well-formed, that every PromQL expression parses, and that it names only
// metrics, labels and label values that a real manager process exports.
package monitoring
