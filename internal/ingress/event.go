package ingress

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/assocsync/associate-operator/internal/lenient"
	"github.com/assocsync/associate-operator/internal/mirror"
)

// Event is a SuperOffice webhook payload. Numbers are read leniently (numbers or numeric
// strings, 0/1 for booleans) because SuperOffice's examples are not consistent.
type Event struct {
	EventID              string       `json:"EventId"`
	Timestamp            string       `json:"Timestamp"`
	Event                string       `json:"Event"`
	Entity               string       `json:"Entity"`
	PrimaryKey           *flexInt     `json:"PrimaryKey"`
	ContextIdentifier    string       `json:"ContextIdentifier"`
	ChangedByAssociateID flexInt      `json:"ChangedByAssociateId"`
	FieldValues          *FieldValues `json:"FieldValues"`
	Values               *Values      `json:"Values"`

	// at is Timestamp parsed.
	at time.Time
}

// FieldValues are the non-sensitive columns of the associate row; each is optional.
type FieldValues struct {
	Deleted               *flexBool `json:"deleted"`
	GroupIdx              *flexInt  `json:"group_idx"`
	PersonID              *flexInt  `json:"person_id"`
	RegisteredAssociateID *flexInt  `json:"registered_associate_id"`
	Type                  *flexInt  `json:"type"`
	Updated               *string   `json:"updated"`
	UpdatedAssociateID    *flexInt  `json:"updated_associate_id"`
	WaitingForApproval    *flexBool `json:"waiting_for_approval"`
}

// Values is what associate.deleted carries instead of FieldValues.
type Values struct {
	AssociateID *flexInt `json:"associate_id"`
	PersonID    *flexInt `json:"person_id"`
}

// timestampLayouts: SuperOffice sends UTC with 7 fractional digits and a Z; the zone-less
// form is read as UTC.
var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}

// decodeEvent parses a body and checks the fields every event needs. encoding/json
// matches keys case-insensitively and lets the last of repeated keys win; verify and
// decode together take about 10 µs (make bench), against a millisecond for the API write.
func decodeEvent(body []byte) (*Event, error) {
	ev := new(Event)
	if err := json.Unmarshal(body, ev); err != nil {
		return nil, fmt.Errorf("body is not a SuperOffice event: %w", err)
	}
	var missing []string
	if ev.EventID == "" {
		missing = append(missing, "EventId")
	}
	if ev.Event == "" {
		missing = append(missing, "Event")
	}
	if ev.Timestamp == "" {
		missing = append(missing, "Timestamp")
	}
	if ev.isAssociate() && ev.PrimaryKey == nil {
		missing = append(missing, "PrimaryKey")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("event lacks required field(s) %s", strings.Join(missing, ", "))
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, ev.Timestamp); err == nil {
			ev.at = t
			break
		}
	}
	if ev.at.IsZero() {
		return nil, fmt.Errorf("field Timestamp: %q is not an RFC 3339 time", ev.Timestamp)
	}
	if len(ev.EventID) > mirror.MaxEventIDLength {
		return nil, fmt.Errorf("EventId is %d characters, at most %d are accepted", len(ev.EventID), mirror.MaxEventIDLength)
	}
	if fv := ev.FieldValues; fv != nil {
		// Columns stored as 32-bit integers would otherwise wrap (type 4294967296 -> Employee).
		if err := fitsInt32("group_idx", fv.GroupIdx); err != nil {
			return nil, err
		}
		if err := fitsInt32("type", fv.Type); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

func fitsInt32(column string, n *flexInt) error {
	if n != nil && (*n < math.MinInt32 || *n > math.MaxInt32) {
		return fmt.Errorf("FieldValues.%s %d does not fit in 32 bits", column, int64(*n))
	}
	return nil
}

// isTest: the test event is the one with Event "test" (SPEC); its Entity says nothing more.
func (ev *Event) isTest() bool {
	return ev.Event == "test"
}

// isAssociate: an event of the associate entity (whether or not Apply handles it).
func (ev *Event) isAssociate() bool {
	return strings.HasPrefix(ev.Event, "associate.")
}

// applicable: an associate event that mirror.Apply handles.
func (ev *Event) applicable() bool {
	switch ev.Event {
	case mirror.EventCreated, mirror.EventChanged, mirror.EventDeleted:
		return true
	}
	return false
}

// fields converts FieldValues; nil when the event carries none. The Fields and the values
// its pointers point to are one allocation.
func (ev *Event) fields() *mirror.Fields {
	fv := ev.FieldValues
	if fv == nil {
		return nil
	}
	var v struct {
		f                                 mirror.Fields
		personID, registeredBy, updatedBy int64
		groupIdx, typeCode                int32
		retired, waitingForApproval       bool
	}
	p := &v
	p.f = mirror.Fields{
		PersonID:              fv.PersonID.int64(&p.personID),
		GroupIdx:              fv.GroupIdx.int32(&p.groupIdx),
		TypeCode:              fv.Type.int32(&p.typeCode),
		Retired:               fv.Deleted.bool(&p.retired),
		WaitingForApproval:    fv.WaitingForApproval.bool(&p.waitingForApproval),
		RegisteredAssociateID: fv.RegisteredAssociateID.int64(&p.registeredBy),
		UpdatedAssociateID:    fv.UpdatedAssociateID.int64(&p.updatedBy),
		Updated:               fv.Updated,
	}
	return &p.f
}

// flexInt is an integer sent as a JSON number or a numeric string.
type flexInt int64

func (n *flexInt) UnmarshalJSON(data []byte) error {
	v, _, err := lenient.Int(data)
	*n = flexInt(v)
	return err
}

// int64 stores n in to and returns to; nil when n is nil.
func (n *flexInt) int64(to *int64) *int64 {
	if n == nil {
		return nil
	}
	*to = int64(*n)
	return to
}

// int32 stores n in to and returns to; nil when n is nil.
func (n *flexInt) int32(to *int32) *int32 {
	if n == nil {
		return nil
	}
	*to = int32(*n)
	return to
}

// flexBool is a boolean sent as true/false, 0/1 or their string forms.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	v, _, err := lenient.Bool(data)
	*b = flexBool(v)
	return err
}

// bool stores b in to and returns to; nil when b is nil.
func (b *flexBool) bool(to *bool) *bool {
	if b == nil {
		return nil
	}
	*to = bool(*b)
	return to
}
