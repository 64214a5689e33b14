// Package fake is a SuperOffice stand-in for tests and local runs, faithful to the
// documented shapes: the tenant state, system-user authentication with a JWT from its own
// JWKS, the paged AllUsers archive, GetAssociate and webhook CRUD that tests the target on
// save. Tests steer it: associates, webhook states, ticket expiry, injected failures and
// event deliveries (sent or dropped).
package fake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/assocsync/associate-operator/internal/superoffice"
)

// Options configures a fake tenant. Zero values get working defaults.
type Options struct {
	// Tenant is the ContextIdentifier served (default Cust12345).
	Tenant string
	// ApplicationToken and SystemUserToken are the credentials it accepts (random when empty).
	ApplicationToken string
	SystemUserToken  string
	// ClientKey is the application's key pair whose signatures it accepts (generated when nil).
	ClientKey *rsa.PrivateKey
	// SigningKey signs the JWTs (generated when nil); tests share one to save time.
	SigningKey *rsa.PrivateKey
	// PublicURL is the fake's own address; when empty it is taken from each request's Host.
	PublicURL string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// TicketLifetime is how long an issued ticket works (default 6 h).
	TicketLifetime time.Duration
	// DeliveryClient sends test events and deliveries (default: 5 s timeout).
	DeliveryClient *http.Client
}

// SuperOffice is the fake; it is an http.Handler (serve it with httptest.NewServer).
type SuperOffice struct {
	opts Options
	mux  *http.ServeMux

	mu             sync.Mutex
	associates     map[int64]Associate
	removed        map[int64]Associate // for the deleted event's Values
	stringKeys     bool
	webhooks       map[int64]*webhookState
	nextWebhookID  int64
	tickets        map[string]time.Time // ticket -> expiry
	signers        []*signer            // [0] signs; all published in the JWKS
	forgeTokens    bool
	faults         map[Route][]*Fault
	calls          map[Route]int
	dropDeliveries int
	tenantState    string
	stateAPI       string // the Api the state endpoint answers instead of the fake's own
	beforePage     func(skip int)
	hidden         map[int64]bool // left out of the listing, still found by GetAssociate
	tokenContext   string         // the ctx claim of issued JWTs instead of the tenant
}

// New builds a fake tenant; generating its keys takes a moment.
func New(opts Options) (*SuperOffice, error) {
	if opts.Tenant == "" {
		opts.Tenant = "Cust12345"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TicketLifetime <= 0 {
		opts.TicketLifetime = 6 * time.Hour
	}
	if opts.DeliveryClient == nil {
		opts.DeliveryClient = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.ApplicationToken == "" {
		opts.ApplicationToken = "app-" + randomHex(16)
	}
	if opts.SystemUserToken == "" {
		opts.SystemUserToken = "SysUser-" + randomHex(16)
	}
	if opts.ClientKey == nil {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generating the application key: %w", err)
		}
		opts.ClientKey = key
	}
	s := &SuperOffice{
		opts:          opts,
		associates:    map[int64]Associate{},
		removed:       map[int64]Associate{},
		webhooks:      map[int64]*webhookState{},
		nextWebhookID: 1,
		tickets:       map[string]time.Time{},
		faults:        map[Route][]*Fault{},
		calls:         map[Route]int{},
		tenantState:   superoffice.StateRunning,
		hidden:        map[int64]bool{},
	}
	sg := &signer{kid: "fake-" + randomHex(6), key: opts.SigningKey}
	if sg.key == nil {
		var err error
		if sg, err = newSigner(); err != nil {
			return nil, err
		}
	}
	s.signers = []*signer{sg}
	s.routes()
	return s, nil
}

// Tenant is the ContextIdentifier served.
func (s *SuperOffice) Tenant() string { return s.opts.Tenant }

// Credentials are what a client needs for the system-user flow against this fake.
func (s *SuperOffice) Credentials() superoffice.Credentials {
	return superoffice.Credentials{
		ApplicationToken: s.opts.ApplicationToken,
		SystemUserToken:  s.opts.SystemUserToken,
		PrivateKeyPEM:    s.ClientKeyPEM(),
	}
}

// ClientKeyPEM is the application's private key, PKCS#1 PEM.
func (s *SuperOffice) ClientKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.opts.ClientKey)})
}

