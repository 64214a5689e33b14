package mirror

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxEventIDLength bounds an EventId: SuperOffice sends GUIDs (36 characters), and the id
// is kept in an annotation, whose total size the API server caps at 256 KiB.
const MaxEventIDLength = 256

// Limits of the Associate's schema (api/v1alpha1/associate_types.go).
const (
	maxTenantLength  = 253
	maxUpdatedLength = 64
)

// validate refuses, as ErrInvalid, what the API server would refuse with 422: a retry can
// never store it, so the sender must hear 400 rather than 503 forever.
func validate(obs Observation) error {
	if len(obs.EventID) > MaxEventIDLength {
		return fmt.Errorf("%w: EventId is %d characters, at most %d are accepted", ErrInvalid, len(obs.EventID), MaxEventIDLength)
	}
	if len(obs.Tenant) > maxTenantLength {
		return fmt.Errorf("%w: tenant is %d characters, at most %d are accepted", ErrInvalid, len(obs.Tenant), maxTenantLength)
	}
	if msgs := validation.IsValidLabelValue(obs.Receiver.Name); obs.Receiver.Name != "" && len(msgs) > 0 {
		return fmt.Errorf("%w: receiver name %q cannot label an Associate: %s", ErrInvalid, obs.Receiver.Name, msgs[0])
	}
	f := obs.Fields
	if f == nil {
		return nil
	}
	for _, n := range []struct {
		name  string
		value *int64
	}{{"person_id", f.PersonID}, {"registered_associate_id", f.RegisteredAssociateID}, {"updated_associate_id", f.UpdatedAssociateID}} {
		if n.value != nil && *n.value < 0 {
			return fmt.Errorf("%w: %s must be at least 0, got %d", ErrInvalid, n.name, *n.value)
		}
	}
	if f.GroupIdx != nil && *f.GroupIdx < 0 {
		return fmt.Errorf("%w: group_idx must be at least 0, got %d", ErrInvalid, *f.GroupIdx)
	}
	if f.Updated != nil && len(*f.Updated) > maxUpdatedLength {
		return fmt.Errorf("%w: updated is %d characters, at most %d are accepted", ErrInvalid, len(*f.Updated), maxUpdatedLength)
	}
	return nil
}

// refusedAsInvalid turns the API server's 422 or 400 into ErrInvalid: what validate does not
// foresee is still no reason to have the sender retry forever.
func refusedAsInvalid(err error) error {
	if err != nil && !errors.Is(err, ErrInvalid) && (apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)) {
		return fmt.Errorf("%w: the API server refused it: %w", ErrInvalid, err)
	}
	return err
}
