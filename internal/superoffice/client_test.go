package superoffice_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/superoffice"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
)

// The keys are shared by every fake in this package: RSA generation is the slow part.
var (
	clientKey  = sync.OnceValue(generateKey)
	signingKey = sync.OnceValue(generateKey)
)

func generateKey() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
}

// clock is a settable test clock shared by the fake and the client.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	so     *fake.SuperOffice
	srv    *httptest.Server
	clock  *clock
	waits  []time.Duration
	client *superoffice.Client
}

// newEnv starts a fake tenant on loopback and a system-user client against it.
func newEnv(t *testing.T, tweak func(*superoffice.Config)) *env {
	t.Helper()
	clk := &clock{now: time.Now()}
	so, err := fake.New(fake.Options{Tenant: "Cust12345", ClientKey: clientKey(), SigningKey: signingKey(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(so)
	t.Cleanup(srv.Close)
	e := &env{so: so, srv: srv, clock: clk}
	cfg := superoffice.Config{
		EnvironmentURL: srv.URL,
		Tenant:         so.Tenant(),
		Credentials:    so.Credentials(),
		Now:            clk.Now,
		PageSize:       3,
		CallTimeout:    5 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e.client = newClient(t, cfg)
	e.client.SetSleepForTest(func(d time.Duration) { e.waits = append(e.waits, d) })
	return e
}

func newClient(t *testing.T, cfg superoffice.Config) *superoffice.Client {
	t.Helper()
	c, err := superoffice.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustList(t *testing.T, c *superoffice.Client) []superoffice.AssociateRow {
	t.Helper()
	rows, err := c.ListAssociates(ctx(t))
	if err != nil {
		t.Fatalf("ListAssociates: %v", err)
	}
	return rows
}

func TestTenantIsLookedUpOnceThenAgainAfter421(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 2)
	mustList(t, e.client)
	mustList(t, e.client)
	if got := e.so.Calls(fake.RouteState); got != 1 {
		t.Fatalf("expected the tenant state to be looked up once and cached, got %d lookups", got)
	}
	e.so.Fail(fake.RouteAllUsers, fake.Fault{Status: http.StatusMisdirectedRequest})
	if rows := mustList(t, e.client); len(rows) != 2 {
		t.Fatalf("expected the listing to succeed after a 421 with 2 rows, got %d", len(rows))
	}
	if got := e.so.Calls(fake.RouteState); got != 2 {
		t.Fatalf("expected one more lookup after HTTP 421, got %d lookups in all", got)
	}
	base, err := e.client.APIBase(ctx(t))
	if err != nil || base != e.srv.URL+"/Cust12345/api" {
		t.Fatalf("expected API base %s/Cust12345/api, got %q (%v)", e.srv.URL, base, err)
	}
}

func TestAConfiguredAPIURLSkipsTheLookup(t *testing.T) {
	e := newEnv(t, func(c *superoffice.Config) { c.APIURL = c.EnvironmentURL + "/Cust12345/api/" })
	e.so.Seed(1, 1)
	mustList(t, e.client)
	if got := e.so.Calls(fake.RouteState); got != 0 {
		t.Fatalf("expected no tenant lookup with a configured API URL, got %d", got)
	}
}

func TestATenantThatIsNotRunningIsRefusedByName(t *testing.T) {
	e := newEnv(t, nil)
	e.so.SetTenantState("Suspended")
	_, err := e.client.ListAssociates(ctx(t))
	if !superoffice.IsTenantNotRunning(err) || !strings.Contains(err.Error(), `"Suspended"`) || !strings.Contains(err.Error(), "Cust12345") {
		t.Fatalf("expected an error naming tenant Cust12345 and state Suspended, got %v", err)
	}
	if got := e.so.Calls(fake.RouteAllUsers); got != 0 {
		t.Fatalf("expected no API call to a tenant that is not running, got %d", got)
	}
}

func TestSystemUserAuthenticatesOnceAndReusesTheTicket(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 4)
	for range 3 {
		mustList(t, e.client)
	}
	if _, err := e.client.GetAssociate(ctx(t), 2); err != nil {
		t.Fatal(err)
	}
	if got := e.so.Calls(fake.RouteAuthenticate); got != 1 {
		t.Fatalf("expected one authentication for all calls, got %d", got)
	}
	if got := e.so.Calls(fake.RouteJWKS); got != 1 {
		t.Fatalf("expected the JWKS fetched once, got %d", got)
	}
	if want := e.srv.URL + "/Cust12345/api"; e.client.WebAPIURL() != want {
		t.Fatalf("expected the webapi_url claim %q, got %q", want, e.client.WebAPIURL())
	}
}

func TestAForgedJWTIsRefusedAndNoCallIsMade(t *testing.T) {
	e := newEnv(t, nil)
	e.so.SetForgeTokens(true)
	_, err := e.client.ListAssociates(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "JWT is not valid") {
		t.Fatalf("expected the forged JWT to be refused, got %v", err)
	}
	if got := e.so.Calls(fake.RouteAllUsers); got != 0 {
		t.Fatalf("expected no API call with an unverified ticket, got %d", got)
	}
}

func TestARotatedSigningKeyIsFetchedFromTheJWKS(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 1)
	mustList(t, e.client)
	if err := e.so.RotateSigningKey(); err != nil {
		t.Fatal(err)
	}
	e.so.ExpireTickets()
	mustList(t, e.client)
	if got := e.so.Calls(fake.RouteJWKS); got != 2 {
		t.Fatalf("expected the JWKS refetched once for the new kid, got %d fetches", got)
	}
}

func TestAWrongApplicationTokenFailsWithSuperOfficesMessageAndNoSecret(t *testing.T) {
	e := newEnv(t, nil)
	creds := e.so.Credentials()
	creds.ApplicationToken = "wrong-app-token"
	c := newClient(t, superoffice.Config{EnvironmentURL: e.srv.URL, Tenant: "Cust12345", Credentials: creds})
	_, err := c.ListAssociates(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "unknown ApplicationToken") || !strings.Contains(err.Error(), "Cust12345") {
		t.Fatalf("expected an error naming the tenant and SuperOffice's message, got %v", err)
	}
	for _, secret := range []string{"wrong-app-token", creds.SystemUserToken} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error shows a credential: %v", err)
		}
	}
}

