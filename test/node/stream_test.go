package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/signature"
)

// createdDelivery is the documented associate.created event for associate id with its
// own person (so that each gets its own ServiceAccount) and EventId.
func createdDelivery(t *testing.T, id, person int64) []byte {
	t.Helper()
	var payload map[string]any
	if err := json.Unmarshal(samples.MustPayload("created"), &payload); err != nil {
		t.Fatal(err)
	}
	payload["PrimaryKey"], payload["EventId"] = id, fmt.Sprintf("node-suite-%d", id)
	payload["FieldValues"].(map[string]any)["person_id"] = person
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// sender posts signed deliveries to the webhook Service, resending each until it gets
// 200, as SuperOffice does, and counts what came back on the way.
type sender struct {
	url    string
	secret []byte
	client *http.Client

	mu       sync.Mutex
	outcomes map[string]int // "200", "503", "timeout", "reset", ...
	refused  []string       // answers no outage explains (400, 401, 403, 413)
}

func newSender(url string, secret []byte) *sender {
	return &sender{url: url, secret: secret, outcomes: map[string]int{}, client: &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext, MaxIdleConnsPerHost: 8},
	}}
}

// deliver sends body until it gets 200 with result applied or duplicate, or ctx ends.
func (s *sender) deliver(ctx context.Context, body []byte) error {
	for {
		outcome, err := s.post(ctx, body)
		s.mu.Lock()
		s.outcomes[outcome]++
		s.mu.Unlock()
		if err == nil {
			return nil
		}
		if errors.Is(err, errRefused) {
			s.mu.Lock()
			s.refused = append(s.refused, err.Error())
			s.mu.Unlock()
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no 200 before the deadline; last: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var errRefused = errors.New("refused")

func (s *sender) post(ctx context.Context, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return "error", err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-SuperOffice-Signature", signature.Sign(s.secret, body))
	resp, err := s.client.Do(req)
	if err != nil {
		var netErr net.Error
		switch {
		case errors.As(err, &netErr) && netErr.Timeout():
			return "timeout", err
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return "reset", err
		default:
			return "connection error", err
		}
	}
	defer func() { _ = resp.Body.Close() }()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	code := fmt.Sprint(resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusOK:
		var r struct {
			Result string `json:"result"`
		}
		_ = json.Unmarshal(reply, &r)
		if r.Result != "applied" && r.Result != "duplicate" {
			return code, fmt.Errorf("%w: 200 with result %q: %s", errRefused, r.Result, reply)
		}
		return code, nil
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		return code, fmt.Errorf("%w: %d: %s", errRefused, resp.StatusCode, reply)
	default:
		// 503 while a Pod stops or its caches fill, 404 while a new Pod has not seen the
		// receiver yet: SuperOffice resends.
		return code, fmt.Errorf("%d: %s", resp.StatusCode, reply)
	}
}

// stream delivers n created events (associates and persons first, first+1, ...) from
// workers goroutines, calling during once when a third of them got 200. It returns the
// ids that got 200; the deadline bounds it.
func (s *sender) stream(t *testing.T, first int64, n, workers int, during func()) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	ids := make(chan int64, n)
	for i := range n {
		ids <- first + int64(i)
	}
	close(ids)
	var (
		mu        sync.Mutex
		delivered []int64
		done      atomic.Int64
		once      sync.Once
		wg        sync.WaitGroup
		failures  []string
	)
	triggered := make(chan struct{})
	for range workers {
		wg.Go(func() {
			for id := range ids {
				err := s.deliver(ctx, createdDelivery(t, id, id))
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("associate %d: %v", id, err))
				} else {
					delivered = append(delivered, id)
				}
				mu.Unlock()
				if done.Add(1) >= int64(n/3) {
					once.Do(func() {
						go func() { during(); close(triggered) }()
					})
				}
			}
		})
	}
	wg.Wait()
	<-triggered
	for _, f := range failures {
		t.Errorf("delivery failed: %s", f)
	}
	sort.Slice(delivered, func(i, j int) bool { return delivered[i] < delivered[j] })
	return delivered
}

func (s *sender) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.outcomes)
}
