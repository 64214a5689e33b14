package controllers

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/superoffice"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	syncTestPageSize = 3
	signingKeyValue  = "first-signing-secret"
)

// syncSuite is one control plane with a manager running the ingress on loopback, the
// receiver controller and the sync controller, against fake SuperOffice tenants.
type syncSuite struct {
	c           client.Client
	ctx         context.Context
	ingressAddr string
	clientKey   *rsa.PrivateKey // shared by the fakes: generating keys is slow
	signingKey  *rsa.PrivateKey
}

func TestWebhookReceiverSync(t *testing.T) {
	cfg, _ := startControlPlane(t)

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The services the composition root would share between the ingress and the controllers.
	store, err := secrets.NewForManager(mgr)
	if err != nil {
		t.Fatal(err)
	}
	clients := apiclient.NewCache(store)
	clients.Configure = func(c *superoffice.Config) {
		c.PageSize = syncTestPageSize
		c.MaxAttempts = 2
		c.BackoffBase = time.Millisecond
		c.MaxRetryWait = 10 * time.Millisecond
		c.CallTimeout = 30 * time.Second
	}
	shared := Options{TombstoneTTL: time.Hour, Mirror: mirror.New(mgr, time.Hour), Secrets: store, Clients: clients}
	if err := ingress.Add(mgr, ingress.Options{Listener: listener, TombstoneTTL: time.Hour,
		Mirror: shared.Mirror, Secrets: store, Clients: clients}); err != nil {
		t.Fatal(err)
	}
	if shared, err = shared.complete(mgr); err != nil {
		t.Fatal(err)
	}
	if err := setupWebhookReceiverReconciler(mgr, shared); err != nil {
		t.Fatal(err)
	}
	if err := setupWebhookReceiverSyncReconciler(mgr, shared); err != nil {
		t.Fatal(err)
	}
	ctx := runManager(t, mgr)
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	clientKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signingKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &syncSuite{c: c, ctx: ctx, ingressAddr: listener.Addr().String(), clientKey: clientKey, signingKey: signingKey}

	t.Run("a resync creates missing, updates drifted and deletes vanished Associates over several pages", s.resyncRepairs)
	t.Run("a listing error or a 429 mid-way deletes nothing", s.listingErrorDeletesNothing)
	t.Run("the mass-deletion guard refuses and deletes nothing", s.massDeletionRefused)
	t.Run("a deletion between two listing pages deletes nobody who still exists", s.deletionBetweenPagesDeletesNobodyAlive)
	t.Run("repeated short listings delete nobody who still exists", s.repeatedShortListingsDeleteNobodyAlive)
	t.Run("a vanished associate GetAssociate cannot confirm gone is kept and fails the pass", s.unconfirmedVanishedAreKept)
	t.Run("an expired ticket is renewed without a failed resync", s.ticketRenewed)
	t.Run("the annotation triggers one resync", s.annotationTriggersOne)
	t.Run("registration creates, corrects, surfaces TooManyErrors, rotates and deletes the webhook", s.registration)
	t.Run("a resync during deliveries ends in the Timestamp-ordered state", s.resyncDuringDeliveries)
}

// tenant is one fake SuperOffice tenant served on loopback. gate, when set, holds every
// listing page after the first until it is closed.
type tenant struct {
	*fake.SuperOffice
	url string

	mu   sync.Mutex
	gate chan struct{}
}