func TestAnExpiredTicketIsRenewedWithoutAFailedCall(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 5)
	mustList(t, e.client)
	e.so.ExpireTickets()
	if rows := mustList(t, e.client); len(rows) != 5 {
		t.Fatalf("expected 5 rows after the renewal, got %d", len(rows))
	}
	if got := e.so.Calls(fake.RouteAuthenticate); got != 2 {
		t.Fatalf("expected one renewal after the 401, got %d authentications", got)
	}
}

func TestATicketNearItsSixHoursIsRenewedBeforeUse(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 1)
	mustList(t, e.client)
	e.clock.Advance(5*time.Hour + 51*time.Minute)
	mustList(t, e.client)
	if got := e.so.Calls(fake.RouteAuthenticate); got != 2 {
		t.Fatalf("expected a renewal once the ticket is older than 5h50m, got %d authentications", got)
	}
	if got := e.so.Calls(fake.RouteAllUsers); got != 2 {
		t.Fatalf("expected no refused call (2 listing calls), got %d", got)
	}
}

func TestTicketModeUsesTheGivenTicketAndNeverAuthenticates(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 2)
	c := newClient(t, superoffice.Config{EnvironmentURL: e.srv.URL, Tenant: "Cust12345",
		Credentials: superoffice.Credentials{Ticket: e.so.IssueTicket()}})
	if rows, err := c.ListAssociates(ctx(t)); err != nil || len(rows) != 2 {
		t.Fatalf("expected 2 rows with a ready ticket, got %d (%v)", len(rows), err)
	}
	e.so.ExpireTickets()
	_, err := c.ListAssociates(ctx(t))
	if superoffice.StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("expected an expired ready ticket to fail with 401, got %v", err)
	}
	if got := e.so.Calls(fake.RouteAuthenticate); got != 0 {
		t.Fatalf("expected no authentication in ticket mode, got %d", got)
	}
}

func TestMissingCredentialsAreNamed(t *testing.T) {
	_, err := superoffice.New(superoffice.Config{Tenant: "Cust1", Credentials: superoffice.Credentials{ApplicationToken: "x"}})
	if err == nil || !strings.Contains(err.Error(), "missing systemUserToken, privateKey") {
		t.Fatalf("expected the missing credential keys to be named, got %v", err)
	}
}

func TestListingPagesUntilAShortPageWithStringPrimaryKeys(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		wantCalls int
	}{
		{"three pages, the last short", 7, 3},
		{"two full pages then an empty one", 6, 3},
		{"no associates", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.so.SetStringPrimaryKeys(true)
			e.so.Seed(100, tt.count)
			e.so.PutAssociate(fake.Associate{ID: 100, PersonID: 7, GroupID: 2, TypeCode: 1, Retired: true})
			rows := mustList(t, e.client)
			if tt.count > 0 {
				if len(rows) != tt.count {
					t.Fatalf("expected %d rows, got %d", tt.count, len(rows))
				}
				for i, r := range rows {
					if r.AssociateID != int64(100+i) {
						t.Fatalf("row %d: expected associate %d in id order, got %d", i, 100+i, r.AssociateID)
					}
				}
				first := superoffice.AssociateRow{AssociateID: 100, PersonID: 7, GroupID: 2, TypeCode: 1, HasType: true, Retired: true, HasActive: true}
				if rows[0] != first {
					t.Fatalf("expected the first row %+v, got %+v", first, rows[0])
				}
			}
			if got := e.so.Calls(fake.RouteAllUsers); got != tt.wantCalls {
				t.Fatalf("expected %d page requests, got %d", tt.wantCalls, got)
			}
		})
	}
}

