package apiclient

import (
	"context"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
)

// Enrich fetches an associate's record (GetAssociate) for a delivery that carries no
// FieldValues, so that the Associate it creates or touches is complete.
func (c *Cache) Enrich(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, associateID int64) (*mirror.Fields, error) {
	so, err := c.For(ctx, receiver)
	if err != nil {
		return nil, err
	}
	record, err := so.GetAssociate(ctx, associateID)
	if err != nil {
		return nil, err
	}
	f := RecordFields(record)
	return &f, nil
}
