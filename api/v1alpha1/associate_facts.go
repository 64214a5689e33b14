package v1alpha1

import (
	"k8s.io/apimachinery/pkg/types"
)

// OwningReceiver is the WebhookReceiver that writes the Associate, as its labels say:
// LabelReceiver in LabelReceiverNamespace, or, for an Associate written before that label
// existed, the receiver of that name in the Associate's own namespace. False for an
// Associate made by hand (no LabelReceiver): the first receiver that writes it adopts it.
func (a *Associate) OwningReceiver() (types.NamespacedName, bool) {
	name := a.Labels[LabelReceiver]
	if name == "" {
		return types.NamespacedName{}, false
	}
	namespace := a.Labels[LabelReceiverNamespace]
	if namespace == "" {
		namespace = a.Namespace
	}
	return types.NamespacedName{Namespace: namespace, Name: name}, true
}
