package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/signature"
)

// HeaderSignature carries base64(HMAC-SHA256(secret, body)); http.Header.Get matches it
// whatever the case of the name as sent.
const HeaderSignature = "X-SuperOffice-Signature"

// retryAfterSeconds tells SuperOffice when to retry after a 503.
const retryAfterSeconds = "10"

// defaultApplyTimeout bounds the whole apply of one delivery, below the server's WriteTimeout.
const defaultApplyTimeout = 25 * time.Second

// maxClockSkew is how far past the manager's clock an event's Timestamp may be: a
// later one would stay "newest" and make every real event after it stale.
const maxClockSkew = 5 * time.Minute

// applier is mirror.Mirror, or a fake in handler tests.
type applier interface {
	Apply(ctx context.Context, obs mirror.Observation) (mirror.Outcome, error)
}

// handler answers POST /webhooks/{namespace}/{name}.
type handler struct {
	reader client.Reader // the manager's cache: never an API GET per request
	// secrets reads the receivers' Secrets (only referenced ones are held); nil reads them
	// through reader (handler tests).
	secrets      secrets.Reader
	mirror       applier
	warnings     *warningRecorder  // nil: no Kubernetes Events
	deliveries   *deliveryRecorder // nil: no lastDeliveryTime
	log          logr.Logger
	applyTimeout time.Duration
	// maxBodyCeiling, when positive, caps every receiver's spec.maxBodyBytes.
	maxBodyCeiling int64
	// budget bounds the body bytes read at once; nil: unbounded (handler tests).
	budget *bodyBudget
	// refusals samples the log lines of refusals made before the signature is verified;
	// nil logs every one.
	refusals *logSampler
	// now is the clock that future Timestamps are judged by; time.Now when nil.
	now func() time.Time
	// enricher fetches the record of a changed event without FieldValues for receivers
	// with spec.api; nil turns that off.
	enricher enricher
}

// enricher is apiclient.Cache: GetAssociate through the receiver's SuperOffice client.
type enricher interface {
	Enrich(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, associateID int64) (*mirror.Fields, error)
}

// enrichTimeout bounds the GetAssociate of one delivery, well inside the apply timeout.
const enrichTimeout = 5 * time.Second

