package superoffice

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// APIError is a call SuperOffice answered with an error status. It names the tenant, the
// call and SuperOffice's own ErrorType and ErrorMessage; it never carries credentials.
type APIError struct {
	Tenant     string
	Call       string
	StatusCode int
	// ErrorType and Message come from SuperOffice's {"Error":true,"ErrorType","ErrorMessage"}.
	ErrorType string
	Message   string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("superoffice tenant %s: %s: expected success, got HTTP %d %s", e.Tenant, e.Call, e.StatusCode, http.StatusText(e.StatusCode))
	if e.ErrorType != "" {
		msg += " (" + e.ErrorType + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// IsNotFound reports whether err is SuperOffice answering 404.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// StatusCode is the HTTP status of an APIError in err's chain, or 0.
func StatusCode(err error) int { return statusOf(err) }

func statusOf(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// errorBody is SuperOffice's documented error shape.
type errorBody struct {
	Error        bool   `json:"Error"`
	ErrorType    string `json:"ErrorType"`
	ErrorMessage string `json:"ErrorMessage"`
}

// newAPIError reads SuperOffice's error fields from body; other bodies are not quoted,
// because a body could echo what we sent.
func (c *Client) newAPIError(call string, status int, body []byte) *APIError {
	e := &APIError{Tenant: c.tenant, Call: call, StatusCode: status}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.ErrorType = eb.ErrorType
		e.Message = truncate(eb.ErrorMessage, 300)
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
