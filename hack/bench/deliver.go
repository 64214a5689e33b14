package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// webhookSender posts signed deliveries to one webhook URL over a pool of keep-alive
// connections sized for the benchmark's concurrency, as SuperOffice would.
type webhookSender struct {
	url    string
	client *http.Client
}

func newWebhookSender(url string, concurrency int) *webhookSender {
	return &webhookSender{url: url, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: concurrency, MaxIdleConns: concurrency,
	}}}
}

// send posts one delivery and returns the reply's body; anything but 200 is an error.
func (w *webhookSender) send(ctx context.Context, body []byte, event, signature string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-SuperOffice-Event", event)
	req.Header.Set("X-SuperOffice-Signature", signature)
	resp, err := w.client.Do(req)
	if err != nil {
		return "", err
	}
	reply, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("answered %d: %s", resp.StatusCode, reply)
	}
	return string(reply), nil
}
