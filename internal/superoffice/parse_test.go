package superoffice

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfterReadsSecondsAndHTTPDates(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
		ok     bool
	}{
		{"absent", "", 0, false},
		{"seconds", "3", 3 * time.Second, true},
		{"zero seconds", "0", 0, true},
		{"negative seconds are ignored", "-1", 0, false},
		{"an HTTP date in the future", "Fri, 01 May 2026 12:00:05 GMT", 5 * time.Second, true},
		{"an HTTP date in the past means now", "Fri, 01 May 2026 11:00:00 GMT", 0, true},
		{"garbage", "soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.header, now)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRetryWaitIsCappedAndBacksOffWithoutRetryAfter(t *testing.T) {
	c := &Client{now: time.Now, backoffBase: 100 * time.Millisecond, maxRetryWait: time.Second}
	tests := []struct {
		header  string
		attempt int
		want    time.Duration
	}{
		{"", 1, 100 * time.Millisecond},
		{"", 3, 400 * time.Millisecond},
		{"", 10, time.Second},
		{"2", 1, time.Second},
		{"0", 1, 0},
	}
	for _, tt := range tests {
		if got := c.retryWait(tt.header, tt.attempt); got != tt.want {
			t.Errorf("retryWait(%q, attempt %d) = %s, want %s", tt.header, tt.attempt, got, tt.want)
		}
	}
}

func TestDecodeAssociateRowAcceptsTheDocumentedVariants(t *testing.T) {
	tests := []struct {
		name    string
		row     string
		want    AssociateRow
		wantErr string
	}{
		{
			name: "numbers",
			row:  `{"PrimaryKey":7468,"EntityName":"associate","associateDbId":7468,"personId":21,"usergroupId":4,"assocType":0,"isActive":true}`,
			want: AssociateRow{AssociateID: 7468, PersonID: 21, GroupID: 4, TypeCode: 0, HasType: true, HasActive: true},
		},
		{
			name: "strings, retired resource",
			row:  `{"PrimaryKey":"3","associateDbId":"3","personId":"0","usergroupId":"2","assocType":"1","isActive":"false"}`,
			want: AssociateRow{AssociateID: 3, GroupID: 2, TypeCode: 1, HasType: true, Retired: true, HasActive: true},
		},
		{
			name: "archive-encoded values and a type name",
			row:  `{"PrimaryKey":"[I:9]","personId":"[I:12]","assocType":"ExternalAssociate","isActive":"[B:1]"}`,
			want: AssociateRow{AssociateID: 9, PersonID: 12, TypeCode: 4, HasType: true, HasActive: true},
		},
		{
			name: "only the key: type and activity unknown",
			row:  `{"PrimaryKey":5}`,
			want: AssociateRow{AssociateID: 5},
		},
		{name: "no key", row: `{"personId":1}`, wantErr: "expected a positive associateDbId or PrimaryKey"},
		{name: "a key that is not a number", row: `{"PrimaryKey":"abc"}`, wantErr: `expected an integer, got "abc"`},
		{name: "an unknown type name", row: `{"PrimaryKey":1,"assocType":"Robot"}`, wantErr: `expected a known associate type, got "Robot"`},
		{name: "isActive not a boolean", row: `{"PrimaryKey":1,"isActive":"maybe"}`, wantErr: "expected a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.row), &raw); err != nil {
				t.Fatal(err)
			}
			got, err := decodeAssociateRow(raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("expected an error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTypeNamesMapToDatabaseCodes(t *testing.T) {
	tests := []struct {
		name string
		code int32
	}{
		{"InternalAssociate", 0},
		{"ResourceAssociate", 1},
		{"ExternalAssociate", 4},
		{"AnonymousAssociate", 7},
		{"SystemAssociate", 13},
	}
	for _, tt := range tests {
		code, ok := TypeCodeFromName(tt.name)
		if !ok || code != tt.code {
			t.Errorf("TypeCodeFromName(%q) = %d, %v; want %d, true", tt.name, code, ok, tt.code)
		}
		if got := TypeNameFromCode(tt.code); got != tt.name {
			t.Errorf("TypeNameFromCode(%d) = %q, want %q", tt.code, got, tt.name)
		}
	}
	if _, ok := TypeCodeFromName("Robot"); ok {
		t.Error("an unknown name must not map to a code")
	}
}

func TestParsePrivateKeyAcceptsPKCS1AndPKCS8RSAOnly(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // a test key; size does not matter here
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	tests := []struct {
		name    string
		pem     []byte
		wantErr string
	}{
		{"PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), ""},
		{"PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), ""},
		{"PKCS#8 EC", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecPKCS8}), "expected an RSA key"},
		{"a certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), `got "CERTIFICATE"`},
		{"not PEM", []byte("secret-looking-text"), "expected a PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivateKey(tt.pem)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("expected an error containing %q, got %v", tt.wantErr, err)
			}
			if strings.Contains(err.Error(), "secret-looking-text") {
				t.Fatal("the error quotes the key material")
			}
		})
	}
}

func TestSignSystemUserTokenSignsTokenAndUTCMinute(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // a test key
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 59, 0, time.FixedZone("CET", 3600))
	signed, err := SignSystemUserToken(key, "SysUser.with.dots", at)
	if err != nil {
		t.Fatal(err)
	}
	message, sig, _ := strings.Cut(strings.TrimPrefix(signed, "SysUser.with.dots.202603040406"), ".")
	if message != "" {
		t.Fatalf("expected <token>.<UTC yyyyMMddHHmm>.<signature>, got %q", signed)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatalf("expected a standard base64 signature, got %q: %v", sig, err)
	}
	digest := sha256.Sum256([]byte("SysUser.with.dots.202603040406"))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], raw); err != nil {
		t.Fatalf("the signature does not verify as PKCS#1 v1.5 SHA-256: %v", err)
	}
}

func TestCredentialsAndWebhooksNeverPrintTheirSecrets(t *testing.T) {
	creds := Credentials{ApplicationToken: "app-secret", SystemUserToken: "sys-secret", PrivateKeyPEM: []byte("pem-secret"), Ticket: "ticket-secret"}
	hook := Webhook{WebhookID: 1, Name: "n", Secret: "hook-secret"}
	for _, s := range []string{fmtV(creds), fmtSharpV(creds), fmtV(hook), fmtSharpV(hook), fmtV(&hook)} {
		for _, secret := range []string{"app-secret", "sys-secret", "pem-secret", "ticket-secret", "hook-secret"} {
			if strings.Contains(s, secret) {
				t.Errorf("printed value %q shows %s", s, secret)
			}
		}
	}
}
