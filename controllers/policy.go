package controllers

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// One engine, two scopes: a ProvisioningPolicy and a ClusterProvisioningPolicy are both
// turned into a policy, which the Associate reconciler renders, checks against its scope,
// applies and releases alike. Only scope tells them apart (policy_scope.go).

// policyID names a policy: its kind, namespace (empty for a cluster policy) and name.
type policyID struct {
	kind      superofficev1alpha1.PolicyKind
	namespace string
	name      string
}

// String is the value of the AnnotationPolicy marker: `ProvisioningPolicy/<ns>/<name>`
// or `ClusterProvisioningPolicy/<name>`.
func (id policyID) String() string {
	if id.cluster() {
		return string(id.kind) + "/" + id.name
	}
	return string(id.kind) + "/" + id.namespace + "/" + id.name
}

func (id policyID) cluster() bool { return id.kind == superofficev1alpha1.PolicyKindCluster }

// metricLabel is the `policy` label of the metrics: `<namespace>/<name>`, or `<name>` for
// a cluster policy.
func (id policyID) metricLabel() string {
	if id.cluster() {
		return id.name
	}
	return id.namespace + "/" + id.name
}

// describe names the policy in messages and Events.
func (id policyID) describe() string {
	return string(id.kind) + " " + id.name
}

// statusKind is what status entries record as policyKind: absent for a ProvisioningPolicy,
// as the entries written before cluster policies existed.
func (id policyID) statusKind() superofficev1alpha1.PolicyKind {
	if id.cluster() {
		return id.kind
	}
	return ""
}

// entryPolicy is the policy a status entry of an Associate in namespace names.
func entryPolicy(kind superofficev1alpha1.PolicyKind, name, namespace string) policyID {
	if kind == superofficev1alpha1.PolicyKindCluster {
		return policyID{kind: kind, name: name}
	}
	return policyID{kind: superofficev1alpha1.PolicyKindNamespaced, namespace: namespace, name: name}
}

// secretKeyRef is a Secret key with its namespace resolved.
type secretKeyRef struct {
	namespace, name, key string
}

// headerFromSecret is one headersFrom entry with its namespace resolved.
type headerFromSecret struct {
	header string
	secret secretKeyRef
}

// httpAction is an HTTP action with its Secrets' namespaces resolved.
type httpAction struct {
	superofficev1alpha1.HTTPCall
	signing     *secretKeyRef
	headersFrom []headerFromSecret
}

// policy is what the engine knows of one policy of either kind.
type policy struct {
	id         policyID
	object     client.Object // for Events
	uid        types.UID
	generation int64
	spec       *superofficev1alpha1.PolicyTemplate
	http       []httpAction
	// namespaceSelector is a cluster policy's; nil for a ProvisioningPolicy.
	namespaceSelector *metav1.LabelSelector
}

func namespacedPolicy(p *superofficev1alpha1.ProvisioningPolicy) *policy {
	out := &policy{
		id:     policyID{kind: superofficev1alpha1.PolicyKindNamespaced, namespace: p.Namespace, name: p.Name},
		object: p, uid: p.UID, generation: p.Generation, spec: &p.Spec.PolicyTemplate,
	}
	for i := range p.Spec.HTTP {
		a := &p.Spec.HTTP[i]
		action := httpAction{HTTPCall: a.HTTPCall}
		if ref := a.SigningSecretRef; ref != nil {
			action.signing = &secretKeyRef{namespace: p.Namespace, name: ref.Name, key: ref.Key}
		}
		for _, h := range a.HeadersFrom {
			action.headersFrom = append(action.headersFrom, headerFromSecret{
				header: h.Name, secret: secretKeyRef{namespace: p.Namespace, name: h.SecretKeyRef.Name, key: h.SecretKeyRef.Key}})
		}
		out.http = append(out.http, action)
	}
	return out
}

func clusterPolicy(p *superofficev1alpha1.ClusterProvisioningPolicy) *policy {
	out := &policy{
		id:     policyID{kind: superofficev1alpha1.PolicyKindCluster, name: p.Name},
		object: p, uid: p.UID, generation: p.Generation, spec: &p.Spec.PolicyTemplate,
		namespaceSelector: p.Spec.NamespaceSelector,
	}
	for i := range p.Spec.HTTP {
		a := &p.Spec.HTTP[i]
		action := httpAction{HTTPCall: a.HTTPCall}
		if ref := a.SigningSecretRef; ref != nil {
			action.signing = &secretKeyRef{namespace: ref.Namespace, name: ref.Name, key: ref.Key}
		}
		for _, h := range a.HeadersFrom {
			action.headersFrom = append(action.headersFrom, headerFromSecret{
				header: h.Name, secret: secretKeyRef{namespace: h.SecretKeyRef.Namespace, name: h.SecretKeyRef.Name, key: h.SecretKeyRef.Key}})
		}
		out.http = append(out.http, action)
	}
	return out
}

// selectsNamespace tells whether a cluster policy's namespaceSelector selects a namespace
// with these labels; a ProvisioningPolicy selects its own namespace only.
func (p *policy) selectsNamespace(namespace string, namespaceLabels map[string]string) (bool, error) {
	if !p.id.cluster() {
		return namespace == p.id.namespace, nil
	}
	if p.namespaceSelector == nil {
		return true, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(p.namespaceSelector)
	if err != nil {
		return false, fmt.Errorf("%s: spec.namespaceSelector is not a valid label selector: %w", p.id.describe(), err)
	}
	return selector.Matches(labels.Set(namespaceLabels)), nil
}
