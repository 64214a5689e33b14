package ingress

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
)

// agreesWithEncodingJSON fails t when scanEvent decoded body differently from
// encoding/json, or decoded what encoding/json refuses.
func agreesWithEncodingJSON(t *testing.T, body []byte) (scanned bool) {
	t.Helper()
	fast := scanEvent(body)
	if fast == nil {
		return false
	}
	var slow Event
	if err := json.Unmarshal(body, &slow); err != nil {
		t.Fatalf("scanEvent decoded %q, which encoding/json refuses: %v", body, err)
	}
	if !reflect.DeepEqual(*fast, slow) {
		t.Fatalf("scanEvent and encoding/json disagree on %q:\n scan: %+v\n json: %+v", body, *fast, slow)
	}
	return true
}

func TestScanEventDecodesTheDocumentedPayloadsAsEncodingJSONDoes(t *testing.T) {
	for _, name := range samples.Names {
		if !agreesWithEncodingJSON(t, samples.MustPayload(name)) {
			t.Errorf("the documented %s payload was left to encoding/json; the fast path must take it", name)
		}
	}
}

func TestScanEventLeavesAnythingButThePlainFormToEncodingJSON(t *testing.T) {
	tests := []struct{ name, body string }{
		{"a key in another case", `{"eventid":"x"}`},
		{"a repeated key", `{"EventId":"x","EventId":"y"}`},
		{"a repeated FieldValues object (encoding/json merges them)", `{"FieldValues":{"type":1},"FieldValues":{"group_idx":2}}`},
		{"an escape in a decoded string", `{"EventId":"a\u0041"}`},
		{"non-ASCII in a decoded string", `{"ContextIdentifier":"Kundé"}`},
		{"null for a string", `{"EventId":null}`},
		{"null for a pointer", `{"PrimaryKey":null}`},
		{"a numeric string for a number", `{"PrimaryKey":"141424"}`},
		{"a fraction", `{"PrimaryKey":1.0}`},
		{"an exponent", `{"PrimaryKey":1e3}`},
		{"a leading zero", `{"PrimaryKey":01}`},
		{"a number too long for the fast path", `{"PrimaryKey":1234567890123456789}`},
		{"a boolean as a string", `{"FieldValues":{"deleted":"1"}}`},
		{"a boolean of -0", `{"FieldValues":{"deleted":-0}}`},
		{"a boolean of 2", `{"FieldValues":{"deleted":2}}`},
		{"trailing bytes", `{"EventId":"x"} {}`},
		{"a literal run on", `{"FieldValues":{"deleted":truex}}`},
		{"a top-level array", `[1,2]`},
		{"a top-level null", `null`},
		{"an unterminated object", `{"EventId":"x"`},
		{"a control character in a skipped string", "{\"Changes\":[\"a\x01\"]}"},
		{"a bad escape in a skipped string", `{"Changes":["\q"]}`},
		{"a trailing comma", `{"EventId":"x",}`},
		{"nesting deeper than the fast path skips", `{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if agreesWithEncodingJSON(t, []byte(tt.body)) {
				t.Fatalf("scanEvent took %q; it must leave it to encoding/json", tt.body)
			}
		})
	}
}

func TestScanEventSkipsUnknownValuesOfEveryKind(t *testing.T) {
	body := `{ "EventId" : "x", "Changes": ["a", "b\"\u00e9\n"], "Nested": {"a": [true, false, null, -1.5e+3, 0, {}]},
	  "Event": "associate.changed", "Timestamp": "2018-04-24T08:53:40Z", "PrimaryKey": -7, "ChangedByAssociateId": 0,
	  "Values": {"associate_id": 3, "other": "ü"}, "FieldValues": {"deleted": true, "waiting_for_approval": 0, "updated": "u", "x": []} }`
	if !agreesWithEncodingJSON(t, []byte(body)) {
		t.Fatalf("a plain event with unknown values of every kind was left to encoding/json")
	}
}

// FuzzScanEventAgreesWithEncodingJSON: whatever the fast path takes, it decodes exactly as
// encoding/json does.
func FuzzScanEventAgreesWithEncodingJSON(f *testing.F) {
	for _, name := range samples.Names {
		f.Add(samples.MustPayload(name))
	}
	f.Add([]byte(`{"FieldValues":{"deleted":1,"type":0,"updated":"x"},"Values":{"person_id":-0}}`))
	f.Add([]byte(`{"a":[1,{"b":"\ud800"}],"Entity":"associate"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		agreesWithEncodingJSON(t, body)
	})
}

// TestScanEventAgreesWithEncodingJSONOnMutatedPayloads is a bounded, deterministic stand-in
// for the fuzz target in plain go test: documented payloads with random JSON-ish edits.
func TestScanEventAgreesWithEncodingJSONOnMutatedPayloads(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	const alphabet = "{}[]\",:\\ 0123456789-+.eEtrufalsn\x01\xc3\xa9uU"
	scanned := 0
	for i := range 20000 {
		body := bytes.Clone(samples.MustPayload(samples.Names[i%len(samples.Names)]))
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(body))
			switch rng.IntN(3) {
			case 0:
				body[at] = alphabet[rng.IntN(len(alphabet))]
			case 1:
				body = slices.Insert(body, at, alphabet[rng.IntN(len(alphabet))])
			default:
				body = slices.Delete(body, at, at+1)
			}
		}
		if agreesWithEncodingJSON(t, body) {
			scanned++
		}
	}
	// Most edits land in skipped or decoded values and keep the plain form: the comparison must bite.
	if scanned < 2000 {
		t.Fatalf("only %d of 20000 edited payloads took the fast path; the test compares too little", scanned)
	}
	t.Logf("%d of 20000 edited payloads took the fast path and agreed with encoding/json", scanned)
}
