package controllers

import (
	"cmp"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// defaultDriftCheckInterval is how often each Associate's provisioned objects are checked
// against the API server: provisioned kinds are not watched, so an object deleted or
// edited by hand is repaired at the next check.
const defaultDriftCheckInterval = time.Hour

// driftCheckAfter schedules the next drift check of an Associate that provisioned
// objects; the jitter (up to a tenth) spreads Associates reconciled together.
func (r *AssociateReconciler) driftCheckAfter(assoc *superofficev1alpha1.Associate) ctrl.Result {
	if len(assoc.Status.Provisioned) == 0 {
		return ctrl.Result{}
	}
	interval := r.driftInterval()
	return ctrl.Result{RequeueAfter: interval + rand.N(interval/10+1)}
}

// driftInterval is the configured interval, the default when none is.
func (r *AssociateReconciler) driftInterval() time.Duration {
	return cmp.Or(r.driftCheckInterval, defaultDriftCheckInterval)
}

// contains tells whether live holds every field of desired with the same value. Lists
// match when each desired item is contained in some live item (others' ownerReferences,
// server defaults); numbers compare by value (templates decode to float64, the API server
// to int64); a zero value matches a missing field (the server omits empty fields).
func contains(live, desired any) bool {
	switch want := desired.(type) {
	case map[string]any:
		got, _ := live.(map[string]any)
		for key, value := range want {
			if !contains(got[key], value) {
				return false
			}
		}
		return true
	case []any:
		got, _ := live.([]any)
		for _, item := range want {
			found := false
			for _, candidate := range got {
				if contains(candidate, item) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	case nil:
		return true
	}
	if live == nil {
		return isZero(desired)
	}
	if a, ok := asFloat(desired); ok {
		b, ok := asFloat(live)
		return ok && a == b
	}
	return live == desired
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func isZero(v any) bool {
	switch z := v.(type) {
	case string:
		return z == ""
	case bool:
		return !z
	}
	n, ok := asFloat(v)
	return ok && n == 0
}

// appliedMemory remembers, per Associate and object, the hash of what was last applied
// and when it was last known to be in place.
type appliedMemory struct {
	mu          sync.Mutex
	byAssociate map[types.UID]map[string]appliedRecord
}

type appliedRecord struct {
	hash string
	at   time.Time
}

// appliedState is what the memory knows of one rendered object.
type appliedState int

const (
	// notApplied: never applied by this process, or applied with other content.
	notApplied appliedState = iota
	// appliedRecently: the same content is in place; nothing to do.
	appliedRecently
	// appliedLongAgo: the same content, last seen in place before the drift check interval.
	appliedLongAgo
)

func newAppliedMemory() *appliedMemory {
	return &appliedMemory{byAssociate: map[types.UID]map[string]appliedRecord{}}
}

func (m *appliedMemory) lookup(uid types.UID, key, hash string, driftCheckInterval time.Duration) appliedState {
	m.mu.Lock()
	defer m.mu.Unlock()
	record, ok := m.byAssociate[uid][key]
	switch {
	case !ok || record.hash != hash:
		return notApplied
	case time.Since(record.at) < driftCheckInterval:
		return appliedRecently
	default:
		return appliedLongAgo
	}
}

// remember records that the object with this hash is in place now.
func (m *appliedMemory) remember(uid types.UID, key, hash string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byAssociate[uid] == nil {
		m.byAssociate[uid] = map[string]appliedRecord{}
	}
	m.byAssociate[uid][key] = appliedRecord{hash: hash, at: time.Now()}
}

func (m *appliedMemory) forget(uid types.UID, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byAssociate[uid], key)
}

func (m *appliedMemory) forgetAssociate(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byAssociate, uid)
}
