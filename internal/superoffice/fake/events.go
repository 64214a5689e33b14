package fake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

const (
	// timeLayout is how SuperOffice writes local times: 7 fractional digits and an offset.
	timeLayout = "2006-01-02T15:04:05.0000000-07:00"
	// eventTimeLayout is the payload's Timestamp: UTC with 7 fractional digits.
	eventTimeLayout = "2006-01-02T15:04:05.0000000Z"
	userAgent       = "NetServer-Webhook/10.5.0-fake"
)

// Event names of the associate entity.
const (
	EventCreated = "associate.created"
	EventChanged = "associate.changed"
	EventDeleted = "associate.deleted"
	EventTest    = "test"
)

// createdChanges is the documented Changes list of associate.created.
var createdChanges = []string{"associate_id", "rank", "checklistlimit", "tzLocationId", "group_idx",
	"isLocation", "locationAddress", "name", "lastlogin", "registered", "updated_associate_id", "type",
	"tooltip", "updated", "userFlags", "encryptedCheck", "person_id", "lastlogout", "deleted",
	"updatedCount", "registered_associate_id", "ejuserId"}

// Payload is a webhook delivery body, fields in the documented order.
type Payload struct {
	EventID              string         `json:"EventId"`
	Timestamp            string         `json:"Timestamp"`
	Changes              []string       `json:"Changes"`
	Event                string         `json:"Event"`
	PrimaryKey           int64          `json:"PrimaryKey"`
	Entity               string         `json:"Entity"`
	ContextIdentifier    string         `json:"ContextIdentifier"`
	ChangedByAssociateID int64          `json:"ChangedByAssociateId"`
	WebhookName          string         `json:"WebhookName"`
	FieldValues          map[string]any `json:"FieldValues,omitempty"`
	Values               map[string]any `json:"Values,omitempty"`
}

// Event says which delivery SendEvent makes.
type Event struct {
	// Name is associate.created, associate.changed or associate.deleted.
	Name        string
	AssociateID int64
	// Changes overrides the Changes list (default: the documented one for the event).
	Changes []string
	// WithoutFieldValues sends a changed event without FieldValues, like older documented samples.
	WithoutFieldValues bool
	// Timestamp defaults to the fake's clock.
	Timestamp time.Time
	// EventID defaults to a new GUID (set it to replay a duplicate).
	EventID string
}

// Delivery is what became of one event for one webhook.
type Delivery struct {
	WebhookID  int64
	EventID    string
	Dropped    bool
	StatusCode int
	Err        error
}

// DropNextDeliveries makes the next n deliveries vanish, as SuperOffice may after failed retries.
func (s *SuperOffice) DropNextDeliveries(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropDeliveries = n
}

// SendEvent delivers ev, signed, to every Active webhook subscribed to it, once each, and
// counts failures as SuperOffice does (9 in a row: TooManyErrors; 410: Stopped).
func (s *SuperOffice) SendEvent(ctx context.Context, ev Event) ([]Delivery, error) {
	base, err := s.eventPayload(ev)
	if err != nil {
		return nil, err
	}
	var targets []superoffice.Webhook
	for _, h := range s.Webhooks() {
		if h.State == superoffice.WebhookStateActive && slices.Contains(h.Events, ev.Name) {
			targets = append(targets, h)
		}
	}
	deliveries := make([]Delivery, 0, len(targets))
	for _, h := range targets {
		d := Delivery{WebhookID: h.WebhookID, EventID: base.EventID}
		if s.takeDrop() {
			d.Dropped = true
			deliveries = append(deliveries, d)
			continue
		}
		p := base
		p.WebhookName = h.Name
		d.StatusCode, d.Err = s.post(ctx, h, p, false)
		s.recordDelivery(h.WebhookID, d)
		deliveries = append(deliveries, d)
	}
	return deliveries, nil
}

func (s *SuperOffice) takeDrop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropDeliveries > 0 {
		s.dropDeliveries--
		return true
	}
	return false
}

