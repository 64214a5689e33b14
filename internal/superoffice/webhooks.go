package superoffice

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Webhook states.
const (
	WebhookStateUnknown       = "Unknown"
	WebhookStateActive        = "Active"
	WebhookStateStopped       = "Stopped"
	WebhookStateTooManyErrors = "TooManyErrors"
)

// Webhook is SuperOffice's webhook entity. String leaves the Secret out.
type Webhook struct {
	WebhookID           int64             `json:"WebhookId"`
	Name                string            `json:"Name"`
	Events              []string          `json:"Events"`
	TargetURL           string            `json:"TargetUrl"`
	Secret              string            `json:"Secret"`
	State               string            `json:"State"`
	Type                string            `json:"Type"`
	Headers             map[string]string `json:"Headers"`
	Properties          map[string]any    `json:"Properties"`
	Registered          string            `json:"Registered,omitempty"`
	RegisteredAssociate any               `json:"RegisteredAssociate"`
	Updated             string            `json:"Updated,omitempty"`
	UpdatedAssociate    any               `json:"UpdatedAssociate"`
	ErrorsEmail         string            `json:"ErrorsEmail,omitempty"`
}

// String keeps the Secret out of logs.
func (w Webhook) String() string {
	return fmt.Sprintf("webhook %d %q (%s, events %v, state %s)", w.WebhookID, w.Name, w.TargetURL, w.Events, w.State)
}

// GoString keeps the Secret out of %#v as well.
func (w Webhook) GoString() string { return w.String() }

// ListWebhooks lists the webhooks whose name matches nameFilter ("" for all).
func (c *Client) ListWebhooks(ctx context.Context, nameFilter string) ([]Webhook, error) {
	var hooks []Webhook
	q := url.Values{}
	if nameFilter != "" {
		q.Set("nameFilter", nameFilter)
	}
	err := c.apiCall(ctx, request{call: "list webhooks", method: http.MethodGet, path: "/v1/Webhook", query: q.Encode()}, &hooks)
	return hooks, err
}

// FindWebhookByName is the webhook named exactly name, or nil. The nameFilter may match
// more loosely, so the exact name is checked here.
func (c *Client) FindWebhookByName(ctx context.Context, name string) (*Webhook, error) {
	hooks, err := c.ListWebhooks(ctx, name)
	if err != nil {
		return nil, err
	}
	for i := range hooks {
		if hooks[i].Name == name {
			return &hooks[i], nil
		}
	}
	return nil, nil
}

// GetWebhook fetches one webhook; IsNotFound(err) when it is gone.
func (c *Client) GetWebhook(ctx context.Context, id int64) (Webhook, error) {
	var w Webhook
	err := c.apiCall(ctx, request{call: fmt.Sprintf("get webhook %d", id), method: http.MethodGet, path: webhookPath(id)}, &w)
	return w, err
}

// CreateWebhook saves a new webhook. SuperOffice sends the test event to TargetURL first
// and refuses the save unless it answers 200. TargetURL must be https (http only on a
// loopback host), as the receiver's signed deliveries go there.
func (c *Client) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	if err := CheckEndpoint("targetURL", w.TargetURL); err != nil {
		return Webhook{}, fmt.Errorf("superoffice tenant %s: create webhook %q: %w", c.tenant, w.Name, err)
	}
	if w.Type == "" {
		w.Type = "webhook"
	}
	var saved Webhook
	err := c.apiCall(ctx, request{call: fmt.Sprintf("create webhook %q", w.Name), method: http.MethodPost, path: "/v1/Webhook", body: w}, &saved)
	return saved, err
}

// UpdateWebhook replaces webhook w.WebhookID with w; SuperOffice tests TargetURL again.
func (c *Client) UpdateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	if w.WebhookID < 1 {
		return Webhook{}, fmt.Errorf("superoffice tenant %s: update webhook %q: expected a WebhookId, got %d", c.tenant, w.Name, w.WebhookID)
	}
	if err := CheckEndpoint("targetURL", w.TargetURL); err != nil {
		return Webhook{}, fmt.Errorf("superoffice tenant %s: update webhook %d: %w", c.tenant, w.WebhookID, err)
	}
	if w.Type == "" {
		w.Type = "webhook"
	}
	var saved Webhook
	err := c.apiCall(ctx, request{call: fmt.Sprintf("update webhook %d", w.WebhookID), method: http.MethodPut, path: webhookPath(w.WebhookID), body: w}, &saved)
	return saved, err
}

// DeleteWebhook deletes a webhook; one that is already gone counts as deleted.
func (c *Client) DeleteWebhook(ctx context.Context, id int64) error {
	err := c.apiCall(ctx, request{call: fmt.Sprintf("delete webhook %d", id), method: http.MethodDelete, path: webhookPath(id)}, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// WebhookLastError is the last delivery error SuperOffice recorded for a webhook ("" if none).
func (c *Client) WebhookLastError(ctx context.Context, id int64) (string, error) {
	var msg *string
	if err := c.apiCall(ctx, request{call: fmt.Sprintf("get last error of webhook %d", id), method: http.MethodGet, path: webhookPath(id) + "/LastError"}, &msg); err != nil {
		return "", err
	}
	if msg == nil {
		return "", nil
	}
	return *msg, nil
}

func webhookPath(id int64) string { return "/v1/Webhook/" + strconv.FormatInt(id, 10) }
