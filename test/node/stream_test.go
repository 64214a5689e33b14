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

// createdDelivery is the documented associate.created event for associate id and person,
// with its own EventId.
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

const (
	// A stream's associates share streamPersons persons, so that its provisioning is
	// a few ServiceAccounts however long the disruption lasts.
	streamPersons = 16
	// streamPause is each worker's pause between deliveries.
	streamPause = 100 * time.Millisecond
	// streamStart: the streams' first ids are multiples of it.
	streamStart = 100_000
)

// streamPerson is the person of a stream's associate id: streams start at multiples of
// streamStart, and each has streamPersons persons from its start on.
func streamPerson(id int64) int64 {
	return id - id%streamStart + id%streamPersons
}

// stream delivers created events (associates first, first+1, ...; persons streamPerson) from
// workers goroutines, runs disrupt once a third of least have been sent, and goes on
// until disrupt has returned and at least least were sent, so that deliveries span the
// whole disruption; most and a deadline bound it. It returns the ids that got 200.
func (s *sender) stream(t *testing.T, first int64, least, most, workers int, disrupt func()) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	var (
		mu        sync.Mutex
		delivered []int64
		failures  []string
		next      atomic.Int64
		once      sync.Once
		wg        sync.WaitGroup
	)
	// disrupt runs on its own goroutine, so it reports with t.Errorf and polls with poll,
	// never t.Fatal; disrupted is closed however it ends.
	disrupted := make(chan struct{})
	var started atomic.Bool
	finished := func(sent int64) bool {
		select {
		case <-disrupted:
			return sent >= int64(least)
		default:
			return sent >= int64(most) || ctx.Err() != nil
		}
	}
	for range workers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if finished(n - 1) {
					return
				}
				if n == int64(least/3) {
					once.Do(func() {
						started.Store(true)
						go func() { defer close(disrupted); disrupt() }()
					})
				}
				id := first + n - 1
				err := s.deliver(ctx, createdDelivery(t, id, streamPerson(id)))
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("associate %d: %v", id, err))
				} else {
					delivered = append(delivered, id)
				}
				mu.Unlock()
				select { // a steady stream rather than a flood
				case <-ctx.Done():
				case <-time.After(streamPause):
				}
			}
		})
	}
	wg.Wait()
	if !started.Load() {
		t.Errorf("the stream ended (%d sent) before the disruption began", next.Load()-1)
	} else {
		select {
		case <-disrupted:
		default:
			t.Errorf("the stream ended (%d sent) before the disruption did", next.Load()-1)
			<-disrupted
		}
	}
	for _, f := range failures {
		t.Errorf("delivery failed: %s", f)
	}
	sort.Slice(delivered, func(i, j int) bool { return delivered[i] < delivered[j] })
	return delivered
}

// summary says how the deliveries were answered since the last summary.
// poll checks until check returns nil or timeout passes, and returns its last error: for
// goroutines other than the test's, which must not call t.Fatal.
func poll(ctx context.Context, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *sender) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	text := fmt.Sprint(s.outcomes)
	s.outcomes = map[string]int{}
	return text
}
