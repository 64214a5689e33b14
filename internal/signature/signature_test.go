package signature

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignMatchesAKnownHMACSHA256Vector(t *testing.T) {
	// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	const want = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
	if got != want {
		t.Fatalf("Sign with RFC 4231 case 2: want %s, got %s", want, got)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"EventId":"x"}`)
	oldKey, newKey := []byte("old-secret"), []byte("new-secret")
	good := Sign(newKey, body)
	tests := []struct {
		name      string
		body      []byte
		signature string
		secrets   [][]byte
		want      bool
	}{
		{"the signature of the body under the only key", body, good, [][]byte{newKey}, true},
		{"the signature under the second of two keys (rotation)", body, good, [][]byte{oldKey, newKey}, true},
		{"the signature under a key that is not accepted", body, good, [][]byte{oldKey}, false},
		{"a signature over other bytes", []byte(`{"EventId":"y"}`), good, [][]byte{newKey}, false},
		{"a body that differs only in whitespace", []byte(`{"EventId": "x"}`), good, [][]byte{newKey}, false},
		{"an empty signature", body, "", [][]byte{newKey}, false},
		{"no accepted keys", body, good, nil, false},
		{"a signature that is not base64", body, strings.Repeat("!", 44), [][]byte{newKey}, false},
		{"a signature without padding", body, strings.TrimRight(good, "="), [][]byte{newKey}, false},
		{"a hex signature", body, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", [][]byte{newKey}, false},
		{"a prefixed signature", body, "sha256=" + good, [][]byte{newKey}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.body, tt.signature, tt.secrets); got != tt.want {
				t.Fatalf("Verify: want %v, got %v", tt.want, got)
			}
		})
	}
}

func TestVerifyAcceptsTheDocumentedPayloadsSignedBySign(t *testing.T) {
	files, _ := filepath.Glob("../ingress/samples/events/*.json")
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !Verify(body, Sign([]byte("s3cret"), body), [][]byte{[]byte("s3cret")}) {
			t.Errorf("%s: a body signed by Sign was refused by Verify", file)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	secrets := [][]byte{[]byte("old-secret"), []byte("new-secret")}
	sig := Sign(secrets[1], body)
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(body, sig, secrets) {
			b.Fatal("refused a good signature")
		}
	}
}

func TestVerifyAgreesWithCryptoHMACForKeysOfEveryLength(t *testing.T) {
	// Keys shorter than, equal to and longer than SHA-256's 64-byte block (longer keys are hashed first).
	for _, keyLen := range []int{1, 6, 63, 64, 65, 200} {
		key := []byte(strings.Repeat("k", keyLen))
		for _, body := range [][]byte{nil, []byte("x"), []byte(strings.Repeat("body", 300))} {
			if !Verify(body, Sign(key, body), [][]byte{key}) {
				t.Errorf("key of %d bytes, body of %d bytes: Verify refused what crypto/hmac signed", keyLen, len(body))
			}
			if Verify(body, Sign(key, body), [][]byte{append(key, 'x')}) {
				t.Errorf("key of %d bytes, body of %d bytes: Verify accepted the signature under another key", keyLen, len(body))
			}
		}
	}
}
