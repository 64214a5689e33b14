package superoffice_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/assocsync/associate-operator/internal/superoffice"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
)

func TestEndpointsMustBeHTTPSExceptOnLoopback(t *testing.T) {
	ticket := superoffice.Credentials{Ticket: "7T:ticket"}
	tests := []struct {
		name    string
		env     string
		api     string
		refused string // "" when New must accept the configuration
	}{
		{"https everywhere", "https://online.superoffice.com", "https://online3.superoffice.com/Cust1/api", ""},
		{"the default environment", "", "", ""},
		{"plain http on 127.0.0.1", "http://127.0.0.1:8090", "http://127.0.0.1:8090/Cust1/api", ""},
		{"plain http on localhost", "http://localhost:8090", "", ""},
		{"plain http on [::1]", "http://[::1]:8090", "", ""},
		{"a configured url on another https host", "https://online.superoffice.com", "https://proxy.example.net/Cust1/api", ""},
		{"plain http environment", "http://online.superoffice.com", "", "environmentURL"},
		{"plain http url", "https://online.superoffice.com", "http://online3.superoffice.com/Cust1/api", "url"},
		{"plain http on a private address", "http://10.0.0.7:8090", "", "environmentURL"},
		{"plain http on a name that merely starts with localhost", "http://localhost.example.com", "", "environmentURL"},
		{"another scheme", "ftp://online.superoffice.com", "", "environmentURL"},
		{"no host", "https://", "", "environmentURL"},
		{"not absolute", "online.superoffice.com", "", "environmentURL"},
		{"credentials in the URL", "https://user:pw@online.superoffice.com", "", "environmentURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := superoffice.New(superoffice.Config{EnvironmentURL: tt.env, APIURL: tt.api, Tenant: "Cust1", Credentials: ticket})
			switch {
			case tt.refused == "" && err != nil:
				t.Fatalf("want the configuration accepted, got %v", err)
			case tt.refused != "" && err == nil:
				t.Fatalf("want %s %q refused (https only, plain http on loopback hosts), it was accepted", tt.refused, tt.env+tt.api)
			case tt.refused != "" && (!superoffice.IsEndpointNotAllowed(err) || !strings.Contains(err.Error(), tt.refused)):
				t.Fatalf("want an IsEndpointNotAllowed error naming %s, got %v", tt.refused, err)
			case err != nil && strings.Contains(err.Error(), "pw@"):
				t.Fatalf("the error shows the URL's password: %v", err)
			}
		})
	}
}

