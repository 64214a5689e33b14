package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	benchTenant = "Bench"
	benchSecret = "bench-signing-secret"
)

// benchIngress writes the same Associates twice at the same concurrency, interleaved in
// halves: as signed deliveries through the running ingress, and with server-side apply by a
// plain client. The ratio of the two rates is the ingress's share of the API server's ceiling.
func benchIngress(ctx context.Context, _ *testenv.Environment, cfg *rest.Config, admin client.Client, s settings, res *results) error {
	const viaIngress, viaRaw = "bench-ingress", "bench-raw"
	for _, ns := range []string{viaIngress, viaRaw} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	url, stop, err := startIngress(ctx, cfg, admin, viaIngress)
	if err != nil {
		return err
	}
	defer stop()

	bodies, signatures := deliveries(s.ingressN)
	sender := newWebhookSender(url, s.concurrency)
	deliver := func(ctx context.Context, i int) error {
		if _, err := sender.send(ctx, bodies[i], "associate.created", signatures[i]); err != nil {
			return fmt.Errorf("delivery %d: %w", i, err)
		}
		return nil
	}
	apply := func(ctx context.Context, i int) error {
		obj := rawAssociate(viaRaw, i)
		return admin.Patch(ctx, obj, client.Apply, client.FieldOwner("bench"), client.ForceOwnership) //nolint:staticcheck // the unstructured Apply patch is the plain client's way
	}

	var ingressLat, rawLat []time.Duration
	var ingressTime, rawTime time.Duration
	half := s.ingressN / 2
	rawRequests, ingressRequests := map[string]float64{}, map[string]float64{}
	for n, part := range [][2]int{{0, half}, {half, s.ingressN}} {
		profile := func(string, time.Duration) func() { return func() {} }
		if n == 1 && s.apiserverProfile != "" {
			profile = func(phase string, estimate time.Duration) func() {
				return profileAPIServer(ctx, cfg, s.apiserverProfile+"-"+phase+".pprof", estimate)
			}
		}
		// The profile must end inside the phase: estimate its length at ~300 writes/s.
		estimate := time.Duration(part[1]-part[0]) * time.Second / 300
		before, err := apiRequests(ctx, cfg)
		if err != nil {
			return err
		}
		done := profile("raw", estimate)
		lat, took, err := runBounded(ctx, part[0], part[1], s.concurrency, apply)
		done()
		if err != nil {
			return fmt.Errorf("raw writes: %w", err)
		}
		rawLat, rawTime = append(rawLat, lat...), rawTime+took
		middle, err := apiRequests(ctx, cfg)
		if err != nil {
			return err
		}
		done = profile("ingress", estimate)
		lat, took, err = runBounded(ctx, part[0], part[1], s.concurrency, deliver)
		done()
		if err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		after, err := apiRequests(ctx, cfg)
		if err != nil {
			return err
		}
		addDelta(rawRequests, before, middle)
		addDelta(ingressRequests, middle, after)
		ingressLat, ingressTime = append(ingressLat, lat...), ingressTime+took
	}
	rawRate := float64(s.ingressN) / rawTime.Seconds()
	ingressRate := float64(s.ingressN) / ingressTime.Seconds()
	res.set("ingress_vs_raw_throughput_ratio", "%.3f", ingressRate/rawRate)
	res.set("raw_writes_per_s", "%.0f", rawRate)
	res.set("ingress_deliveries_per_s", "%.0f", ingressRate)
	res.set("ingress_p50_ms", "%.2f", percentile(ingressLat, 0.50))
	res.set("ingress_p99_ms", "%.2f", percentile(ingressLat, 0.99))
	res.set("raw_p50_ms", "%.2f", percentile(rawLat, 0.50))
	res.set("raw_p99_ms", "%.2f", percentile(rawLat, 0.99))
	res.set("ingress_requests_per_delivery", "%.2f", perObject("ingress (deliveries)", nil, ingressRequests, s.ingressN))
	res.set("raw_requests_per_write", "%.2f", perObject("ingress (raw)", nil, rawRequests, s.ingressN))
	res.set("ingress_n", "%d", s.ingressN)
	return nil
}

