package superoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// TenantState is the answer of {env}/api/state/{tenant}.
type TenantState struct {
	ContextIdentifier string `json:"ContextIdentifier"`
	Endpoint          string `json:"Endpoint"`
	// State is Running when the tenant serves; also Unknown, Provisioning, Deleted,
	// Suspended, OnlineMaintenance, OfflineMaintenance, ProvisioningFailed, Deleting,
	// DeleteFailed or MigrationPending.
	State      string `json:"State"`
	IsRunning  bool   `json:"IsRunning"`
	ValidUntil string `json:"ValidUntil"`
	Api        string `json:"Api"` //nolint:revive // SuperOffice's field name
}

// StateRunning is the one tenant state the client works with.
const StateRunning = "Running"

// errNotRunning is wrapped by the lookup when the tenant is in any state but Running.
var errNotRunning = errors.New("tenant is not running")

// LookupTenant asks the environment where the tenant lives and whether it runs.
// It does not use or change the cached API base.
func (c *Client) LookupTenant(ctx context.Context) (TenantState, error) {
	call := "look up tenant state"
	u := c.envURL + "/api/state/" + url.PathEscape(c.tenant)
	status, body, err := c.send(ctx, call, http.MethodGet, u, nil, nil)
	if err != nil {
		return TenantState{}, err
	}
	if status != http.StatusOK {
		return TenantState{}, c.newAPIError(call, status, body)
	}
	var st TenantState
	if err := json.Unmarshal(body, &st); err != nil {
		return TenantState{}, fmt.Errorf("superoffice tenant %s: %s: expected the state JSON, got an undecodable answer: %w", c.tenant, call, err)
	}
	return st, nil
}

// APIBase is the tenant's API base URL (…/Cust12345/api): the configured one, or the
// looked-up one, cached until SuperOffice answers 421. A tenant that is not Running is
// refused, and so is a looked-up Api off the environment's domain (checkLookedUpAPI).
func (c *Client) APIBase(ctx context.Context) (string, error) {
	c.baseMu.Lock()
	defer c.baseMu.Unlock()
	if c.apiBase != "" {
		return c.apiBase, nil
	}
	st, err := c.LookupTenant(ctx)
	if err != nil {
		return "", err
	}
	if st.State != StateRunning {
		return "", fmt.Errorf("superoffice tenant %s: expected state %s, got %q: %w", c.tenant, StateRunning, st.State, errNotRunning)
	}
	if st.Api == "" {
		return "", fmt.Errorf("superoffice tenant %s: expected an Api URL in the tenant state, got none", c.tenant)
	}
	if err := checkLookedUpAPI(c.env, st.Api); err != nil {
		return "", fmt.Errorf("superoffice tenant %s: %w", c.tenant, err)
	}
	c.apiBase = strings.TrimRight(st.Api, "/")
	return c.apiBase, nil
}

// forgetAPIBase drops the cached base if it is still the one that failed.
func (c *Client) forgetAPIBase(failed string) {
	c.baseMu.Lock()
	defer c.baseMu.Unlock()
	if c.fixedAPIURL == "" && c.apiBase == failed {
		c.apiBase = ""
	}
}

// IsTenantNotRunning reports whether err is the lookup refusing a tenant that does not run.
func IsTenantNotRunning(err error) bool { return errors.Is(err, errNotRunning) }
