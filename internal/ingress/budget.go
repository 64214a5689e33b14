package ingress

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sync/semaphore"
)

// DefaultMaxInflightBodyBytes is the default budget of body bytes read at once
// (--max-inflight-body-bytes).
const DefaultMaxInflightBodyBytes = 32 << 20

// bodyBudget bounds the body bytes that all requests together hold while they are read
// and checked: a request reserves its Content-Length (or, without one, its limit) before
// any byte is read, and a request that does not fit is refused unread. Senders are not
// authenticated until their body is read, so this is what keeps a flood of slow large
// bodies from exhausting the manager's memory.
type bodyBudget struct {
	sem   *semaphore.Weighted
	total int64
}

func newBodyBudget(total int64) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(total), total: total}
}

// reserve takes n bytes of the budget without waiting; release gives them back (once).
// A nil budget reserves anything.
func (b *bodyBudget) reserve(n int64) (release func(), ok bool) {
	if b == nil || n <= 0 {
		return func() {}, true
	}
	if !b.sem.TryAcquire(n) {
		return nil, false
	}
	released := false
	return func() {
		if !released {
			released = true
			b.sem.Release(n)
		}
	}, true
}

// errBodyTooLarge: the body is longer than its limit.
type errBodyTooLarge struct{ limit int64 }

func (e errBodyTooLarge) Error() string {
	return fmt.Sprintf("body larger than the limit of %d bytes", e.limit)
}

// readChunk is the first allocation for a body of unknown length.
const readChunk = 32 << 10

// readBody reads at most limit bytes. A body of known length is read into one buffer of
// exactly that size; one of unknown length grows its buffer up to limit, never past it, so
// that what it holds stays within what was reserved for it.
func readBody(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength >= 0 {
		if contentLength > limit {
			return nil, errBodyTooLarge{limit}
		}
		body := make([]byte, contentLength)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	body := make([]byte, 0, min(readChunk, limit+1))
	for {
		if len(body) == cap(body) {
			if int64(len(body)) > limit {
				return nil, errBodyTooLarge{limit}
			}
			grown := make([]byte, len(body), min(2*int64(cap(body)), limit+1))
			copy(grown, body)
			body = grown
		}
		n, err := r.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if int64(len(body)) > limit {
			return nil, errBodyTooLarge{limit}
		}
		if errors.Is(err, io.EOF) {
			return body, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
