// Package monitoring tests what the operator ships for the tools that watch it: the
// Prometheus alerts (config/prometheus/rules.yaml, copied into the chart), evaluated with
// Prometheus' own rule parser and PromQL engine on promtool-format test files, and the
// Grafana dashboard (charts/associate-operator/files/dashboard.json). It needs no cluster.
package monitoring
