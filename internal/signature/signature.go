// Package signature signs and verifies bodies the way SuperOffice signs webhook deliveries:
// standard base64 (with padding) of HMAC-SHA256 over the raw body, keyed with the UTF-8
// bytes of the shared secret. The ingress, cmd/sendevent and HTTP actions all use it.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"
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
	m := macs.Get().(*macState)
	defer macs.Put(m)
	var sum [sha256.Size]byte
	matched := false
	for _, secret := range secrets {
		// Keep trying the other keys even after a match so timing does not tell which key matched.
		if hmac.Equal(m.sum(secret, body, &sum), want[:sha256.Size]) {
			matched = true
		}
	}
	return matched
}

// blockSize is SHA-256's block size, the length HMAC pads keys to.
const blockSize = 64

// macState is HMAC-SHA256 (RFC 2104) with a reusable digest and pads: hmac.New allocates
// two digests and two pads per key and delivery, which was most of Verify's garbage.
// Sign's crypto/hmac gives the same bytes (see the tests).
type macState struct {
	inner hash.Hash
	pad   [blockSize]byte               // key XOR ipad
	outer [blockSize + sha256.Size]byte // key XOR opad, then the inner sum
}

var macs = sync.Pool{New: func() any { return &macState{inner: sha256.New()} }}

func (m *macState) sum(key, body []byte, sum *[sha256.Size]byte) []byte {
	var k [blockSize]byte
	if len(key) > blockSize {
		hashed := sha256.Sum256(key)
		copy(k[:], hashed[:])
	} else {
		copy(k[:], key)
	}
	for i := range k {
		m.pad[i] = k[i] ^ 0x36
		m.outer[i] = k[i] ^ 0x5c
	}
	m.inner.Reset()
	m.inner.Write(m.pad[:])
	m.inner.Write(body)
	m.inner.Sum(m.outer[blockSize:blockSize])
	*sum = sha256.Sum256(m.outer[:])
	return sum[:]
}
