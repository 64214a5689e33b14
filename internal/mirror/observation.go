// Package mirror is the one path that writes Associates: an observation of a SuperOffice
// associate (from a webhook delivery or a resync) goes in; the duplicate / stale /
// tombstone decision and one write with optimistic-concurrency preconditions come out.
//
// Only the last applied EventId is remembered (an annotation on the Associate; the
// tombstone keeps the deleting one). An older EventId sent again is answered by its
// Timestamp instead: stale when older than the last applied event, and applied again
// (the same values written once more) when it has the same Timestamp. No per-Associate
// history is kept: the cache holds every Associate, and bytes there cost on every replica.
//
// The protocol, for one associate whose events may reach several replicas at once:
//   - a create reads the tombstone live, creates, then reads the tombstone live again and
//     undoes its create (UID and resourceVersion preconditions) when a newer deletion
//     slipped in between; a delete writes the tombstone, then reads the Associate live and
//     deletes it with the same preconditions. Each writes before it reads, so one of two
//     racing deliveries sees the other.
//   - a create whose outcome is unknown (timeout, 5xx) still runs that check, and any later
//     event older than the tombstone finishes the deletion of an Associate older than it.
//   - an event for an Associate that is being deleted (its finalizer still deprovisions) is
//     stale when it is not newer than the tombstone; a newer one is deferred: written
//     (merged, only the newest kept, with the columns of older ones it does not carry) to
//     the ConfigMap DeferredName beside the tombstone, live-read and resourceVersion-
//     checked like the tombstone, naming the terminating Associate's UID. The
//     DeferredApplier (on the leader) reconciles that ConfigMap when it is written and
//     when an Associate is deleted, reads the Associate live, and once no Associate of
//     that UID exists applies the event through Apply, so every rule above still decides
//     it (a deletion written meanwhile makes it stale), then deletes the ConfigMap with a
//     resourceVersion precondition. The write happens before the applier's read, so an
//     Associate that vanished before the event was stored is still caught. This replaces
//     the 503 such events got before: a deprovision that keeps failing made every later
//     event for that person a 503 until SuperOffice stopped the webhook.
package mirror

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// The associate events that Apply understands.
const (
	EventCreated = "associate.created"
	EventChanged = "associate.changed"
	EventDeleted = "associate.deleted"
)

// Result is what Apply did with an observation.
type Result string

const (
	// Applied: the Associate was created, updated or deleted, and the API server has it.
	Applied Result = "applied"
	// Duplicate: the same EventId was already applied.
	Duplicate Result = "duplicate"
	// Stale: older than what was applied for that associate, or than its deletion.
	Stale Result = "stale"
	// Deferred: newer than the deletion of an Associate that is still being deleted; kept
	// in the API server and applied once it is gone.
	Deferred Result = "deferred"
)

// Fields are the associate's columns that an event carries; nil means not carried, and
// a field not carried keeps the Associate's current value.
type Fields struct {
	PersonID              *int64
	GroupIdx              *int32
	TypeCode              *int32
	Retired               *bool
	WaitingForApproval    *bool
	RegisteredAssociateID *int64
	UpdatedAssociateID    *int64
	Updated               *string
}

// Observation is one fact about one associate of one tenant.
type Observation struct {
	// Receiver is the WebhookReceiver it came through; its name and namespace label the
	// Associate, and an Associate another existing receiver labels is not changed (ErrConflict).
	Receiver types.NamespacedName
	// Namespace is where the Associate lives.
	Namespace string
	// Tenant is the ContextIdentifier as sent (the receiver's tenant or Default when absent).
	Tenant string
	// AssociateID is SuperOffice's associate_id (the event's PrimaryKey).
	AssociateID int64
	// EventID identifies the event; applying the same EventID twice is a duplicate.
	EventID string
	// Event is associate.created, associate.changed or associate.deleted.
	Event string
	// Timestamp orders the events of one associate.
	Timestamp time.Time
	// ChangedBy is the associate who made the change (ChangedByAssociateId).
	ChangedBy int64
	// Fields are the carried columns; nil when the event carries none.
	Fields *Fields
}

// Outcome is the result of Apply and the Associate it concerns ("namespace/name").
type Outcome struct {
	Result    Result
	Associate string
}
