// Package distribution holds no code: this module's packages test how the
// operator is distributed and watched, with Helm's and Prometheus's Go
// packages. They live in a module of their own, so those packages'
// dependencies stay out of the operator's go.mod.
//
//   - chart: the Helm chart in charts/dbrest-operator (lint, render,
//     apply to a real API server, in step with config/).
//   - monitoring: the Grafana dashboard (config/grafana) and the
//     Prometheus rules (config/prometheus/rules.yaml) against the
//     metrics a real manager process exports.
package distribution
