// Package signature signs and verifies bodies the way SuperOffice signs webhook deliveries:
// standard base64 (with padding) of HMAC-SHA256 over the raw body, keyed with the UTF-8
// bytes of the shared secret. The ingress, cmd/sendevent and HTTP actions all use it.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// encodedLen is the length of a base64-encoded SHA-256 MAC: 44 characters with padding.
var encodedLen = base64.StdEncoding.EncodedLen(sha256.Size)

// Sign returns base64(HMAC-SHA256(key = secret, message = body)).
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is the signature of body under at least one of secrets.
// The header is decoded once and every comparison is constant-time; a signature of the
// wrong length or alphabet never matches.
func Verify(body []byte, signature string, secrets [][]byte) bool {
	if len(signature) != encodedLen || len(secrets) == 0 {
		return false
	}
	// Copy into fixed arrays so that decoding does not allocate on the hot path.
	var encoded [44]byte
	copy(encoded[:], signature)
	var want [sha256.Size + 1]byte
	n, err := base64.StdEncoding.Decode(want[:], encoded[:])
	if err != nil || n != sha256.Size {
		return false
	}
	var sum [sha256.Size]byte
	matched := false
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		// Keep trying the other keys even after a match so timing does not tell which key matched.
		if hmac.Equal(mac.Sum(sum[:0]), want[:sha256.Size]) {
			matched = true
		}
	}
	return matched
}
