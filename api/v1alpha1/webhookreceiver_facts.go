package v1alpha1

import (
	"strings"
)

// TargetNamespace is where the receiver's Associates live: spec.targetNamespace, else the
// receiver's own namespace.
func (r *WebhookReceiver) TargetNamespace() string {
	if r.Spec.TargetNamespace != "" {
		return r.Spec.TargetNamespace
	}
	return r.Namespace
}

// WebhookPath is the path the ingress serves the receiver at.
func (r *WebhookReceiver) WebhookPath() string {
	return "/webhooks/" + r.Namespace + "/" + r.Name
}

// TargetAllowed tells whether the receiver may write Associates into its target
// namespace, given that Namespace's annotations: its own namespace always; another only
// when AnnotationAllowedReceiverNamespaces lists the receiver's namespace or `*`.
func (r *WebhookReceiver) TargetAllowed(targetAnnotations map[string]string) bool {
	if r.TargetNamespace() == r.Namespace {
		return true
	}
	for entry := range strings.SplitSeq(targetAnnotations[AnnotationAllowedReceiverNamespaces], ",") {
		if entry = strings.TrimSpace(entry); entry == "*" || entry == r.Namespace {
			return true
		}
	}
	return false
}

// DefaultSigningKey is the key of spec.secretRef read when spec.secretRef.keys is empty.
const DefaultSigningKey = "secret"

// SigningKeys are the keys of spec.secretRef whose values are accepted signing secrets,
// defaulted to ["secret"]; the first present one is what registration gives SuperOffice.
func (r *WebhookReceiver) SigningKeys() []string {
	if len(r.Spec.SecretRef.Keys) == 0 {
		return []string{DefaultSigningKey}
	}
	return r.Spec.SecretRef.Keys
}
