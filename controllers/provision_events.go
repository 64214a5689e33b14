package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// A policy provisioning an Associate for the first time is routine: a resync of 50,000
// associates would otherwise write 50,000 Events that nobody reads. Those are counted per
// policy and summed up in one Event on the policy per interval; failures, deprovisions and
// changes to what an Associate already had keep their own Event on the Associate.

// defaultProvisionSummaryInterval is how often the per-policy summaries are emitted.
const defaultProvisionSummaryInterval = 30 * time.Second

// provisionSummarySample is how many Associates a summary names.
const provisionSummarySample = 5

// provisionSummaries batches first provisions per policy.
type provisionSummaries struct {
	recorder recorder.EventRecorder
	interval time.Duration

	mu      sync.Mutex
	pending map[policyID]*provisionSummary
}

type provisionSummary struct {
	object client.Object
	// first is the batch's first Associate, the Event's related object: the events API
	// folds Events of one object, reason and related object into a series, notes aside,
	// and each batch's summary must stay an Event of its own.
	first      client.Object
	count      int
	associates []string
}

var (
	_ manager.Runnable               = (*provisionSummaries)(nil)
	_ manager.LeaderElectionRunnable = (*provisionSummaries)(nil)
)

func newProvisionSummaries(rec recorder.EventRecorder, interval time.Duration) *provisionSummaries {
	if interval <= 0 {
		interval = defaultProvisionSummaryInterval
	}
	return &provisionSummaries{recorder: rec, interval: interval, pending: map[policyID]*provisionSummary{}}
}

// add counts the first provision of an Associate by a policy.
func (s *provisionSummaries) add(p *policy, assoc *superofficev1alpha1.Associate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	summary := s.pending[p.id]
	if summary == nil {
		first := &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: assoc.Namespace, Name: assoc.Name, UID: assoc.UID}}
		summary = &provisionSummary{object: p.object, first: first}
		s.pending[p.id] = summary
	}
	summary.object = p.object
	summary.count++
	if len(summary.associates) < provisionSummarySample {
		summary.associates = append(summary.associates, assoc.Namespace+"/"+assoc.Name)
	}
}

// NeedLeaderElection: the reconcilers that feed it run on the leader.
func (s *provisionSummaries) NeedLeaderElection() bool { return true }

// Start emits the summaries every interval, and what is left when ctx ends.
func (s *provisionSummaries) Start(ctx context.Context) error {
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush()
			return nil
		case <-ticker.C:
			s.flush()
		}
	}
}

func (s *provisionSummaries) flush() {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[policyID]*provisionSummary{}
	s.mu.Unlock()
	ids := make([]policyID, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b policyID) int { return strings.Compare(a.String(), b.String()) })
	for _, id := range ids {
		summary := pending[id]
		names := strings.Join(summary.associates, ", ")
		if more := summary.count - len(summary.associates); more > 0 {
			names += fmt.Sprintf(" and %d more", more)
		}
		s.recorder.Eventf(summary.object, summary.first, corev1.EventTypeNormal, superofficev1alpha1.ReasonProvisioned, "Provision",
			"Provisioned %d Associates for the first time: %s", summary.count, names)
	}
}