// startIngress runs a manager with only the ingress (no reconcilers, so that nothing but the
// deliveries writes), waits until the receiver answers, and returns its URL.
func startIngress(ctx context.Context, cfg *rest.Config, admin client.Client, ns string) (string, func(), error) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns},
		StringData: map[string]string{"secret": benchSecret},
	}
	receiver := &v1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns},
		Spec: v1alpha1.WebhookReceiverSpec{
			SecretRef: v1alpha1.SecretKeysReference{Name: "bench"}, Tenant: benchTenant,
		},
	}
	for _, obj := range []client.Object{secret, receiver} {
		if err := admin.Create(ctx, obj); err != nil {
			return "", nil, err
		}
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 operator.NewScheme(),
		Cache:                  operator.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return "", nil, err
	}
	if err := ingress.Add(mgr, ingress.Options{Listener: listener, TombstoneTTL: time.Hour}); err != nil {
		return "", nil, err
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "bench: the ingress's manager:", err)
		}
	}
	url := "http://" + listener.Addr().String() + "/webhooks/" + ns + "/bench"
	if err := waitForTestEvent(ctx, url); err != nil {
		stop()
		return "", nil, err
	}
	return url, stop, nil
}

func waitForTestEvent(ctx context.Context, url string) error {
	body := []byte(`{"EventId":"00000000-0000-0000-0000-000000000000","Timestamp":"2026-11-26T12:00:00Z",` +
		`"Changes":[],"Event":"test","PrimaryKey":0,"Entity":"test","ContextIdentifier":"Bench"}`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("X-SuperOffice-Signature", signature.Sign([]byte(benchSecret), body))
		req.Header.Set("X-Hook-Test", "true")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the ingress did not answer the test event at %s within 60 s (last: %w)", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deliveries are n signed associate.created payloads, shaped like the documented one.
func deliveries(n int) ([][]byte, []string) {
	bodies := make([][]byte, n)
	sigs := make([]string, n)
	for i := range n {
		bodies[i] = []byte(fmt.Sprintf(`{"EventId":"%08d-745b-49a0-83eb-a9159635a307","Timestamp":"2026-11-27T08:53:40.0597952Z",`+
			`"Changes":["associate_id","person_id","type"],"Event":"associate.created","PrimaryKey":%d,"Entity":"associate",`+
			`"ContextIdentifier":"%s","ChangedByAssociateId":316,"WebhookName":"bench","FieldValues":{"deleted":0,"group_idx":4,`+
			`"person_id":%d,"registered_associate_id":5,"type":0,"updated":"2025-05-14T16:19:57.1436004+02:00",`+
			`"updated_associate_id":5,"waiting_for_approval":0}}`, i, associateID(i), benchTenant, 1000+i))
		sigs[i] = signature.Sign([]byte(benchSecret), bodies[i])
	}
	return bodies, sigs
}

func associateID(i int) int64 { return int64(100000 + i) }

// rawAssociate is the Associate the ingress writes for delivery i: same labels,
// annotations and spec.
func rawAssociate(ns string, i int) *unstructured.Unstructured {
	id := associateID(i)
	name, _ := v1alpha1.AssociateName(benchTenant, id)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "Associate",
		"metadata": map[string]any{
			"name": name, "namespace": ns,
			"labels": map[string]any{
				v1alpha1.LabelTenant: v1alpha1.TenantSlug(benchTenant), v1alpha1.LabelAssociateID: strconv.FormatInt(id, 10),
				v1alpha1.LabelPersonID: strconv.Itoa(1000 + i), v1alpha1.LabelReceiver: "bench",
			},
			"annotations": map[string]any{
				v1alpha1.AnnotationLastEventID:          fmt.Sprintf("%08d-745b-49a0-83eb-a9159635a307", i),
				v1alpha1.AnnotationLastEvent:            "associate.created",
				v1alpha1.AnnotationLastEventTimestamp:   "2026-11-27T08:53:40.0597952Z",
				v1alpha1.AnnotationChangedByAssociateID: "316",
			},
		},
		"spec": map[string]any{
			"tenant": benchTenant, "associateId": id, "personId": int64(1000 + i), "groupIdx": int64(4),
			"type": "Employee", "typeCode": int64(0), "registeredAssociateId": int64(5), "updatedAssociateId": int64(5),
			"updated": "2025-05-14T16:19:57.1436004+02:00",
		},
	}}
	return obj
}
