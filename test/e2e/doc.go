// Package e2e installs the Helm chart on a local control plane, runs the manager as the
// chart's ServiceAccount, and drives it with signed SuperOffice deliveries: the proof that
// the chart, its RBAC and the operator work together. Everything is in the _test files;
// `make test` runs it with HELM and KUBEBUILDER_ASSETS set.
package e2e
