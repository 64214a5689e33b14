// Package superoffice is a small client for the parts of the SuperOffice REST API the
// operator uses: the tenant lookup, the system-user flow, the associate listing and the
// webhook registration. One Client serves one tenant; it is safe for concurrent use.
package superoffice

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultEnvironmentURL is SuperOffice Online's production environment.
const DefaultEnvironmentURL = "https://online.superoffice.com"

// Defaults for the knobs of Config left zero.
const (
	DefaultPageSize       = 1000
	DefaultCallTimeout    = 30 * time.Second
	DefaultMaxAttempts    = 4
	DefaultMaxRetryWait   = 30 * time.Second
	DefaultTicketMaxAge   = 5*time.Hour + 50*time.Minute
	defaultBackoffBase    = 500 * time.Millisecond
	defaultJWKSMinRefetch = 10 * time.Second
)

// Config says how to reach one tenant.
type Config struct {
	// EnvironmentURL serves the tenant lookup, the authentication and the JWKS
	// (default https://online.superoffice.com). It must be https, or http on a loopback host.
	EnvironmentURL string
	// APIURL is the tenant's API base (…/Cust12345/api); when set the lookup is skipped.
	// It must be https, or http on a loopback host; without it the looked-up Api must be
	// https on the environment's parent domain.
	APIURL string
	// Tenant is the ContextIdentifier, e.g. Cust12345.
	Tenant string
	// Credentials for the system-user flow, or a ready ticket.
	Credentials Credentials
	// HTTPClient makes the calls; nil means a client with CallTimeout as its timeout.
	// Either way redirects are not followed.
	HTTPClient *http.Client
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// PageSize is the $top of the associate listing (default 1000, as documented).
	PageSize int
	// CallTimeout bounds each HTTP attempt (default 30 s).
	CallTimeout time.Duration
	// MaxAttempts bounds the attempts of one call answered 429/503 (default 4).
	MaxAttempts int
	// MaxRetryWait caps one wait between attempts, whatever Retry-After says (default 30 s).
	MaxRetryWait time.Duration
	// BackoffBase is the first wait when a 429/503 has no Retry-After (default 500 ms).
	BackoffBase time.Duration
	// TicketMaxAge is when a cached ticket is renewed before use (default 5h50m; tickets live up to 6 h).
	TicketMaxAge time.Duration
}

// Credentials authenticate the operator as a partner application's system user.
// Either ApplicationToken, SystemUserToken and PrivateKeyPEM, or Ticket (with
// ApplicationToken when the tenant asks for SO-AppToken). String never shows them.
type Credentials struct {
	ApplicationToken string
	SystemUserToken  string
	// PrivateKeyPEM is the application's RSA key, PKCS#1 or PKCS#8.
	PrivateKeyPEM []byte
	// Ticket is a ready SOTicket; with it no authentication takes place.
	Ticket string
}

// String keeps credentials out of logs and error messages.
func (Credentials) String() string { return "superoffice.Credentials{redacted}" }

// GoString keeps credentials out of %#v as well.
func (c Credentials) GoString() string { return c.String() }

// Client calls the SuperOffice REST API of one tenant.
type Client struct {
	env          *url.URL
	envURL       string
	fixedAPIURL  string
	tenant       string
	appToken     string
	sysUserToken string
	privateKey   *rsa.PrivateKey
	staticTicket string

	http         *http.Client
	now          func() time.Time
	pageSize     int
	callTimeout  time.Duration
	maxAttempts  int
	maxRetryWait time.Duration
	backoffBase  time.Duration
	ticketMaxAge time.Duration

	// sleep waits between attempts; replaced in tests that count waits.
	sleep func(ctxDone <-chan struct{}, d time.Duration) bool

	baseMu  sync.Mutex
	apiBase string

	authMu sync.Mutex // serialises authentication so concurrent calls share one ticket
	tickMu sync.Mutex
	ticket *Ticket
	jwksMu sync.Mutex
	jwks   *jwksCache
}

// New checks the configuration and builds a Client; it makes no call yet.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Tenant) == "" {
		return nil, errors.New("superoffice: tenant (ContextIdentifier) is required, got none")
	}
	c := &Client{
		envURL:       strings.TrimRight(firstNonEmpty(cfg.EnvironmentURL, DefaultEnvironmentURL), "/"),
		fixedAPIURL:  strings.TrimRight(cfg.APIURL, "/"),
		tenant:       cfg.Tenant,
		appToken:     cfg.Credentials.ApplicationToken,
		sysUserToken: cfg.Credentials.SystemUserToken,
		staticTicket: cfg.Credentials.Ticket,
		http:         cfg.HTTPClient,
		now:          cfg.Now,
		pageSize:     orDefault(cfg.PageSize, DefaultPageSize),
		callTimeout:  orDefault(cfg.CallTimeout, DefaultCallTimeout),
		maxAttempts:  orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		maxRetryWait: orDefault(cfg.MaxRetryWait, DefaultMaxRetryWait),
		backoffBase:  orDefault(cfg.BackoffBase, defaultBackoffBase),
		ticketMaxAge: orDefault(cfg.TicketMaxAge, DefaultTicketMaxAge),
		sleep:        sleepCtx,
		jwks:         &jwksCache{},
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: c.callTimeout}
	}
	c.http = noRedirects(c.http)
	env, err := checkEndpoint("environmentURL", c.envURL)
	if err != nil {
		return nil, fmt.Errorf("superoffice tenant %s: %w", c.tenant, err)
	}
	c.env = env
	if c.fixedAPIURL != "" {
		if _, err := checkEndpoint("url", c.fixedAPIURL); err != nil {
			return nil, fmt.Errorf("superoffice tenant %s: %w", c.tenant, err)
		}
	}
	c.apiBase = c.fixedAPIURL
	if c.staticTicket == "" {
		var missing []string
		if c.appToken == "" {
			missing = append(missing, "applicationToken")
		}
		if c.sysUserToken == "" {
			missing = append(missing, "systemUserToken")
		}
		if len(cfg.Credentials.PrivateKeyPEM) == 0 {
			missing = append(missing, "privateKey")
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("superoffice tenant %s: credentials need a ticket, or applicationToken, systemUserToken and privateKey; missing %s",
				c.tenant, strings.Join(missing, ", "))
		}
		key, err := ParsePrivateKey(cfg.Credentials.PrivateKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("superoffice tenant %s: %w", c.tenant, err)
		}
		c.privateKey = key
	}
	return c, nil
}

// Tenant is the ContextIdentifier this client serves.
func (c *Client) Tenant() string { return c.tenant }

// PageSize is the listing's page size.
func (c *Client) PageSize() int { return c.pageSize }

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func sleepCtx(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
