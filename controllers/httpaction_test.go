package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/actionhttp"
)

func TestCallAnswers(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer server.Close()
	r := &AssociateReconciler{httpClient: server.Client(), actions: actionhttp.NewLimiter(0, 0)}
	policy := namespacedPolicy(&superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: "crm"}})
	action := &httpAction{HTTPCall: superofficev1alpha1.HTTPCall{Name: "accounts"}}

	tests := []struct {
		name, path, verb, wantErr string
	}{
		{"a 2xx is a success", "/ok", ActionProvision, ""},
		{"a 404 on deprovision means already gone", "/gone", ActionDeprovision, ""},
		{"a 404 on provision is a failure", "/gone", ActionProvision, "expected a 2xx answer, got 404"},
		{"a 500 is a failure", "/broken", ActionUpdate, "expected a 2xx answer, got 500"},
		{"neither the path nor the query is shown in the error", "/broken?token=secret", ActionUpdate, "POST " + server.URL + ": expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.call(context.Background(), policy, action, httpRequest{method: http.MethodPost, url: server.URL + tt.path}, tt.verb)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("expected success, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("expected an error containing %q and no query, got %v", tt.wantErr, err)
			}
		})
	}
}

// A transport error (*url.Error) names the full URL; a query may carry a token, and the
// error ends up in status.actions[].lastError and in Events.
func TestCallTransportErrorHidesTheQuery(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	target := server.URL + "/people/7?token=s3cret-token"
	server.Close() // nothing listens any more: the call fails in the transport

	r := &AssociateReconciler{httpClient: &http.Client{}, actions: actionhttp.NewLimiter(0, 0)}
	policy := namespacedPolicy(&superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: "crm"}})
	action := &httpAction{HTTPCall: superofficev1alpha1.HTTPCall{Name: "accounts"}}
	err := r.call(context.Background(), policy, action, httpRequest{method: http.MethodPost, url: target}, ActionProvision)
	if err == nil {
		t.Fatal("expected a transport error from a closed server, got success")
	}
	if strings.Contains(err.Error(), "s3cret-token") {
		t.Fatalf("expected the error without the URL's query, got %q", err)
	}
	if !strings.Contains(err.Error(), "POST "+server.URL+":") || strings.Contains(err.Error(), "/people/7") {
		t.Fatalf("expected the error to name the URL as scheme and host only (webhook URLs carry tokens in their paths), got %q", err)
	}
}
