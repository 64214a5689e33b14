package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

const (
	defaultMaxDeletePercent = 10
	defaultResyncInterval   = time.Hour
	// resyncMaxReportedFailures bounds the errors quoted in the Synced message.
	resyncMaxReportedFailures = 3
	// resyncWorkers is how many listed rows a pass mirrors at once.
	resyncWorkers = 8
)

// associateSource is the part of the SuperOffice client a resync uses.
type associateSource interface {
	ListAssociates(ctx context.Context) ([]superoffice.AssociateRow, error)
	GetAssociate(ctx context.Context, associateID int64) (superoffice.Associate, error)
}

// applier is the one path that writes Associates (mirror.Mirror), and its ownership rule.
type applier interface {
	Apply(ctx context.Context, obs mirror.Observation) (mirror.Outcome, error)
	OwnedByAnother(ctx context.Context, a *superofficev1alpha1.Associate, receiver types.NamespacedName) (bool, error)
}

// resyncer lists a tenant's associates and mirrors them into the receiver's namespace.
type resyncer struct {
	reader client.Reader // the manager's cache
	mirror applier
	now    func() time.Time
}

// resyncReport is one attempt's outcome: the lastResync to record and, when it did not
// succeed, the reason and message for the Synced condition.
type resyncReport struct {
	status  superofficev1alpha1.ResyncStatus
	reason  string
	message string
}

func (rep *resyncReport) changed() bool {
	return rep.status.Created+rep.status.Updated+rep.status.Deleted > 0
}

// resync runs one pass. Every write goes through the mirror as an observation timestamped
// when the listing began, so a delivery newer than the listing wins and a deletion the
// listing did not see is not undone.
func (r *resyncer) resync(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, so associateSource) resyncReport {
	start := r.now().UTC()
	rep := resyncReport{status: superofficev1alpha1.ResyncStatus{Time: metav1.NewTime(start), Result: superofficev1alpha1.ResyncFailed}}
	rows, err := so.ListAssociates(ctx)
	if err != nil {
		rep.reason, rep.message = superofficev1alpha1.ReasonResyncFailed, fmt.Sprintf("listing the associates failed, nothing was changed: %v", err)
		return rep
	}
	rep.status.Listed = int32(len(rows))

	// A receiver whose target namespace does not allow it writes nothing there.
	if allowed, message, err := targetAllowed(ctx, r.reader, receiver); err != nil || !allowed {
		rep.reason, rep.message = superofficev1alpha1.ReasonTargetNamespaceNotAllowed, message+"; nothing was changed"
		if err != nil {
			rep.reason, rep.message = superofficev1alpha1.ReasonResyncFailed, fmt.Sprintf("reading the target namespace failed, nothing was changed: %v", err)
		}
		return rep
	}
	namespace := receiver.TargetNamespace()
	existing, owned, err := r.associates(ctx, receiver, namespace)
	if err != nil {
		rep.reason, rep.message = superofficev1alpha1.ReasonResyncFailed, fmt.Sprintf("listing the receiver's Associates failed: %v", err)
		return rep
	}
	pass := resyncPass{receiver: receiver, namespace: namespace, start: start, mirror: r.mirror, report: &rep}
	listed := make(map[string]bool, len(rows))
	// Each row is one associate, independent of the others: they are mirrored
	// resyncWorkers at a time (one at a time, a tenant of 50,000 took many minutes).
	type work struct {
		row      superoffice.AssociateRow
		existing *superofficev1alpha1.Associate
	}
	queue := make(chan work)
	var workers sync.WaitGroup
	for range resyncWorkers {
		workers.Go(func() {
			for w := range queue {
				pass.mirrorRow(ctx, so, w.row, w.existing)
			}
		})
	}
	for _, row := range rows {
		name, err := superofficev1alpha1.AssociateName(receiver.Spec.Tenant, row.AssociateID)
		if err != nil {
			pass.fail(fmt.Errorf("associate %d: %w", row.AssociateID, err))
			continue
		}
		listed[name] = true
		queue <- work{row, existing[name]}
	}
	close(queue)
	workers.Wait()
	if len(pass.failures) > 0 {
		rep.reason, rep.message = superofficev1alpha1.ReasonResyncFailed, pass.failureMessage("nothing was deleted")
		return rep
	}

	var vanished []*superofficev1alpha1.Associate
	for _, a := range owned {
		if !listed[a.Name] {
			vanished = append(vanished, a)
		}
	}
	maxPercent := maxDeletePercent(receiver)
	if len(vanished) > 0 && len(vanished)*100 > int(maxPercent)*len(owned) {
		rep.status.Result = superofficev1alpha1.ResyncMassDeletionRefused
		rep.reason = superofficev1alpha1.ReasonMassDeletionRefused
		rep.message = fmt.Sprintf("SuperOffice no longer lists %d of the receiver's %d Associates (%d%%), more than maxDeletePercent %d%%: nothing was deleted. "+
			"Raise spec.api.maxDeletePercent for one resync, or delete them by hand", len(vanished), len(owned), len(vanished)*100/len(owned), maxPercent)
		return rep
	}
	for _, a := range pass.confirmVanished(ctx, so, vanished) {
		pass.delete(ctx, a)
	}
	if len(pass.failures) > 0 {
		rep.reason, rep.message = superofficev1alpha1.ReasonResyncFailed, pass.failureMessage("the other deletions were made")
		return rep
	}
	rep.status.Result = superofficev1alpha1.ResyncSucceeded
	rep.reason = superofficev1alpha1.ReasonSynced
	rep.message = fmt.Sprintf("SuperOffice listed %d associates: %d created, %d updated, %d deleted, %d unchanged",
		rep.status.Listed, rep.status.Created, rep.status.Updated, rep.status.Deleted, rep.status.Unchanged)
	if pass.foreign > 0 {
		rep.message += fmt.Sprintf("; %d left alone: their Associates belong to another receiver", pass.foreign)
	}
	if pass.stillExist > 0 {
		rep.message += fmt.Sprintf("; %d not listed but still in SuperOffice (GetAssociate): kept", pass.stillExist)
	}
	return rep
}