// delivery is what is known about one request, for the reply, the metrics and the log line.
type delivery struct {
	receiver  string // "ns/name", or unknownReceiver
	event     string
	eventID   string
	result    string
	associate string
	code      int
	err       error
	// verified: the signature was checked and matched; refusals before that come from
	// anyone, and their log lines are sampled.
	verified bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	d := &delivery{receiver: unknownReceiver}
	defer func() {
		elapsed := time.Since(start)
		requestsTotal.WithLabelValues(d.receiver, d.result).Inc()
		requestDuration.WithLabelValues(d.receiver).Observe(elapsed.Seconds())
		kv := []any{"receiver", d.receiver, "event", d.event, "eventId", d.eventID, "result", d.result,
			"associate", d.associate, "code", d.code, "duration", elapsed}
		if !d.verified && d.code != http.StatusOK && h.refusals != nil {
			ok, dropped := h.refusals.allow()
			if !ok {
				return
			}
			if dropped > 0 {
				kv = append(kv, "suppressedRefusals", dropped)
			}
		}
		if d.err != nil {
			kv = append(kv, "error", d.err.Error())
		}
		h.log.Info("webhook delivery", kv...)
	}()
	h.serve(w, r, d)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, d *delivery) {
	ctx := r.Context()
	key := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}

	secretReader := h.secrets
	if secretReader == nil {
		secretReader = secrets.FromClient(h.reader)
	}
	rcv, err := lookupReceiver(ctx, h.reader, secretReader, key)
	var notReady errNotReady
	switch {
	case apierrors.IsNotFound(err):
		h.fail(w, d, http.StatusNotFound, resultNotFound, fmt.Errorf("no ready receiver %s", key), err)
		return
	case errors.As(err, &notReady):
		// It exists: its name is a bounded label value, and the operator wants to see it.
		d.receiver = key.String()
		h.fail(w, d, http.StatusNotFound, resultNotFound, fmt.Errorf("no ready receiver %s", key), err)
		return
	case err != nil:
		h.unavailable(w, d, fmt.Errorf("reading receiver %s from the cache: %w", key, err))
		return
	}
	d.receiver = key.String()

	ev, ok := h.readVerified(w, r, d, rcv)
	if !ok {
		return
	}
	d.event, d.eventID = ev.Event, ev.EventID
	if ev.isAssociate() && ev.at.After(h.clock().Add(maxClockSkew)) {
		h.fail(w, d, http.StatusBadRequest, resultMalformed,
			fmt.Errorf("field Timestamp: %s is more than %s after the receiving clock", ev.Timestamp, maxClockSkew), nil)
		return
	}

	if want := rcv.receiver.Spec.Tenant; want != "" && ev.ContextIdentifier != "" && !strings.EqualFold(want, ev.ContextIdentifier) {
		h.fail(w, d, http.StatusForbidden, resultForbidden,
			fmt.Errorf("ContextIdentifier %q is not this receiver's tenant", ev.ContextIdentifier), nil)
		h.warnings.warn(rcv.receiver, "WrongTenant",
			"Refused a delivery for tenant %q: this receiver accepts only tenant %q", ev.ContextIdentifier, want)
		return
	}

	switch {
	case ev.isTest():
		h.reply(w, d, resultTest)
		h.deliveries.delivered(rcv.receiver)
		return
	case !ev.applicable():
		h.reply(w, d, resultIgnored)
		h.deliveries.delivered(rcv.receiver)
		return
	}

	obs := rcv.observation(key, ev)
	name, err := superofficev1alpha1.AssociateName(obs.Tenant, obs.AssociateID)
	if err != nil {
		h.fail(w, d, http.StatusBadRequest, resultMalformed, err, nil)
		return
	}
	if obs.Event == mirror.EventChanged && obs.Fields == nil && rcv.receiver.Spec.API != nil && h.enricher != nil {
		obs.Fields = h.enrich(ctx, rcv.receiver, obs.AssociateID)
	}
	d.associate = obs.Namespace + "/" + name

	timeout := h.applyTimeout
	if timeout <= 0 {
		timeout = defaultApplyTimeout
	}
	// A sender that hangs up must not cut a write in half: the apply (and the undo of a
	// create that lost a race) runs to its own deadline.
	applyCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	outcome, err := h.mirror.Apply(applyCtx, obs)
	switch {
	case errors.Is(err, mirror.ErrInvalid):
		h.fail(w, d, http.StatusBadRequest, resultMalformed, err, nil)
		return
	case errors.Is(err, mirror.ErrConflict):
		h.fail(w, d, http.StatusConflict, resultConflict, err, nil)
		h.warnings.warn(rcv.receiver, "AssociateOwnedByAnotherReceiver",
			"Refused a delivery for Associate %s: %v", d.associate, err)
		return
	case err != nil:
		h.unavailable(w, d, err)
		return
	}
	h.reply(w, d, string(outcome.Result))
	h.deliveries.delivered(rcv.receiver)
}

// reply answers 200 with the result.
func (h *handler) reply(w http.ResponseWriter, d *delivery, result string) {
	d.result, d.code = result, http.StatusOK
	writeJSON(w, http.StatusOK, reply{Result: result, Associate: d.associate})
}

// fail answers a refusal; public is what the client is told, cause (optional) is logged only.
func (h *handler) fail(w http.ResponseWriter, d *delivery, code int, result string, public, cause error) {
	d.result, d.code, d.err = result, code, public
	if cause != nil {
		d.err = fmt.Errorf("%w: %w", public, cause)
	}
	writeJSON(w, code, reply{Error: public.Error()})
}

// unavailable answers 503 with Retry-After: the delivery was not stored and SuperOffice
// must send it again.
func (h *handler) unavailable(w http.ResponseWriter, d *delivery, err error) {
	d.result, d.code, d.err = resultError, http.StatusServiceUnavailable, err
	w.Header().Set("Retry-After", retryAfterSeconds)
	writeJSON(w, http.StatusServiceUnavailable, reply{Error: "the API server did not store the change; retry later"})
}

// busy answers 503 with Retry-After, unread: the bodies being read already hold the
// in-flight budget.
func (h *handler) busy(w http.ResponseWriter, d *delivery, reservation int64) {
	d.result, d.code = resultBusy, http.StatusServiceUnavailable
	d.err = fmt.Errorf("the in-flight body budget has no room for %d more bytes", reservation)
	w.Header().Set("Retry-After", retryAfterSeconds)
	writeJSON(w, http.StatusServiceUnavailable, reply{Error: "too many deliveries are being read at once; retry later"})
}