func (s *syncSuite) tenant(t *testing.T) *tenant {
	t.Helper()
	so, err := fake.New(fake.Options{ClientKey: s.clientKey, SigningKey: s.signingKey})
	if err != nil {
		t.Fatal(err)
	}
	tn := &tenant{SuperOffice: so}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn.mu.Lock()
		gate := tn.gate
		tn.mu.Unlock()
		if gate != nil && r.URL.Path == "/"+so.Tenant()+"/api/v1/Archive/AllUsers" && r.URL.Query().Get("$skip") != "0" {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		so.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tn.url = srv.URL
	return tn
}

func (tn *tenant) holdLaterPages() chan struct{} {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.gate = make(chan struct{})
	return tn.gate
}

func (s *syncSuite) namespace(t *testing.T, name string) string {
	t.Helper()
	if err := s.c.Create(s.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// receiver creates the signing and credentials Secrets and a receiver with spec.api
// against tn; edit adjusts the spec before it is created.
func (s *syncSuite) receiver(t *testing.T, namespace string, tn *tenant, edit func(*superofficev1alpha1.WebhookReceiver)) types.NamespacedName {
	t.Helper()
	creds := tn.Credentials()
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "hook-secret"}, StringData: map[string]string{"secret": signingKeyValue}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "so-credentials"}, Data: map[string][]byte{
			apiclient.KeyApplicationToken: []byte(creds.ApplicationToken),
			apiclient.KeySystemUserToken:  []byte(creds.SystemUserToken),
			apiclient.KeyPrivateKey:       creds.PrivateKeyPEM,
		}},
	}
	for _, secret := range secrets {
		if err := s.c.Create(s.ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	r := &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "so"},
		Spec: superofficev1alpha1.WebhookReceiverSpec{
			SecretRef: superofficev1alpha1.SecretKeysReference{Name: "hook-secret"},
			Tenant:    tn.Tenant(),
			API: &superofficev1alpha1.SuperOfficeAPI{
				EnvironmentURL:       tn.url,
				CredentialsSecretRef: superofficev1alpha1.LocalSecretReference{Name: "so-credentials"},
				ResyncInterval:       &metav1.Duration{Duration: time.Hour},
				MaxDeletePercent:     ptr.To[int32](100),
			},
		},
	}
	if edit != nil {
		edit(r)
	}
	if err := s.c.Create(s.ctx, r); err != nil {
		t.Fatal(err)
	}
	return client.ObjectKeyFromObject(r)
}

// resyncs is how many resyncs of the receiver have been recorded (status stored first).
func resyncs(key types.NamespacedName) int {
	n := 0.0
	for _, result := range []string{resyncResultSucceeded, resyncResultFailed, resyncResultMassDeletionRefused} {
		n += testutil.ToFloat64(resyncTotal.WithLabelValues(key.String(), result))
	}
	return int(n)
}

// waitResyncs waits until the receiver has had n resyncs and returns its status then.
func (s *syncSuite) waitResyncs(t *testing.T, key types.NamespacedName, n int) superofficev1alpha1.WebhookReceiverStatus {
	t.Helper()
	g := gomega.NewWithT(t)
	g.Eventually(func() int { return resyncs(key) }, eventuallyTimeout, pollInterval).Should(gomega.BeNumerically(">=", n),
		"expected resync number %d of %s", n, key)
	var r superofficev1alpha1.WebhookReceiver
	g.Expect(s.c.Get(s.ctx, key, &r)).To(gomega.Succeed())
	g.Expect(r.Status.LastResync).NotTo(gomega.BeNil(), "a recorded resync must have written lastResync")
	return r.Status
}

// requestResync sets a new resync-requested-at and waits for the resync it asks for.
func (s *syncSuite) requestResync(t *testing.T, key types.NamespacedName) superofficev1alpha1.WebhookReceiverStatus {
	t.Helper()
	before := resyncs(key)
	s.annotate(t, key, superofficev1alpha1.AnnotationResyncRequestedAt, strconv.FormatInt(time.Now().UnixNano(), 10))
	return s.waitResyncs(t, key, before+1)
}

func (s *syncSuite) annotate(t *testing.T, key types.NamespacedName, name, value string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, name, value)
	r := &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := s.c.Patch(s.ctx, r, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

func (s *syncSuite) associate(t *testing.T, namespace, tenantName string, id int64) (*superofficev1alpha1.Associate, bool) {
	t.Helper()
	name, err := superofficev1alpha1.AssociateName(tenantName, id)
	if err != nil {
		t.Fatal(err)
	}
	var a superofficev1alpha1.Associate
	err = s.c.Get(s.ctx, types.NamespacedName{Namespace: namespace, Name: name}, &a)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return &a, true
}

// handMade creates an Associate labelled as the receiver's, without provenance.
func (s *syncSuite) handMade(t *testing.T, namespace, tenantName, receiver string, id, person int64) {
	t.Helper()
	name, _ := superofficev1alpha1.AssociateName(tenantName, id)
	a := &superofficev1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
			superofficev1alpha1.LabelReceiver: receiver,
			superofficev1alpha1.LabelTenant:   superofficev1alpha1.TenantSlug(tenantName),
		}},
		Spec: superofficev1alpha1.AssociateSpec{Tenant: tenantName, AssociateID: id, PersonID: person},
	}
	if err := s.c.Create(s.ctx, a); err != nil {
		t.Fatal(err)
	}
}

