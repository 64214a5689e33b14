package controllers

import (
	"hash/fnv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// resyncFailureRetry is the longest wait before a failed resync is tried again.
const resyncFailureRetry = 5 * time.Minute

// Whether a resync is due follows from the receiver alone, so that a restart or a new
// leader needs no special case: lastResync (when the last attempt began, what it came to,
// the resync-requested-at value it answered), and the generation its Synced condition was
// written for.

// resyncPlan is what a receiver's status says about its next resync.
type resyncPlan struct {
	// due: a resync runs now.
	due bool
	// requested: a new resync-requested-at value asks for it (it also reactivates a
	// webhook SuperOffice stopped).
	requested bool
	// after is how long until the periodic resync after the last one; zero when none is
	// scheduled.
	after time.Duration
}

// planResync decides from status: a receiver that never resynced, whose spec changed
// since (Synced's observedGeneration), or with a new resync-requested-at resyncs now;
// otherwise when the interval (5 minutes at most after a failure, with up to a tenth of
// jitter) since the last attempt has passed.
func planResync(receiver *superofficev1alpha1.WebhookReceiver, now time.Time) resyncPlan {
	last := receiver.Status.LastResync
	annotation := receiver.Annotations[superofficev1alpha1.AnnotationResyncRequestedAt]
	answered := ""
	if last != nil {
		answered = last.RequestedAt
	}
	plan := resyncPlan{requested: annotation != "" && annotation != answered}
	synced := meta.FindStatusCondition(receiver.Status.Conditions, superofficev1alpha1.ConditionSynced)
	specChanged := synced == nil || synced.ObservedGeneration != receiver.Generation
	if last == nil || plan.requested || specChanged {
		plan.due = true
		return plan
	}
	next, ok := nextResync(receiver, last)
	if !ok {
		return plan
	}
	plan.due = !now.Before(next)
	if !plan.due {
		plan.after = next.Sub(now)
	}
	return plan
}

// nextResync is when the periodic resync after last is due; false when resync is off.
func nextResync(receiver *superofficev1alpha1.WebhookReceiver, last *superofficev1alpha1.ResyncStatus) (time.Time, bool) {
	interval := resyncInterval(receiver)
	if interval <= 0 {
		return time.Time{}, false
	}
	if last.Result == superofficev1alpha1.ResyncFailed {
		interval = min(interval, resyncFailureRetry)
	}
	return last.Time.Add(interval + resyncJitter(receiver.UID, interval)), true
}

// resyncJitter spreads receivers created together over a tenth of the interval, the same
// for a receiver on every replica and after every restart.
func resyncJitter(uid types.UID, interval time.Duration) time.Duration {
	h := fnv.New32a()
	_, _ = h.Write([]byte(uid))
	return time.Duration(uint64(h.Sum32()) % uint64(interval/10+1))
}
