package controllers

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

// defaultWebhookEvents are the events a registered webhook subscribes to by default.
var defaultWebhookEvents = []string{"associate.created", "associate.changed", "associate.deleted"}

// webhookAPI is the part of the SuperOffice client that registration uses.
type webhookAPI interface {
	FindWebhookByName(ctx context.Context, name string) (*superoffice.Webhook, error)
	CreateWebhook(ctx context.Context, w superoffice.Webhook) (superoffice.Webhook, error)
	UpdateWebhook(ctx context.Context, w superoffice.Webhook) (superoffice.Webhook, error)
	DeleteWebhook(ctx context.Context, id int64) error
	WebhookLastError(ctx context.Context, id int64) (string, error)
}

// registrationReport is the outcome of one registration pass.
type registrationReport struct {
	status    *superofficev1alpha1.RegistrationStatus
	condition metav1.ConditionStatus
	reason    string
	message   string
	// err is set when a retry may fix it (SuperOffice failed, the test event was refused).
	err error
	// saved is "created" or "updated" when the pass wrote the webhook.
	saved string
}

// webhookName is spec.registration.name, defaulted to <namespace>-<name>.
func webhookName(receiver *superofficev1alpha1.WebhookReceiver) string {
	if reg := receiver.Spec.Registration; reg != nil && reg.Name != "" {
		return reg.Name
	}
	return receiver.Namespace + "-" + receiver.Name
}

func registrationEnabled(receiver *superofficev1alpha1.WebhookReceiver) bool {
	return receiver.Spec.Registration != nil && receiver.Spec.Registration.Enabled && receiver.Spec.API != nil
}

// register creates or corrects the receiver's webhook so that its URL, events, Secret and
// state match. A webhook SuperOffice stopped (TooManyErrors) or someone stopped (Stopped)
// is reported with its last error and reactivated only when reactivate is set (a new
// resync-requested-at), so that a user sees why deliveries stopped before they resume.
func register(ctx context.Context, so webhookAPI, receiver *superofficev1alpha1.WebhookReceiver, secret string, reactivate bool) registrationReport {
	reg := receiver.Spec.Registration
	name := webhookName(receiver)
	events := reg.Events
	if len(events) == 0 {
		events = defaultWebhookEvents
	}
	failed := func(err error) registrationReport {
		return registrationReport{condition: metav1.ConditionFalse, reason: superofficev1alpha1.ReasonRegistrationFailed,
			message: fmt.Sprintf("keeping webhook %q failed: %v", name, err), err: err}
	}

	hook, err := so.FindWebhookByName(ctx, name)
	if err != nil {
		return failed(err)
	}
	rep := registrationReport{}
	if hook == nil {
		created, err := so.CreateWebhook(ctx, superoffice.Webhook{
			Name: name, Events: events, TargetURL: reg.TargetURL, Secret: secret,
			State: superoffice.WebhookStateActive, Type: "webhook",
		})
		if err != nil {
			return failed(err)
		}
		hook, rep.saved = &created, "created"
	} else {
		stopped := hook.State == superoffice.WebhookStateTooManyErrors || hook.State == superoffice.WebhookStateStopped
		desired := *hook
		desired.TargetURL, desired.Events, desired.Secret = reg.TargetURL, events, secret
		if !stopped || reactivate {
			desired.State = superoffice.WebhookStateActive
		}
		if webhookDrifted(hook, &desired) {
			updated, err := so.UpdateWebhook(ctx, desired)
			if err != nil {
				return failed(err)
			}
			hook, rep.saved = &updated, "updated"
		}
	}

	rep.status = &superofficev1alpha1.RegistrationStatus{WebhookID: int32(hook.WebhookID), State: hook.State}
	switch hook.State {
	case superoffice.WebhookStateTooManyErrors, superoffice.WebhookStateStopped:
		lastError, err := so.WebhookLastError(ctx, hook.WebhookID)
		if err != nil {
			lastError = fmt.Sprintf("(SuperOffice's last error could not be read: %v)", err)
		}
		rep.status.LastError = lastError
		rep.condition, rep.reason = metav1.ConditionFalse, superofficev1alpha1.ReasonWebhookTooManyErrors
		if hook.State == superoffice.WebhookStateStopped {
			rep.reason = superofficev1alpha1.ReasonWebhookStopped
		}
		rep.message = fmt.Sprintf("SuperOffice reports webhook %q (id %d) as %s; last error: %s. Fix the cause, then set annotation %s to a new value to reactivate it",
			name, hook.WebhookID, hook.State, lastError, superofficev1alpha1.AnnotationResyncRequestedAt)
	default:
		rep.condition, rep.reason = metav1.ConditionTrue, superofficev1alpha1.ReasonRegistered
		rep.message = fmt.Sprintf("webhook %q (id %d) delivers %v to %s", name, hook.WebhookID, events, reg.TargetURL)
	}
	return rep
}

// webhookDrifted compares what the operator keeps: URL, events (as a set), Secret, State.
func webhookDrifted(current, desired *superoffice.Webhook) bool {
	if current.TargetURL != desired.TargetURL || current.Secret != desired.Secret || current.State != desired.State {
		return true
	}
	a, b := slices.Clone(current.Events), slices.Clone(desired.Events)
	slices.Sort(a)
	slices.Sort(b)
	return !slices.Equal(slices.Compact(a), slices.Compact(b))
}

// unregister deletes the receiver's webhook; one already gone counts as deleted.
func unregister(ctx context.Context, so webhookAPI, receiver *superofficev1alpha1.WebhookReceiver) error {
	hook, err := so.FindWebhookByName(ctx, webhookName(receiver))
	if err != nil || hook == nil {
		return err
	}
	return so.DeleteWebhook(ctx, hook.WebhookID)
}