func expectResync(t *testing.T, got *superofficev1alpha1.ResyncStatus, want superofficev1alpha1.ResyncStatus) {
	t.Helper()
	got = got.DeepCopy()
	got.Time = want.Time
	got.RequestedAt = want.RequestedAt // the annotation the attempt answered; annotationTriggersOne checks it
	if *got != want {
		t.Fatalf("lastResync: want %+v, got %+v", want, *got)
	}
}

func syncedReason(status superofficev1alpha1.WebhookReceiverStatus) string {
	c := meta.FindStatusCondition(status.Conditions, superofficev1alpha1.ConditionSynced)
	if c == nil {
		return "<no Synced condition>"
	}
	return string(c.Status) + "/" + c.Reason
}

func (s *syncSuite) resyncRepairs(t *testing.T) {
	ns := s.namespace(t, "resync-repairs")
	tn := s.tenant(t)
	tn.SetStringPrimaryKeys(true) // as some documented samples answer
	for id := int64(1); id <= 7; id++ {
		tn.PutAssociate(fake.Associate{ID: id, PersonID: 100 + id, GroupID: 2, TypeCode: 0})
	}
	tn.PutAssociate(fake.Associate{ID: 8, PersonID: 108, GroupID: 3, TypeCode: 1, Retired: true})
	s.handMade(t, ns, tn.Tenant(), "so", 2, 999) // drifted: wrong person
	s.handMade(t, ns, tn.Tenant(), "so", 50, 5)  // vanished from SuperOffice
	key := s.receiver(t, ns, tn, nil)

	status := s.waitResyncs(t, key, 1)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded,
		Listed: 8, Created: 7, Updated: 1, Deleted: 1})
	if got := syncedReason(status); got != "True/"+superofficev1alpha1.ReasonSynced {
		t.Errorf("Synced: want True/%s, got %s", superofficev1alpha1.ReasonSynced, got)
	}
	if calls := tn.Calls(fake.RouteAllUsers); calls < 3 {
		t.Errorf("8 associates in pages of %d take 3 listing calls, got %d", syncTestPageSize, calls)
	}
	for id := int64(1); id <= 8; id++ {
		a, ok := s.associate(t, ns, tn.Tenant(), id)
		if !ok {
			t.Fatalf("associate %d: expected an Associate, found none", id)
		}
		want, _ := tn.Associate(id)
		if a.Spec.PersonID != want.PersonID || a.Spec.GroupIdx != int32(want.GroupID) || a.Spec.TypeCode == nil ||
			*a.Spec.TypeCode != want.TypeCode || a.Spec.Retired != want.Retired {
			t.Errorf("associate %d: want person %d group %d type %d retired %v, got %+v", id, want.PersonID, want.GroupID, want.TypeCode, want.Retired, a.Spec)
		}
		if a.Labels[superofficev1alpha1.LabelReceiver] != "so" {
			t.Errorf("associate %d: want label receiver=so, got %v", id, a.Labels)
		}
	}
	if _, ok := s.associate(t, ns, tn.Tenant(), 50); ok {
		t.Errorf("associate 50 is no longer listed and should have been deleted")
	}

	// Nothing changed in SuperOffice: the next resync writes nothing.
	status = s.requestResync(t, key)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded, Listed: 8, Unchanged: 8})
}

func (s *syncSuite) listingErrorDeletesNothing(t *testing.T) {
	ns := s.namespace(t, "resync-listing-error")
	tn := s.tenant(t)
	tn.Seed(1, 5)
	key := s.receiver(t, ns, tn, nil)
	s.waitResyncs(t, key, 1)
	tn.RemoveAssociate(5)

	for _, fault := range []fake.Fault{
		{Skip: 1, Status: http.StatusInternalServerError},
		{Skip: 1, Status: http.StatusTooManyRequests, RetryAfter: "0", Times: 2}, // both attempts
	} {
		tn.Fail(fake.RouteAllUsers, fault)
		status := s.requestResync(t, key)
		if status.LastResync.Result != superofficev1alpha1.ResyncFailed || syncedReason(status) != "False/"+superofficev1alpha1.ReasonResyncFailed {
			t.Fatalf("HTTP %d on the second page: want lastResync Failed and Synced False/%s, got %+v and %s",
				fault.Status, superofficev1alpha1.ReasonResyncFailed, *status.LastResync, syncedReason(status))
		}
		if _, ok := s.associate(t, ns, tn.Tenant(), 5); !ok {
			t.Fatalf("HTTP %d on the second page: a failed listing must delete nothing, associate 5 is gone", fault.Status)
		}
	}
	status := s.requestResync(t, key)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded, Listed: 4, Deleted: 1, Unchanged: 4})
}

