package superoffice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxBodyBytes bounds what we read from SuperOffice; a listing page of 1000 rows is far smaller.
const maxBodyBytes = 32 << 20

// request is one REST call against the tenant's API base.
type request struct {
	call   string // what the call does, for errors: "list associates (skip 2000)"
	method string
	path   string // after the API base, e.g. "/v1/Webhook"
	query  string // raw query, without '?'; kept raw so OData's $ stays literal
	body   any    // marshalled to JSON when not nil
}

// apiCall sends r with the ticket and app token, looks the tenant up again once on 421,
// renews the ticket once on 401/403, and backs off on 429/503. out receives the JSON answer.
func (c *Client) apiCall(ctx context.Context, r request, out any) error {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("superoffice tenant %s: %s: encoding the request: %w", c.tenant, r.call, err)
		}
	}
	relookedUp, renewed := false, false
	for {
		base, err := c.APIBase(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", r.call, err)
		}
		ticket, err := c.currentTicket(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", r.call, err)
		}
		url := base + r.path
		if r.query != "" {
			url += "?" + r.query
		}
		status, body, err := c.send(ctx, r.call, r.method, url, payload, func(h http.Header) {
			h.Set("Authorization", "SOTicket "+ticket)
			if c.appToken != "" {
				h.Set("SO-AppToken", c.appToken)
			}
		})
		if err != nil {
			return err
		}
		switch {
		case status == http.StatusMisdirectedRequest && !relookedUp && c.fixedAPIURL == "":
			// The tenant moved to another host: look it up again and retry once.
			relookedUp = true
			c.forgetAPIBase(base)
			continue
		case (status == http.StatusUnauthorized || status == http.StatusForbidden) && !renewed && c.staticTicket == "":
			renewed = true
			c.forgetTicket(ticket)
			continue
		case status < 200 || status > 299:
			return c.newAPIError(r.call, status, body)
		}
		if out == nil || len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("superoffice tenant %s: %s: expected JSON %T, got an undecodable answer: %w", c.tenant, r.call, out, err)
		}
		return nil
	}
}

// send makes one HTTP exchange, retrying 429 and 503 with backoff (Retry-After honoured,
// capped) for at most maxAttempts attempts. Any other status is returned to the caller.
func (c *Client) send(ctx context.Context, call, method, url string, payload []byte, setHeaders func(http.Header)) (int, []byte, error) {
	for attempt := 1; ; attempt++ {
		status, header, body, err := c.sendOnce(ctx, method, url, payload, setHeaders)
		if err != nil {
			return 0, nil, fmt.Errorf("superoffice tenant %s: %s: %w", c.tenant, call, err)
		}
		if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
			return status, body, nil
		}
		if attempt >= c.maxAttempts {
			apiErr := c.newAPIError(call, status, body)
			apiErr.Message = firstNonEmpty(apiErr.Message, fmt.Sprintf("still refused after %d attempts", attempt))
			return 0, nil, apiErr
		}
		wait := c.retryWait(header.Get("Retry-After"), attempt)
		if !c.sleep(ctx.Done(), wait) {
			return 0, nil, fmt.Errorf("superoffice tenant %s: %s: waiting %s to retry after HTTP %d: %w", c.tenant, call, wait, status, ctx.Err())
		}
	}
}

func (c *Client) sendOnce(ctx context.Context, method, url string, payload []byte, setHeaders func(http.Header)) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if setHeaders != nil {
		setHeaders(req.Header)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL is ours and carries no secret; the error of Do names it, which helps.
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the answer (HTTP %d): %w", resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// retryWait is Retry-After (seconds or an HTTP date) when given, else exponential backoff,
// capped at maxRetryWait either way.
func (c *Client) retryWait(retryAfter string, attempt int) time.Duration {
	wait, ok := parseRetryAfter(retryAfter, c.now())
	if !ok {
		wait = c.backoffBase << (attempt - 1)
	}
	return min(wait, c.maxRetryWait)
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	when, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(when.Sub(now), 0), true
}
