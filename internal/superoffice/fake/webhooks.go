package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/assocsync/associate-operator/internal/superoffice"
)

// tooManyErrorsAfter is the documented count of consecutive failed deliveries that stops a webhook.
const tooManyErrorsAfter = 9

type webhookState struct {
	hook              superoffice.Webhook
	lastError         string
	consecutiveErrors int
}

// Webhook is the stored webhook with id, Secret included.
func (s *SuperOffice) Webhook(id int64) (superoffice.Webhook, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.webhooks[id]
	if !ok {
		return superoffice.Webhook{}, false
	}
	return cloneWebhook(st.hook), true
}

// Webhooks are all stored webhooks, ordered by id.
func (s *SuperOffice) Webhooks() []superoffice.Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]superoffice.Webhook, 0, len(s.webhooks))
	for _, st := range s.webhooks {
		out = append(out, cloneWebhook(st.hook))
	}
	slices.SortFunc(out, func(a, b superoffice.Webhook) int { return int(a.WebhookID - b.WebhookID) })
	return out
}

// SetWebhookState sets a webhook's State and LastError, as SuperOffice does after failures
// (TooManyErrors) or an admin does (Stopped).
func (s *SuperOffice) SetWebhookState(id int64, state, lastError string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.webhooks[id]
	if !ok {
		return fmt.Errorf("no webhook %d", id)
	}
	st.hook.State, st.lastError = state, lastError
	return nil
}

// ChangeWebhook edits a stored webhook directly (someone changed it in SuperOffice).
func (s *SuperOffice) ChangeWebhook(id int64, edit func(*superoffice.Webhook)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.webhooks[id]
	if !ok {
		return fmt.Errorf("no webhook %d", id)
	}
	edit(&st.hook)
	st.hook.WebhookID = id
	return nil
}

func (s *SuperOffice) handleListWebhooks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, event, status := q.Get("nameFilter"), q.Get("eventFilter"), q.Get("statusFilter")
	out := []superoffice.Webhook{}
	for _, h := range s.Webhooks() {
		if name != "" && !strings.Contains(strings.ToLower(h.Name), strings.ToLower(name)) {
			continue
		}
		if event != "" && !slices.Contains(h.Events, event) {
			continue
		}
		if status != "" && h.State != status {
			continue
		}
		out = append(out, h)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *SuperOffice) handleGetWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	h, found := s.Webhook(id)
	if !found {
		writeError(w, http.StatusNotFound, "SoNotFoundException", "no webhook "+strconv.FormatInt(id, 10))
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *SuperOffice) handleCreateWebhook(w http.ResponseWriter, r *http.Request) {
	h, ok := s.decodeWebhook(w, r)
	if !ok {
		return
	}
	now := s.opts.Now().Format(timeLayout)
	h.Registered, h.Updated = now, now
	s.mu.Lock()
	h.WebhookID = s.nextWebhookID
	s.nextWebhookID++
	s.webhooks[h.WebhookID] = &webhookState{hook: h}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, h)
}

func (s *SuperOffice) handleUpdateWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if _, found := s.Webhook(id); !found {
		writeError(w, http.StatusNotFound, "SoNotFoundException", "no webhook "+strconv.FormatInt(id, 10))
		return
	}
	h, ok := s.decodeWebhook(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, found := s.webhooks[id]
	if !found {
		writeError(w, http.StatusNotFound, "SoNotFoundException", "no webhook "+strconv.FormatInt(id, 10))
		return
	}
	h.WebhookID, h.Registered, h.Updated = id, st.hook.Registered, s.opts.Now().Format(timeLayout)
	st.hook = h
	if h.State == superoffice.WebhookStateActive {
		// Saving it Active is how an admin restarts a stopped webhook.
		st.consecutiveErrors = 0
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *SuperOffice) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	_, found := s.webhooks[id]
	delete(s.webhooks, id)
	s.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, "SoNotFoundException", "no webhook "+strconv.FormatInt(id, 10))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *SuperOffice) handleLastError(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	st, found := s.webhooks[id]
	var msg string
	if found {
		msg = st.lastError
	}
	s.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, "SoNotFoundException", "no webhook "+strconv.FormatInt(id, 10))
		return
	}
	writeJSON(w, http.StatusOK, msg) // a bare JSON string, as documented
}

// handleTestWebhook sends the test event for the posted entity without saving it.
func (s *SuperOffice) handleTestWebhook(w http.ResponseWriter, r *http.Request) {
	var h superoffice.Webhook
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&h); err != nil {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", "expected a webhook entity")
		return
	}
	if err := s.sendTestEvent(r.Context(), h); err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"Success": false, "Message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"Success": true, "Message": "OK"})
}

// decodeWebhook reads and checks a posted entity, then tests its TargetUrl: SuperOffice
// refuses the save unless the target answers the test event with 200.
func (s *SuperOffice) decodeWebhook(w http.ResponseWriter, r *http.Request) (superoffice.Webhook, bool) {
	var h superoffice.Webhook
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&h); err != nil {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", "expected a webhook entity")
		return h, false
	}
	var problems []string
	if h.Name == "" {
		problems = append(problems, "Name is required")
	}
	if h.TargetURL == "" {
		problems = append(problems, "TargetUrl is required")
	}
	if len(h.Events) == 0 {
		problems = append(problems, "Events must not be empty")
	}
	switch h.State {
	case "", superoffice.WebhookStateUnknown:
		h.State = superoffice.WebhookStateActive
	case superoffice.WebhookStateActive, superoffice.WebhookStateStopped, superoffice.WebhookStateTooManyErrors:
	default:
		problems = append(problems, "State "+h.State+" is not one of Unknown, Active, Stopped, TooManyErrors")
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", strings.Join(problems, "; "))
		return h, false
	}
	if h.Type == "" {
		h.Type = "webhook"
	}
	if err := s.sendTestEvent(r.Context(), h); err != nil {
		writeError(w, http.StatusBadRequest, "WebhookTestFailed", "the test event to "+h.TargetURL+" failed: "+err.Error())
		return h, false
	}
	return h, true
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", "the id in the path must be an integer, got "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func cloneWebhook(h superoffice.Webhook) superoffice.Webhook {
	h.Events = slices.Clone(h.Events)
	if h.Headers != nil {
		headers := make(map[string]string, len(h.Headers))
		for k, v := range h.Headers {
			headers[k] = v
		}
		h.Headers = headers
	}
	return h
}
