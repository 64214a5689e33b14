package fake

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// adminAssociate is the admin API's JSON for an associate.
type adminAssociate struct {
	ID                 int64  `json:"id"`
	PersonID           int64  `json:"personId"`
	GroupID            int64  `json:"groupId"`
	Type               int32  `json:"type"`
	Retired            bool   `json:"retired"`
	WaitingForApproval bool   `json:"waitingForApproval"`
	Name               string `json:"name,omitempty"`
}

// adminRoutes let a person steer a running fake (cmd/fake-superoffice) with curl:
//
//	GET    /_fake/associates
//	PUT    /_fake/associates/{id}        {"personId":21,"groupId":4,"type":0}  ?deliver=false drops the event
//	DELETE /_fake/associates/{id}                                              ?deliver=false drops the event
//	GET    /_fake/webhooks
//	POST   /_fake/webhooks/{id}/state    {"state":"TooManyErrors","lastError":"…"}
//	POST   /_fake/tickets/expire
//	POST   /_fake/faults/{route}         {"Status":429,"RetryAfter":"2","Times":1}
func (s *SuperOffice) adminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /_fake/associates", func(w http.ResponseWriter, _ *http.Request) {
		out := []adminAssociate{}
		for _, a := range s.sortedAssociates() {
			out = append(out, adminAssociate{ID: a.ID, PersonID: a.PersonID, GroupID: a.GroupID, Type: a.TypeCode,
				Retired: a.Retired, WaitingForApproval: a.WaitingForApproval, Name: a.Name})
		}
		writeJSON(w, http.StatusOK, out)
	})
	m.HandleFunc("PUT /_fake/associates/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		var in adminAssociate
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
			writeError(w, http.StatusBadRequest, "SoBadRequestException", "expected associate JSON: "+err.Error())
			return
		}
		_, existed := s.Associate(id)
		s.PutAssociate(Associate{ID: id, PersonID: in.PersonID, GroupID: in.GroupID, TypeCode: in.Type,
			Retired: in.Retired, WaitingForApproval: in.WaitingForApproval, Name: in.Name})
		event := EventCreated
		if existed {
			event = EventChanged
		}
		s.adminDeliver(w, r, Event{Name: event, AssociateID: id})
	})
	m.HandleFunc("DELETE /_fake/associates/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		s.RemoveAssociate(id)
		s.adminDeliver(w, r, Event{Name: EventDeleted, AssociateID: id})
	})
	m.HandleFunc("GET /_fake/webhooks", func(w http.ResponseWriter, _ *http.Request) {
		hooks := s.Webhooks()
		for i := range hooks {
			if hooks[i].Secret != "" {
				hooks[i].Secret = "(set)"
			}
		}
		writeJSON(w, http.StatusOK, hooks)
	})
	m.HandleFunc("POST /_fake/webhooks/{id}/state", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		var in struct{ State, LastError string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
			writeError(w, http.StatusBadRequest, "SoBadRequestException", "expected {\"state\",\"lastError\"}")
			return
		}
		if err := s.SetWebhookState(id, in.State, in.LastError); err != nil {
			writeError(w, http.StatusNotFound, "SoNotFoundException", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_fake/tickets/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTickets()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_fake/faults/{route}", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&f); err != nil {
			writeError(w, http.StatusBadRequest, "SoBadRequestException", "expected a fault JSON")
			return
		}
		s.Fail(Route(r.PathValue("route")), f)
		w.WriteHeader(http.StatusNoContent)
	})
}

// adminDeliver sends the event unless ?deliver=false, and reports each delivery.
func (s *SuperOffice) adminDeliver(w http.ResponseWriter, r *http.Request, ev Event) {
	if deliver, _ := strconv.ParseBool(r.URL.Query().Get("deliver")); r.URL.Query().Has("deliver") && !deliver {
		writeJSON(w, http.StatusOK, map[string]any{"event": ev.Name, "delivered": false})
		return
	}
	deliveries, err := s.SendEvent(r.Context(), ev)
	if err != nil {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", err.Error())
		return
	}
	report := make([]map[string]any, 0, len(deliveries))
	for _, d := range deliveries {
		item := map[string]any{"webhookId": d.WebhookID, "eventId": d.EventID, "status": d.StatusCode, "dropped": d.Dropped}
		if d.Err != nil {
			item["error"] = d.Err.Error()
		}
		report = append(report, item)
	}
	writeJSON(w, http.StatusOK, map[string]any{"event": ev.Name, "deliveries": report})
}
