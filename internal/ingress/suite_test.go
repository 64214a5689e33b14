package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// One control plane for the package; every test works in its own namespace.
var (
	restConfig *rest.Config
	k8s        client.Client // direct (uncached) client for setup and checks
)

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	flag.Parse()
	// Fuzzing and benchmarks need no API server: `make fuzz` starts a worker process per
	// core, and a control plane in each would starve the fuzzer.
	if fuzzingOrBenchmarking() {
		os.Exit(m.Run())
	}
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if restConfig, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if k8s, err = client.New(restConfig, client.Options{Scheme: testenv.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func fuzzingOrBenchmarking() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker", "test.bench"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// replica is one manager running the ingress, as one Pod of the Deployment would.
type replica struct {
	url  string
	stop func()
}

// startReplica starts a manager with the ingress against cfg and waits until it serves.
func startReplica(t *testing.T, cfg *rest.Config, ttl time.Duration) *replica {
	t.Helper()
	return startReplicaWith(t, cfg, ingress.Options{TombstoneTTL: ttl})
}

// startReplicaWith starts a replica with opts (its Listener and APICallTimeout are set here).
func startReplicaWith(t *testing.T, cfg *rest.Config, opts ingress.Options) *replica {
	t.Helper()
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  operator.CacheOptions(),
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener, opts.APICallTimeout = listener, 2*time.Second
	if err := ingress.Add(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	r := &replica{url: "http://" + listener.Addr().String()}
	var once atomic.Bool
	r.stop = func() {
		if once.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped with %v", err)
		}
	}
	t.Cleanup(r.stop)
	// The server listens only after its informers are warm: the first answer means ready.
	eventually(t, 30*time.Second, "the ingress to serve", func() error {
		resp, err := http.Post(r.url+"/webhooks/none/none", "application/json", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return r
}

// eventually polls check until it returns nil, failing the test at the deadline.
func eventually(t testing.TB, limit time.Duration, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, limit, what, check)
}

// receiverSetup creates a namespace, a Secret with keys and a receiver on it.
func receiverSetup(t *testing.T, name, tenant string, keys []string, secretData map[string]string) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ingress-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name + "-secret"}, StringData: secretData}
	if err := k8s.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	receiver := &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name},
		Spec: superofficev1alpha1.WebhookReceiverSpec{
			SecretRef: superofficev1alpha1.SecretKeysReference{Name: secret.Name, Keys: keys},
			Tenant:    tenant,
		},
	}
	if err := k8s.Create(ctx, receiver); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// deliver signs body with secret and POSTs it; it returns the code and the reply's result.
func deliver(t testing.TB, url string, body []byte, secret string) (int, string) {
	t.Helper()
	code, result, err := tryDeliver(url, body, secret)
	if err != nil {
		t.Fatalf("delivering to %s: %v", url, err)
	}
	return code, result
}

func tryDeliver(url string, body []byte, secret string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-SuperOffice-Signature", signature.Sign([]byte(secret), body))
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var reply struct{ Result, Error string }
	_ = json.NewDecoder(resp.Body).Decode(&reply)
	return resp.StatusCode, reply.Result, nil
}

// waitReceiverServed waits until the ingress's cache has the receiver and its Secret.
func waitReceiverServed(t *testing.T, url, secret string) {
	t.Helper()
	body := []byte(`{"EventId":"00000000-0000-0000-0000-000000000000","Timestamp":"2026-11-26T12:00:00Z","Event":"test","Entity":"test","PrimaryKey":0}`)
	eventually(t, 20*time.Second, "the receiver to accept the test event", func() error {
		if code, result := deliver(t, url, body, secret); code != http.StatusOK || result != "test" {
			return fmt.Errorf("got %d %q", code, result)
		}
		return nil
	})
}

// event is a SuperOffice associate event for tests.
type event struct {
	ID        string
	Event     string
	Associate int64
	Tenant    string
	At        time.Time
	Fields    map[string]any // nil: no FieldValues
}

func (e event) body() []byte {
	payload := map[string]any{
		"EventId":              e.ID,
		"Timestamp":            e.At.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		"Changes":              []string{},
		"Event":                e.Event,
		"PrimaryKey":           e.Associate,
		"Entity":               "associate",
		"ContextIdentifier":    e.Tenant,
		"ChangedByAssociateId": 316,
		"WebhookName":          "test",
	}
	if e.Fields != nil {
		payload["FieldValues"] = e.Fields
	}
	body, _ := json.Marshal(payload)
	return body
}

// getAssociate reads an Associate live; nil when it does not exist.
func getAssociate(t testing.TB, ns, name string) *superofficev1alpha1.Associate {
	t.Helper()
	var a superofficev1alpha1.Associate
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &a)
	if client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	if err != nil {
		return nil
	}
	return &a
}

func path(ns, name string) string { return "/webhooks/" + ns + "/" + name }

func newEventID(prefix string, n int) string { return fmt.Sprintf("%s-%d", prefix, n) }

var errNotYet = fmt.Errorf("not yet")

func errNotYetf(format string, args ...any) error { return fmt.Errorf(format, args...) }