// associates returns the Associates of the target namespace by name, and those that the
// receiver owns (its receiver labels, its tenant, not being deleted): the candidates for
// deletion. Another receiver's Associates, a same-named receiver's of another namespace
// included, are never among them.
func (r *resyncer) associates(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, namespace string) (map[string]*superofficev1alpha1.Associate, []*superofficev1alpha1.Associate, error) {
	var list superofficev1alpha1.AssociateList
	if err := r.reader.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, nil, err
	}
	byName := make(map[string]*superofficev1alpha1.Associate, len(list.Items))
	var owned []*superofficev1alpha1.Associate
	slug := superofficev1alpha1.TenantSlug(receiver.Spec.Tenant)
	self := client.ObjectKeyFromObject(receiver)
	for i := range list.Items {
		a := &list.Items[i]
		byName[a.Name] = a
		if owner, ok := a.OwningReceiver(); ok && owner == self &&
			superofficev1alpha1.TenantSlug(a.Spec.Tenant) == slug && a.DeletionTimestamp == nil {
			owned = append(owned, a)
		}
	}
	return byName, owned, nil
}

// resyncPass is the state of one attempt's writes; mu guards the counts and failures,
// which the workers that mirror rows update.
type resyncPass struct {
	mu        sync.Mutex
	receiver  *superofficev1alpha1.WebhookReceiver
	namespace string
	start     time.Time
	mirror    applier
	report    *resyncReport
	failures  []error
	// foreign counts listed associates whose Associates another receiver owns.
	foreign int32
	// stillExist counts Associates the listing lacked that GetAssociate still found.
	stillExist int
}

func (p *resyncPass) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures = append(p.failures, err)
}

// count adds one to a counter of the report or the pass.
func (p *resyncPass) count(counter *int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*counter++
}

func (p *resyncPass) failureMessage(consequence string) string {
	msg := fmt.Sprintf("%d of the writes failed, %s", len(p.failures), consequence)
	for i, err := range p.failures {
		if i == resyncMaxReportedFailures {
			msg += "; ..."
			break
		}
		msg += "; " + err.Error()
	}
	return msg
}

func (p *resyncPass) observation(event string, associateID int64, fields *mirror.Fields) mirror.Observation {
	return mirror.Observation{
		Receiver:    client.ObjectKeyFromObject(p.receiver),
		Namespace:   p.namespace,
		Tenant:      p.receiver.Spec.Tenant,
		AssociateID: associateID,
		EventID:     fmt.Sprintf("resync:%s:%d:%d", p.receiver.UID, p.start.UnixNano(), associateID),
		Event:       event,
		Timestamp:   p.start,
		Fields:      fields,
	}
}