func (s *SuperOffice) recordDelivery(id int64, d Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.webhooks[id]
	if !ok {
		return
	}
	if d.Err == nil && d.StatusCode == http.StatusOK {
		st.consecutiveErrors = 0
		return
	}
	st.consecutiveErrors++
	if d.Err != nil {
		st.lastError = fmt.Sprintf("delivery of %s failed: %v", d.EventID, d.Err)
	} else {
		st.lastError = fmt.Sprintf("delivery of %s answered HTTP %d", d.EventID, d.StatusCode)
	}
	switch {
	case d.StatusCode == http.StatusGone:
		st.hook.State = superoffice.WebhookStateStopped
	case st.consecutiveErrors >= tooManyErrorsAfter:
		st.hook.State = superoffice.WebhookStateTooManyErrors
	}
}

func (s *SuperOffice) eventPayload(ev Event) (Payload, error) {
	ts := ev.Timestamp
	if ts.IsZero() {
		ts = s.opts.Now()
	}
	p := Payload{
		EventID:              ev.EventID,
		Timestamp:            ts.UTC().Format(eventTimeLayout),
		Event:                ev.Name,
		PrimaryKey:           ev.AssociateID,
		Entity:               "associate",
		ContextIdentifier:    s.opts.Tenant,
		ChangedByAssociateID: 5,
		Changes:              ev.Changes,
	}
	if p.EventID == "" {
		p.EventID = newGUID()
	}
	s.mu.Lock()
	a, live := s.associates[ev.AssociateID]
	gone, wasRemoved := s.removed[ev.AssociateID]
	s.mu.Unlock()
	switch ev.Name {
	case EventCreated, EventChanged:
		if !live {
			return Payload{}, fmt.Errorf("%s for associate %d: expected the associate to exist, it does not", ev.Name, ev.AssociateID)
		}
		if p.Changes == nil {
			p.Changes = []string{"associate_id", "group_idx", "updated", "updated_associate_id"}
			if ev.Name == EventCreated {
				p.Changes = createdChanges
			}
		}
		if !ev.WithoutFieldValues {
			p.FieldValues = map[string]any{
				"deleted":                 boolInt(a.Retired),
				"group_idx":               a.GroupID,
				"person_id":               a.PersonID,
				"registered_associate_id": 5,
				"type":                    a.TypeCode,
				"updated":                 ts.Format(timeLayout),
				"updated_associate_id":    5,
				"waiting_for_approval":    boolInt(a.WaitingForApproval),
			}
		}
	case EventDeleted:
		if live {
			return Payload{}, fmt.Errorf("%s for associate %d: expected the associate to be removed first, it still exists", ev.Name, ev.AssociateID)
		}
		p.Changes = []string{}
		values := map[string]any{"associate_id": ev.AssociateID}
		if wasRemoved {
			values["person_id"] = gone.PersonID
		}
		p.Values = values
	default:
		return Payload{}, fmt.Errorf("expected an associate event name, got %q", ev.Name)
	}
	return p, nil
}

// sendTestEvent posts the documented test event to h's target and wants 200.
func (s *SuperOffice) sendTestEvent(ctx context.Context, h superoffice.Webhook) error {
	p := Payload{
		EventID:           newGUID(),
		Timestamp:         s.opts.Now().UTC().Format(eventTimeLayout),
		Changes:           []string{},
		Event:             EventTest,
		Entity:            "test",
		ContextIdentifier: s.opts.Tenant,
		WebhookName:       h.Name,
	}
	status, err := s.post(ctx, h, p, true)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("expected HTTP 200, got %d", status)
	}
	return nil
}

// post sends one delivery the way NetServer does: JSON body, event headers, the signature
// when the webhook has a Secret, and the webhook's own headers.
func (s *SuperOffice) post(ctx context.Context, h superoffice.Webhook, p Payload, test bool) (int, error) {
	body, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.TargetURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("X-SuperOffice-Event", p.Event)
	req.Header.Set("X-SuperOffice-EventId", p.EventID)
	req.Header.Set("X-SuperOffice-Retry", "0")
	if test {
		req.Header.Set("X-Hook-Test", "true")
	}
	if h.Secret != "" {
		req.Header.Set("X-SuperOffice-Signature", signature.Sign([]byte(h.Secret), body))
	}
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.opts.DeliveryClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