type reply struct {
	Result    string `json:"result,omitempty"`
	Associate string `json:"associate,omitempty"`
	Error     string `json:"error,omitempty"`
}

// writeJSON sets the headers before WriteHeader, then writes v.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// methodNotAllowed answers anything but POST on a receiver's path.
func methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	writeJSON(w, http.StatusMethodNotAllowed, reply{Error: "only POST is allowed"})
}

// notFound answers paths that are no receiver's.
func notFound(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, reply{Error: "not a webhook path: want POST /webhooks/{namespace}/{name}"})
}

// readVerified reads the body within the receiver's limit and the in-flight budget,
// verifies its signature and decodes it; false when it has answered the request already.
// A body announced larger than the limit, or one that does not fit the budget, is refused
// before any of it is read.
func (h *handler) readVerified(w http.ResponseWriter, r *http.Request, d *delivery, rcv *readyReceiver) (*Event, bool) {
	limit := h.bodyLimit(rcv)
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		h.fail(w, d, http.StatusRequestEntityTooLarge, resultTooLarge, errBodyTooLarge{limit}, nil)
		return nil, false
	}
	reservation := limit
	if r.ContentLength >= 0 {
		reservation = r.ContentLength
	}
	release, ok := h.budget.reserve(reservation)
	if !ok {
		w.Header().Set("Connection", "close")
		h.busy(w, d, reservation)
		return nil, false
	}
	// The body is not kept past decoding: the apply that follows may wait on the API
	// server for seconds, and must not hold budget that other bodies need.
	defer release()
	body, err := readBody(r.Body, r.ContentLength, limit)
	var tooLarge errBodyTooLarge
	switch {
	case errors.As(err, &tooLarge):
		w.Header().Set("Connection", "close")
		h.fail(w, d, http.StatusRequestEntityTooLarge, resultTooLarge, tooLarge, nil)
		return nil, false
	case err != nil:
		h.fail(w, d, http.StatusBadRequest, resultMalformed, errors.New("could not read the body"), err)
		return nil, false
	}

	if !signature.Verify(body, r.Header.Get(HeaderSignature), rcv.secrets) {
		h.fail(w, d, http.StatusUnauthorized, resultBadSignature,
			fmt.Errorf("%s missing or not the signature of the body under any accepted key", HeaderSignature), nil)
		h.warnings.warn(rcv.receiver, "BadSignature",
			"Refused a delivery: %s missing or matching none of the keys %v of Secret %s",
			HeaderSignature, rcv.receiver.SigningKeys(), rcv.receiver.Spec.SecretRef.Name)
		return nil, false
	}
	d.verified = true

	ev, err := decodeEvent(body)
	if err != nil {
		h.fail(w, d, http.StatusBadRequest, resultMalformed, err, nil)
		return nil, false
	}
	return ev, true
}

// bodyLimit is the receiver's spec.maxBodyBytes, capped by the manager-wide ceiling and
// by the in-flight budget (a body larger than the whole budget could never be read).
func (h *handler) bodyLimit(rcv *readyReceiver) int64 {
	limit := rcv.maxBodyBytes()
	if h.maxBodyCeiling > 0 && limit > h.maxBodyCeiling {
		limit = h.maxBodyCeiling
	}
	if h.budget != nil && limit > h.budget.total {
		limit = h.budget.total
	}
	return limit
}

func (h *handler) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// enrich is the associate's record as Fields, or nil when SuperOffice cannot say: the event
// is then applied as the touch it is, never refused for it, and the next resync completes it.
func (h *handler) enrich(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, associateID int64) *mirror.Fields {
	ctx, cancel := context.WithTimeout(ctx, enrichTimeout)
	defer cancel()
	fields, err := h.enricher.Enrich(ctx, receiver, associateID)
	if err != nil {
		h.log.Info("fetching the record of a changed event without FieldValues failed; applying it without fields",
			"receiver", receiver.Namespace+"/"+receiver.Name, "associate", associateID, "error", err.Error())
		return nil
	}
	return fields
}