// mirrorRow creates a missing Associate or corrects a drifted one; a matching one is not
// written at all, so a resync of an unchanged tenant makes no API writes.
func (p *resyncPass) mirrorRow(ctx context.Context, so associateSource, row superoffice.AssociateRow, existing *superofficev1alpha1.Associate) {
	fields := apiclient.RowFields(row)
	if needsRecord(row, existing) {
		record, err := so.GetAssociate(ctx, row.AssociateID)
		switch {
		case superoffice.IsNotFound(err):
			return // gone since the listing: the next resync deletes it
		case err != nil:
			p.fail(err)
			return
		}
		fields = apiclient.CompleteFields(fields, record)
	}
	event, counter := mirror.EventCreated, &p.report.status.Created
	if existing != nil {
		self := client.ObjectKeyFromObject(p.receiver)
		if owner, ok := existing.OwningReceiver(); !drifted(&existing.Spec, fields) && ok && owner == self {
			p.count(&p.report.status.Unchanged)
			return
		}
		// Not ours yet: written unless another receiver that still exists owns it.
		foreign, err := p.mirror.OwnedByAnother(ctx, existing, self)
		if err != nil {
			p.fail(fmt.Errorf("associate %d: %w", row.AssociateID, err))
			return
		}
		if foreign {
			p.count(&p.foreign)
			return
		}
		event, counter = mirror.EventChanged, &p.report.status.Updated
	}
	outcome, err := p.mirror.Apply(ctx, p.observation(event, row.AssociateID, &fields))
	switch {
	case errors.Is(err, mirror.ErrConflict):
		p.count(&p.foreign) // owned by another receiver since the cache was read
	case err != nil:
		p.fail(fmt.Errorf("associate %d: %w", row.AssociateID, err))
	case outcome.Result == mirror.Applied:
		p.count(counter)
	default: // a newer delivery or deletion already decided this associate
		p.count(&p.report.status.Unchanged)
	}
}

// confirmVanished returns the vanished Associates that GetAssociate answers do not
// exist. A listing paged with $skip misses live rows when a lower id is deleted between
// two pages, and deleting a live user's Associate deprovisions them; any answer other than
// "not found" keeps the Associate, and an error fails the pass for that one only.
func (p *resyncPass) confirmVanished(ctx context.Context, so associateSource, vanished []*superofficev1alpha1.Associate) []*superofficev1alpha1.Associate {
	var gone []*superofficev1alpha1.Associate
	for _, a := range vanished {
		_, err := so.GetAssociate(ctx, a.Spec.AssociateID)
		switch {
		case superoffice.IsNotFound(err):
			gone = append(gone, a)
		case err != nil:
			p.fail(fmt.Errorf("confirming that associate %d is gone: %w", a.Spec.AssociateID, err))
		default:
			p.stillExist++
			p.report.status.Unchanged++
		}
	}
	return gone
}

func (p *resyncPass) delete(ctx context.Context, a *superofficev1alpha1.Associate) {
	outcome, err := p.mirror.Apply(ctx, p.observation(mirror.EventDeleted, a.Spec.AssociateID, nil))
	switch {
	case err != nil:
		p.fail(fmt.Errorf("deleting associate %d: %w", a.Spec.AssociateID, err))
	case outcome.Result == mirror.Applied:
		p.report.status.Deleted++
	default: // created by a delivery newer than the listing: kept
		p.report.status.Unchanged++
	}
}

// needsRecord: the listing lacks a column that the Associate does not have yet either
// (a new Associate, or one never given a type). A column the Associate has is kept.
func needsRecord(row superoffice.AssociateRow, existing *superofficev1alpha1.Associate) bool {
	if row.HasType && row.HasActive {
		return false
	}
	return existing == nil || (!row.HasType && existing.Spec.TypeCode == nil)
}

// drifted reports whether a carried field differs from the Associate's spec.
func drifted(spec *superofficev1alpha1.AssociateSpec, f mirror.Fields) bool {
	switch {
	case f.PersonID != nil && *f.PersonID != spec.PersonID,
		f.GroupIdx != nil && *f.GroupIdx != spec.GroupIdx,
		f.TypeCode != nil && (spec.TypeCode == nil || *f.TypeCode != *spec.TypeCode),
		f.Retired != nil && *f.Retired != spec.Retired:
		return true
	}
	return false
}

func maxDeletePercent(receiver *superofficev1alpha1.WebhookReceiver) int32 {
	if api := receiver.Spec.API; api != nil && api.MaxDeletePercent != nil {
		return *api.MaxDeletePercent
	}
	return defaultMaxDeletePercent
}

// resyncInterval is spec.api.resyncInterval (default 1h); 0 turns the periodic resync off.
func resyncInterval(receiver *superofficev1alpha1.WebhookReceiver) time.Duration {
	if api := receiver.Spec.API; api != nil && api.ResyncInterval != nil {
		return max(api.ResyncInterval.Duration, 0)
	}
	return defaultResyncInterval
}