func (s *SuperOffice) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *SuperOffice) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/state/{tenant}", s.faulty(RouteState, s.handleState))
	m.HandleFunc("POST /Login/api/PartnerSystemUser/Authenticate", s.faulty(RouteAuthenticate, s.handleAuthenticate))
	m.HandleFunc("GET /login/.well-known/jwks", s.faulty(RouteJWKS, s.handleJWKS))
	api := func(route Route, h http.HandlerFunc) http.HandlerFunc { return s.faulty(route, s.tenantAPI(h)) }
	m.HandleFunc("GET /{tenant}/api/v1/Archive/AllUsers", api(RouteAllUsers, s.handleAllUsers))
	m.HandleFunc("GET /{tenant}/api/v1/User", api(RouteAllUsers, s.handleAllUsers))
	m.HandleFunc("POST /{tenant}/api/v1/Agents/Associate/GetAssociate", api(RouteGetAssociate, s.handleGetAssociate))
	m.HandleFunc("GET /{tenant}/api/v1/Webhook", api(RouteWebhooks, s.handleListWebhooks))
	m.HandleFunc("POST /{tenant}/api/v1/Webhook", api(RouteWebhooks, s.handleCreateWebhook))
	m.HandleFunc("POST /{tenant}/api/v1/Webhook/Test", api(RouteWebhooks, s.handleTestWebhook))
	m.HandleFunc("GET /{tenant}/api/v1/Webhook/{id}", api(RouteWebhooks, s.handleGetWebhook))
	m.HandleFunc("PUT /{tenant}/api/v1/Webhook/{id}", api(RouteWebhooks, s.handleUpdateWebhook))
	m.HandleFunc("DELETE /{tenant}/api/v1/Webhook/{id}", api(RouteWebhooks, s.handleDeleteWebhook))
	m.HandleFunc("GET /{tenant}/api/v1/Webhook/{id}/LastError", api(RouteWebhooks, s.handleLastError))
	s.adminRoutes(m)
	s.mux = m
}

// baseURL is the fake's address as the client sees it.
func (s *SuperOffice) baseURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return s.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// SetTenantState sets the State the state endpoint reports (Running, Suspended, …).
func (s *SuperOffice) SetTenantState(state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenantState = state
}

// SetStateAPI makes the state endpoint answer api as the tenant's Api (a foreign host, a
// plain-http URL) instead of the fake's own address; "" restores it.
func (s *SuperOffice) SetStateAPI(api string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stateAPI = api
}

// APIURL is the tenant's API base under the fake's base URL.
func (s *SuperOffice) APIURL(base string) string { return base + "/" + s.opts.Tenant + "/api" }

func (s *SuperOffice) handleState(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if tenant != s.opts.Tenant {
		writeError(w, http.StatusNotFound, "SoNotFoundException", "no tenant "+tenant)
		return
	}
	base := s.baseURL(r)
	s.mu.Lock()
	state, api := s.tenantState, s.stateAPI
	s.mu.Unlock()
	if api == "" {
		api = s.APIURL(base)
	}
	writeJSON(w, http.StatusOK, superoffice.TenantState{
		ContextIdentifier: tenant,
		Endpoint:          base + "/" + tenant,
		State:             state,
		IsRunning:         state == superoffice.StateRunning,
		ValidUntil:        s.opts.Now().UTC().Add(time.Hour).Format(time.RFC3339Nano),
		Api:               api,
	})
}

// tenantAPI checks the tenant in the path, the ticket and the app token, as the API does.
func (s *SuperOffice) tenantAPI(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("tenant") != s.opts.Tenant {
			writeError(w, http.StatusMisdirectedRequest, "TenantMisdirected", "tenant "+r.PathValue("tenant")+" does not live here")
			return
		}
		if msg, ok := s.checkTicket(r); !ok {
			writeError(w, http.StatusUnauthorized, "SoAuthenticationException", msg)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // URLs with & stay readable, as .NET writes them
	_ = enc.Encode(v)
}

// writeError answers in SuperOffice's documented error shape.
func writeError(w http.ResponseWriter, status int, errorType, msg string) {
	writeJSON(w, status, map[string]any{
		"Error": true, "ErrorType": errorType, "ErrorMessage": msg, "ErrorSource": "fake-superoffice",
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