func TestA429WithRetryAfterIsHonouredThenTheCallSucceeds(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 4)
	e.so.Fail(fake.RouteAllUsers, fake.Fault{Skip: 1, Status: http.StatusTooManyRequests, RetryAfter: "2"})
	e.so.Fail(fake.RouteAllUsers, fake.Fault{Status: http.StatusServiceUnavailable})
	if rows := mustList(t, e.client); len(rows) != 4 {
		t.Fatalf("expected all 4 rows after the retries, got %d", len(rows))
	}
	if len(e.waits) != 2 || e.waits[0] != 2*time.Second {
		t.Fatalf("expected a wait of 2s (Retry-After) then a backoff wait, got %v", e.waits)
	}
}

func TestAnErrorMidListingReturnsNoRows(t *testing.T) {
	tests := []struct {
		name  string
		fault fake.Fault
		want  string
	}{
		{"a 500 on the second page", fake.Fault{Skip: 1, Status: http.StatusInternalServerError}, "list associates (skip 3): expected success, got HTTP 500"},
		{"429 until the attempts run out", fake.Fault{Skip: 1, Times: 10, Status: http.StatusTooManyRequests, RetryAfter: "1"}, "HTTP 429"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *superoffice.Config) { c.MaxAttempts = 3 })
			e.so.Seed(1, 8)
			e.so.Fail(fake.RouteAllUsers, tt.fault)
			rows, err := e.client.ListAssociates(ctx(t))
			if err == nil || rows != nil {
				t.Fatalf("expected an error and no rows, got %d rows and %v", len(rows), err)
			}
			for _, part := range []string{"Cust12345", tt.want, "injected HTTP"} {
				if !strings.Contains(err.Error(), part) {
					t.Fatalf("expected the error to contain %q, got %v", part, err)
				}
			}
		})
	}
}

func TestASlowAnswerTimesOut(t *testing.T) {
	e := newEnv(t, func(c *superoffice.Config) { c.CallTimeout = 200 * time.Millisecond })
	e.so.Seed(1, 1)
	mustList(t, e.client) // authenticate before the slow call
	e.so.Fail(fake.RouteGetAssociate, fake.Fault{Delay: 10 * time.Second})
	_, err := e.client.GetAssociate(ctx(t), 1)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "get associate 1") {
		t.Fatalf("expected the call to time out and be named, got %v", err)
	}
}

func TestGetAssociateMapsTypeNamesToDatabaseCodes(t *testing.T) {
	e := newEnv(t, nil)
	for _, code := range []int32{0, 1, 4, 7, 13} {
		e.so.PutAssociate(fake.Associate{ID: int64(100 + code), PersonID: 21, GroupID: 4, TypeCode: code, FullName: "Ada"})
	}
	tests := []struct {
		id       int64
		wantName string
		wantCode int32
	}{
		{100, "InternalAssociate", 0},
		{101, "ResourceAssociate", 1},
		{104, "ExternalAssociate", 4},
		{107, "AnonymousAssociate", 7},
		{113, "SystemAssociate", 13},
	}
	for _, tt := range tests {
		a, err := e.client.GetAssociate(ctx(t), tt.id)
		if err != nil {
			t.Fatalf("GetAssociate(%d): %v", tt.id, err)
		}
		if a.AssociateID != tt.id || a.Type != tt.wantName || a.TypeCode != tt.wantCode || !a.HasType || a.PersonID != 21 || a.GroupIdx != 4 {
			t.Errorf("GetAssociate(%d) = %+v; want type %s (%d), person 21, group 4", tt.id, a, tt.wantName, tt.wantCode)
		}
	}
	if _, err := e.client.GetAssociate(ctx(t), 999); !superoffice.IsNotFound(err) {
		t.Fatalf("expected a missing associate to be IsNotFound, got %v", err)
	}
}

func TestConcurrentCallsShareOneAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := e.client.GetAssociate(ctx(t), 1)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.so.Calls(fake.RouteAuthenticate); got != 1 {
		t.Fatalf("expected 8 concurrent calls to share one authentication, got %d", got)
	}
}
