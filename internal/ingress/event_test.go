package ingress

import (
	"testing"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
)

// decodeEvent reads payloads as encoding/json does, which is what SuperOffice's senders
// and earlier releases rely on: keys match whatever their case, the last of repeated keys
// wins, numbers may come as numeric strings and booleans as 0/1.
func TestDecodeEventReadsPayloadsAsEncodingJSONDoes(t *testing.T) {
	for _, name := range samples.Names {
		if _, err := decodeEvent(samples.MustPayload(name)); err != nil {
			t.Errorf("the documented %s payload: %v", name, err)
		}
	}
	body := `{"eventid":"first","EventId":"last","event":"associate.changed","TIMESTAMP":"2018-04-24T08:53:40Z",
	  "PrimaryKey":"141424","FieldValues":{"deleted":"1","group_idx":2},"FieldValues":{"person_id":7}}`
	ev, err := decodeEvent([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if ev.EventID != "last" || ev.Event != "associate.changed" || ev.Timestamp == "" {
		t.Errorf("keys match case-insensitively and the last wins: got EventId %q, Event %q, Timestamp %q", ev.EventID, ev.Event, ev.Timestamp)
	}
	if ev.PrimaryKey == nil || *ev.PrimaryKey != 141424 {
		t.Errorf("a numeric string is a number: got %v", ev.PrimaryKey)
	}
	// A repeated object is merged into, as encoding/json does.
	if fv := ev.FieldValues; fv == nil || fv.PersonID == nil || *fv.PersonID != 7 || fv.GroupIdx == nil || fv.Deleted == nil || !bool(*fv.Deleted) {
		t.Errorf("FieldValues = %+v", ev.FieldValues)
	}
}
