// Package monitoring tests what the operator ships for the tools that watch it: the
// Prometheus alerts (config/prometheus/rules.yaml, copied into the chart), evaluated with
// Prometheus' own rule parser and PromQL engine on promtool-format test files; the
// Grafana dashboard (charts/associate-operator/files/dashboard.json); and the Argo CD
// health check (charts/associate-operator/files/argocd), run with a Lua interpreter on
// sample statuses of the four kinds. It needs no cluster.
package monitoring
