package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/signature"
)

func TestSendeventSignsTheDocumentedPayloadsAndSendsTheSuperOfficeHeaders(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range samples.Names {
		t.Run(name, func(t *testing.T) {
			var got *http.Request
			var gotBody []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, gotBody = r, must(io.ReadAll(r.Body))
				_, _ = w.Write([]byte(`{"result":"applied"}`))
			}))
			defer srv.Close()
			var out bytes.Buffer
			if err := run([]string{"--url", srv.URL + "/webhooks/ns/so", "--secret-file", secretFile, "--event", name}, &out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotBody, samples.MustPayload(name)) {
				t.Errorf("want the documented payload byte for byte, got %q", gotBody)
			}
			if !signature.Verify(gotBody, got.Header.Get("X-SuperOffice-Signature"), [][]byte{[]byte("s3cret")}) {
				t.Errorf("the signature does not verify with the secret without its trailing newline")
			}
			if got.Header.Get("X-SuperOffice-Event") == "" || got.Header.Get("X-SuperOffice-EventId") == "" {
				t.Errorf("want X-SuperOffice-Event and X-SuperOffice-EventId, got %v", got.Header)
			}
			if (name == "test") != (got.Header.Get("X-Hook-Test") == "true") {
				t.Errorf("want X-Hook-Test: true on the test event only, got %q", got.Header.Get("X-Hook-Test"))
			}
			if !strings.Contains(out.String(), "200 OK") || !strings.Contains(out.String(), "applied") {
				t.Errorf("want the status and the reply printed, got %q", out.String())
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestSendeventOverridesOnlyTheFieldsItIsAsked(t *testing.T) {
	deleted := string(samples.MustPayload("deleted"))
	created := string(samples.MustPayload("created"))
	tests := []struct {
		name  string
		event string
		flags []string
		// want is the documented payload with exactly these old -> new replacements.
		want string
	}{
		{
			name:  "no override sends the documented bytes",
			event: "deleted",
			want:  deleted,
		},
		{
			name:  "the deleted sample for the created associate of tenant Cust1234",
			event: "deleted",
			flags: []string{"--tenant", "Cust1234", "--primary-key", "141424"},
			want: strings.NewReplacer(
				`"ContextIdentifier": "Default"`, `"ContextIdentifier": "Cust1234"`,
				`"PrimaryKey": 4039840`, `"PrimaryKey": 141424`,
				`"associate_id": 4039840`, `"associate_id": 141424`,
			).Replace(deleted),
		},
		{
			name:  "EventId and Timestamp",
			event: "created",
			flags: []string{"--event-id", "6f1c0d8e-0000-4000-8000-000000000001", "--timestamp", "2026-11-26T12:00:00.5Z"},
			want: strings.NewReplacer(
				`"EventId": "52b8311e-745b-49a0-83eb-a9159635a307"`, `"EventId": "6f1c0d8e-0000-4000-8000-000000000001"`,
				`"Timestamp": "2018-04-24T08:53:40.0597952Z"`, `"Timestamp": "2026-11-26T12:00:00.5Z"`,
			).Replace(created),
		},
		{
			name:  "an empty tenant is a tenant too (on-site installations send none)",
			event: "created",
			flags: []string{"--tenant", ""},
			want:  strings.Replace(created, `"ContextIdentifier": "Cust1234"`, `"ContextIdentifier": ""`, 1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := send(t, append([]string{"--event", tt.event}, tt.flags...))
			if string(got.body) != tt.want {
				t.Errorf("sent\n%s\nwant the documented payload with only the overridden values changed:\n%s", got.body, tt.want)
			}
		})
	}
}

func TestSendeventTimestampNowIsSuperOfficesFormatAndTheEventIdHeaderFollowsTheOverride(t *testing.T) {
	before := time.Now().UTC().Truncate(time.Second)
	got := send(t, []string{"--event", "deleted", "--timestamp", "now", "--event-id", "resend-2"})
	var event struct{ EventId, Timestamp string }
	if err := json.Unmarshal(got.body, &event); err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(superOfficeTimestamp, event.Timestamp)
	if err != nil {
		t.Fatalf("Timestamp %q is not UTC with seven fractional digits as SuperOffice writes it: %v", event.Timestamp, err)
	}
	if at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("--timestamp now sent %s, want the current time (after %s)", event.Timestamp, before)
	}
	if h := got.header.Get("X-SuperOffice-EventId"); h != "resend-2" || event.EventId != "resend-2" {
		t.Errorf("EventId %q and header X-SuperOffice-EventId %q, want both resend-2", event.EventId, h)
	}
	if !signature.Verify(got.body, got.header.Get("X-SuperOffice-Signature"), [][]byte{[]byte("s3cret")}) {
		t.Errorf("the signature does not cover the body as sent, overrides included")
	}
}

func TestSendeventAddsAnOverriddenFieldTheEventFileLacks(t *testing.T) {
	file := filepath.Join(t.TempDir(), "onsite.json")
	if err := os.WriteFile(file, []byte(`{"EventId":"e1","Event":"associate.changed","Timestamp":"2026-01-02T03:04:05Z","PrimaryKey":7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	got := send(t, []string{"--event", file, "--tenant", "Cust1234"})
	want := `{"EventId":"e1","Event":"associate.changed","Timestamp":"2026-01-02T03:04:05Z","PrimaryKey":7,"ContextIdentifier":"Cust1234"}`
	if string(got.body) != want {
		t.Errorf("sent %s, want %s", got.body, want)
	}
}

func TestSendeventRefusesOverridesTheIngressWouldRefuse(t *testing.T) {
	for _, flags := range [][]string{
		{"--primary-key", "0"},
		{"--timestamp", "yesterday"},
		{"--timestamp", "2026-11-26 12:00:00"},
		{"--event-id", ""},
	} {
		err := run(append([]string{"--url", "http://127.0.0.1:1/webhooks/ns/so", "--secret-file", "/nonexistent"}, flags...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), flags[0]) {
			t.Errorf("sendevent %v: error %v, want one naming %s", flags, err, flags[0])
		}
	}
}

// sent is what the receiver got.
type sent struct {
	header http.Header
	body   []byte
}

// send runs sendevent against a receiver that answers applied, and returns what it got.
func send(t *testing.T, args []string) sent {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got sent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = sent{header: r.Header, body: must(io.ReadAll(r.Body))}
		_, _ = w.Write([]byte(`{"result":"applied"}`))
	}))
	defer srv.Close()
	if err := run(append([]string{"--url", srv.URL + "/webhooks/ns/so", "--secret-file", secretFile}, args...), io.Discard); err != nil {
		t.Fatal(err)
	}
	return got
}