func (s *syncSuite) massDeletionRefused(t *testing.T) {
	ns := s.namespace(t, "resync-mass-deletion")
	tn := s.tenant(t)
	tn.Seed(1, 10)
	key := s.receiver(t, ns, tn, func(r *superofficev1alpha1.WebhookReceiver) { r.Spec.API.MaxDeletePercent = nil })
	s.waitResyncs(t, key, 1)
	tn.RemoveAssociate(3)
	tn.RemoveAssociate(7)

	status := s.requestResync(t, key)
	if status.LastResync.Result != superofficev1alpha1.ResyncMassDeletionRefused || syncedReason(status) != "False/"+superofficev1alpha1.ReasonMassDeletionRefused {
		t.Fatalf("2 of 10 vanished with the default maxDeletePercent 10: want MassDeletionRefused, got %+v and %s", *status.LastResync, syncedReason(status))
	}
	for _, id := range []int64{3, 7} {
		if _, ok := s.associate(t, ns, tn.Tenant(), id); !ok {
			t.Errorf("associate %d: a refused resync must delete nothing, it is gone", id)
		}
	}
	tn.PutAssociate(fake.Associate{ID: 3, PersonID: 1003, GroupID: 1})
	status = s.requestResync(t, key)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded, Listed: 9, Deleted: 1, Unchanged: 9})
}

func (s *syncSuite) ticketRenewed(t *testing.T) {
	ns := s.namespace(t, "resync-ticket")
	tn := s.tenant(t)
	tn.Seed(1, 2)
	key := s.receiver(t, ns, tn, nil)
	s.waitResyncs(t, key, 1)
	authentications := tn.Calls(fake.RouteAuthenticate)
	tn.ExpireTickets()
	tn.PutAssociate(fake.Associate{ID: 3, PersonID: 1003, GroupID: 1})

	status := s.requestResync(t, key)
	expectResync(t, status.LastResync, superofficev1alpha1.ResyncStatus{Result: superofficev1alpha1.ResyncSucceeded, Listed: 3, Created: 1, Unchanged: 2})
	if got := tn.Calls(fake.RouteAuthenticate); got != authentications+1 {
		t.Errorf("an expired ticket: want one new authentication, got %d", got-authentications)
	}
}

func (s *syncSuite) annotationTriggersOne(t *testing.T) {
	ns := s.namespace(t, "resync-annotation")
	tn := s.tenant(t)
	tn.Seed(1, 1)
	key := s.receiver(t, ns, tn, nil)
	s.waitResyncs(t, key, 1)
	listings := tn.Calls(fake.RouteAllUsers)

	status := s.requestResync(t, key)
	var receiver superofficev1alpha1.WebhookReceiver
	if err := s.c.Get(s.ctx, key, &receiver); err != nil {
		t.Fatal(err)
	}
	if answered := receiver.Annotations[superofficev1alpha1.AnnotationResyncRequestedAt]; status.LastResync.RequestedAt != answered {
		t.Errorf("lastResync.requestedAt = %q: want the resync-requested-at value the resync answered, %q", status.LastResync.RequestedAt, answered)
	}
	// Other edits (an unrelated annotation, the Secrets) reconcile the receiver but resync nothing.
	s.annotate(t, key, "example.com/touched", "yes")
	g := gomega.NewWithT(t)
	g.Consistently(func() int { return resyncs(key) }, time.Second, pollInterval).Should(gomega.Equal(2),
		"one new resync-requested-at value asks for exactly one resync")
	if got := tn.Calls(fake.RouteAllUsers) - listings; got != 1 {
		t.Errorf("one requested resync of 1 associate: want 1 listing call, got %d", got)
	}
}
