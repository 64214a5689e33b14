package secrets

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// KeysError says why a receiver has no signing keys, in the words of its Ready (and
// Registered) condition: Reason is ReasonSecretNotFound or ReasonNoKeysFound.
type KeysError struct {
	Reason  string
	Message string
}

func (e *KeysError) Error() string { return e.Message }

// SigningKeys reads a receiver's Secret and returns the values of its signing keys that
// the Secret holds, in the order of spec.secretRef.keys. The ingress, the Ready controller
// and registration all ask it, so that they agree and word a refusal alike: a *KeysError
// when the Secret or every key is missing, another error when the read failed.
func SigningKeys(ctx context.Context, reader Reader, receiver *superofficev1alpha1.WebhookReceiver) ([][]byte, error) {
	name := receiver.Spec.SecretRef.Name
	secret, err := reader.Get(ctx, receiver.Namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		return nil, &KeysError{Reason: superofficev1alpha1.ReasonSecretNotFound,
			Message: fmt.Sprintf("Secret %s not found in namespace %s", name, receiver.Namespace)}
	case err != nil:
		return nil, fmt.Errorf("reading Secret %s/%s: %w", receiver.Namespace, name, err)
	}
	var keys [][]byte
	for _, key := range receiver.SigningKeys() {
		if value := secret.Data[key]; len(value) > 0 {
			keys = append(keys, value)
		}
	}
	if len(keys) == 0 {
		return nil, &KeysError{Reason: superofficev1alpha1.ReasonNoKeysFound,
			Message: fmt.Sprintf("Secret %s has none of the keys %v", name, receiver.SigningKeys())}
	}
	return keys, nil
}
