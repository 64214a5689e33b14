package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
