package secrets_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// liveHeap is the heap that survives a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// post signs body with key and POSTs it; it returns the HTTP code.
func post(t *testing.T, url string, body []byte, key string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-SuperOffice-Signature", signature.Sign([]byte(key), body))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestUnrelatedLargeSecretsCostTheManagerNothingAndRotationStillWorks: the manager (the
// whole of it, run in this process) holds only the Secrets receivers and policies
// reference. 200 Secrets of 512 KiB elsewhere in the cluster (100 MiB, which a
// cluster-wide Secret informer would hold on every replica) change its live heap by less
// than 10 MB, and a rotated receiver Secret still takes effect within 10 s.
func TestUnrelatedLargeSecretsCostTheManagerNothingAndRotationStillWorks(t *testing.T) {
	ctx := context.Background()
	opts := operator.DefaultOptions()
	opts.MetricsBindAddress, opts.HealthProbeBindAddress = "0", "0"
	opts.WebhookBindAddress = testenv.FreeAddress(t)
	mgr, err := operator.New(restConfig, opts)
	if err != nil {
		t.Fatal(err)
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	ns := namespace(t)
	hook := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}, Data: map[string][]byte{"secret": []byte("old-key")}}
	if err := k8s.Create(ctx, hook); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "so"},
		Spec: superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: "hook"}}}); err != nil {
		t.Fatal(err)
	}
	url := "http://" + opts.WebhookBindAddress + "/webhooks/" + ns + "/so"
	testEvent := []byte(`{"EventId":"e-test","Timestamp":"2026-11-26T12:00:00Z","Event":"test","Entity":"test"}`)
	testenv.Eventually(t, 60*time.Second, "the receiver to accept the test event", func() error {
		if code := post(t, url, testEvent, "old-key"); code != http.StatusOK {
			return fmt.Errorf("got %d", code)
		}
		return nil
	})
	before := liveHeap()

	other := namespace(t)
	data := bytes.Repeat([]byte("x"), 512<<10)
	for i := range 200 {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: fmt.Sprintf("big-%03d", i)},
			Data: map[string][]byte{"blob": data}}
		if err := k8s.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Rotation: the new key replaces the old one. Any Secret watch (a cluster-wide one
	// too) delivers this update after the 200 creates, so once the new key is accepted,
	// a manager that cached every Secret would hold them all by now.
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(hook), hook); err != nil {
		t.Fatal(err)
	}
	hook.Data = map[string][]byte{"secret": []byte("new-key")}
	if err := k8s.Update(ctx, hook); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the rotated key to be accepted (the contract: within 10 s, no restart)", func() error {
		if code := post(t, url, testEvent, "new-key"); code != http.StatusOK {
			return fmt.Errorf("got %d", code)
		}
		return nil
	})
	if code := post(t, url, testEvent, "old-key"); code != http.StatusUnauthorized {
		t.Errorf("the removed key: want 401, got %d", code)
	}
	after := liveHeap()
	growth := int64(after) - int64(before)
	t.Logf("live heap %d -> %d bytes (%+d) with 100 MiB of unrelated Secrets in the cluster", before, after, growth)
	if growth >= 10<<20 {
		t.Errorf("200 unrelated Secrets of 512 KiB grew the manager's live heap by %d bytes; want less than 10 MiB: it holds Secrets nobody references", growth)
	}
}