func TestTheLookedUpAPIMustBeHTTPSUnderTheEnvironmentsParentDomain(t *testing.T) {
	tests := []struct {
		env, api string
		ok       bool
	}{
		{"https://sod.superoffice.com", "https://sod2.superoffice.com/Cust1/api", true},
		{"https://online.superoffice.com", "https://online3.superoffice.com/Cust1/api", true},
		{"https://online.superoffice.com", "https://superoffice.com/Cust1/api", true},
		{"https://online.superoffice.com", "https://ONLINE3.SuperOffice.com./Cust1/api", true},
		{"https://online.superoffice.com", "http://online3.superoffice.com/Cust1/api", false},
		{"https://online.superoffice.com", "https://attacker.example/Cust1/api", false},
		{"https://online.superoffice.com", "https://superoffice.com.attacker.example/Cust1/api", false},
		{"https://online.superoffice.com", "https://evilsuperoffice.com/Cust1/api", false},
		{"https://online.superoffice.com", "https://127.0.0.1/Cust1/api", false},
		{"https://online.superoffice.com", "https://169.254.169.254/latest/meta-data", false},
		{"https://online.superoffice.com", "https://user:pw@online3.superoffice.com/Cust1/api", false},
		{"https://online.superoffice.com", "", false},
		{"https://superoffice.com", "https://online3.superoffice.com/Cust1/api", true},
		{"https://superoffice.com", "https://attacker.example/Cust1/api", false},
		{"https://10.1.2.3", "https://10.1.2.3/Cust1/api", true},
		{"https://10.1.2.3", "https://10.1.2.4/Cust1/api", false},
		{"http://127.0.0.1:8090", "http://127.0.0.1:8090/Cust1/api", true},
		{"http://127.0.0.1:8090", "http://localhost:9000/Cust1/api", true},
		{"http://127.0.0.1:8090", "https://online3.superoffice.com/Cust1/api", false},
		{"http://127.0.0.1:8090", "http://attacker.example/Cust1/api", false},
	}
	for _, tt := range tests {
		err := superoffice.CheckLookedUpAPIForTest(tt.env, tt.api)
		if tt.ok && err != nil {
			t.Errorf("environment %s, Api %q: want it accepted, got %v", tt.env, tt.api, err)
		}
		if !tt.ok && (err == nil || !superoffice.IsEndpointNotAllowed(err)) {
			t.Errorf("environment %s, Api %q: want it refused as an endpoint not allowed, got %v", tt.env, tt.api, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("the error shows the URL's password: %v", err)
		}
	}
}

func TestAForeignLookedUpAPIGetsNoCallAndNoCredentials(t *testing.T) {
	for _, api := range []string{"https://attacker.example/Cust12345/api", "http://sod2.superoffice.com/Cust12345/api"} {
		t.Run(api, func(t *testing.T) {
			e := newEnv(t, nil)
			e.so.Seed(1, 2)
			e.so.SetStateAPI(api)
			_, err := e.client.ListAssociates(ctx(t))
			if !superoffice.IsEndpointNotAllowed(err) || !strings.Contains(err.Error(), "Api") {
				t.Fatalf("want the looked-up Api %s refused, got %v", api, err)
			}
			if got := e.so.Calls(fake.RouteAuthenticate) + e.so.Calls(fake.RouteAllUsers); got != 0 {
				t.Errorf("want no authentication and no listing once the Api is refused, got %d calls", got)
			}
			if base, err := e.client.APIBase(ctx(t)); err == nil {
				t.Errorf("want the refused Api never cached, got API base %q", base)
			}
		})
	}
}

func TestNoSuperOfficeCallFollowsARedirect(t *testing.T) {
	tests := []struct {
		route fake.Route
		call  func(e *env) error
	}{
		{fake.RouteState, func(e *env) error { _, err := e.client.LookupTenant(ctx(t)); return err }},
		{fake.RouteAuthenticate, func(e *env) error { _, err := e.client.ListAssociates(ctx(t)); return err }},
		{fake.RouteJWKS, func(e *env) error { _, err := e.client.ListAssociates(ctx(t)); return err }},
		{fake.RouteAllUsers, func(e *env) error { _, err := e.client.ListAssociates(ctx(t)); return err }},
		{fake.RouteGetAssociate, func(e *env) error { _, err := e.client.GetAssociate(ctx(t), 1); return err }},
		{fake.RouteWebhooks, func(e *env) error { _, err := e.client.ListWebhooks(ctx(t), ""); return err }},
	}
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		for _, tt := range tests {
			t.Run(string(tt.route)+" "+http.StatusText(status), func(t *testing.T) {
				attacker, hits := recorder(t)
				e := newEnv(t, nil)
				e.so.Seed(1, 2)
				e.so.Fail(tt.route, fake.Fault{Status: status, Location: attacker.URL + "/collect"})
				err := tt.call(e)
				if err == nil || !strings.Contains(err.Error(), "redirect") {
					t.Fatalf("HTTP %d from %s: want an error saying redirects are not followed, got %v", status, tt.route, err)
				}
				if hits.Load() != 0 {
					t.Fatalf("HTTP %d from %s: the redirect target got %d requests; SuperOffice calls (tokens, SO-AppToken, tickets) must follow no redirect",
						status, tt.route, hits.Load())
				}
			})
		}
	}
}

func TestAJWTForAnotherTenantIsRefusedAndNoCallIsMade(t *testing.T) {
	e := newEnv(t, nil)
	e.so.Seed(1, 2)
	e.so.SetTokenContext("Cust99999")
	_, err := e.client.ListAssociates(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "Cust99999") || !strings.Contains(err.Error(), "ctx") {
		t.Fatalf("want a JWT whose ctx is Cust99999 refused for tenant Cust12345, got %v", err)
	}
	if got := e.so.Calls(fake.RouteAllUsers); got != 0 {
		t.Fatalf("want no API call with another tenant's ticket, got %d", got)
	}

	e.so.SetTokenContext("cust12345") // ContextIdentifiers compare case-insensitively
	if rows := mustList(t, e.client); len(rows) != 2 {
		t.Fatalf("want 2 rows with the tenant's own ticket, got %d", len(rows))
	}
}

func TestAWebhookTargetMustBeHTTPSExceptOnLoopback(t *testing.T) {
	e := newEnv(t, nil)
	hook := superoffice.Webhook{Name: "acc-so", Events: []string{"associate.created"}, Secret: "s", TargetURL: "http://hooks.example.com/webhooks/acc/so"}
	if _, err := e.client.CreateWebhook(ctx(t), hook); !superoffice.IsEndpointNotAllowed(err) || !strings.Contains(err.Error(), "targetURL") {
		t.Fatalf("create with a plain-http target: want it refused naming targetURL, got %v", err)
	}
	hook.WebhookID = 1
	if _, err := e.client.UpdateWebhook(ctx(t), hook); !superoffice.IsEndpointNotAllowed(err) {
		t.Fatalf("update with a plain-http target: want it refused, got %v", err)
	}
	if got := e.so.Calls(fake.RouteWebhooks); got != 0 {
		t.Fatalf("want no webhook call with a refused target, got %d", got)
	}
}

// recorder is a server that counts every request it gets.
func recorder(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}
