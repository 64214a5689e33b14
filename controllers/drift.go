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
