package ingress

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/signature"
)

// FuzzHandler sends random bodies and headers, signed or not: the handler must never
// panic and never answer 5xx to bad input (the fake mirror never fails).
func FuzzHandler(f *testing.F) {
	for _, name := range samples.Names {
		body := samples.MustPayload(name)
		f.Add(body, true, "", "")
		f.Add(body, false, "garbage", "application/json")
	}
	f.Add([]byte(""), true, "", "")
	f.Add([]byte("{"), true, "", "")
	f.Add([]byte(`{"EventId":"x","Event":"associate.changed","Timestamp":"2018-04-24T08:53:40Z","PrimaryKey":1e30}`), true, "", "")
	f.Add([]byte(`{"EventId":"x","Event":"associate.changed","Timestamp":"2018-04-24T08:53:40Z","PrimaryKey":-1}`), true, "", "")
	f.Add([]byte(`{"EventId":"x","Event":"associate.deleted","Timestamp":"0000-01-01T00:00:00Z","PrimaryKey":"9","FieldValues":{"deleted":"maybe"}}`), true, "", "")
	f.Add([]byte(`{"EventId":"x","Event":"associate.created","Timestamp":"2018-04-24T08:53:40Z","PrimaryKey":3,"ContextIdentifier":"---"}`), true, "", "")
	f.Add([]byte(`[1,2,3]`), true, "", "text/plain")
	f.Add([]byte(`null`), true, "", "")

	h := newTestHandler(&fakeApplier{result: mirror.Applied})
	f.Fuzz(func(t *testing.T, body []byte, sign bool, sig, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/acc/anytenant", bytes.NewReader(body))
		if sign {
			sig = signature.Sign([]byte(testSecret), body)
		}
		req.Header.Set(HeaderSignature, sig)
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("bad input got HTTP %d: %s", rec.Code, rec.Body)
		}
	})
}
