package fault

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// TestLeaderElectionHandsOverAndBothReplicasServe: two managers with --leader-elect both
// apply deliveries; only the leader reconciles; killing it hands the Lease over and
// provisioning goes on.
func TestLeaderElectionHandsOverAndBothReplicasServe(t *testing.T) {
	ns := setupReceiver(t)
	setupPolicy(t, ns)
	leaseNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fault-lease-"}}
	if err := k8s.Create(context.Background(), leaseNS); err != nil {
		t.Fatal(err)
	}
	kubeconfig := adminKubeconfig(t, "")
	flags := []string{"--leader-elect", "--leader-election-namespace", leaseNS.Name}
	replicas := []*managerProcess{startManager(t, kubeconfig, flags...), startManager(t, kubeconfig, flags...)}
	for _, m := range replicas {
		m.WaitReady(t, readyTimeout)
		waitServed(t, m.url(ns, receiverName))
	}

	base := time.Now().Add(-time.Hour)
	for i, m := range replicas {
		e := event{id: fmt.Sprintf("leader-%d", i), kind: "associate.created", associate: int64(300 + i), at: base}
		if a := post(m.url(ns, receiverName), e.body(), ""); a.code != http.StatusOK {
			t.Fatalf("replica %d: delivery %s: want 200, got %d %v", i, e.id, a.code, a.err)
		}
		if !associateExists(t, ns, e.name()) {
			t.Errorf("replica %d answered 200 for %s but Associate %s is not stored", i, e.id, e.name())
		}
	}
	leader, follower := leaderAndFollower(t, replicas, leaseNS.Name)
	for _, id := range []int{300, 301} {
		waitServiceAccount(t, fmt.Sprintf("ServiceAccount person-%d", id), ns, fmt.Sprintf("person-%d", id))
	}
	if n := reconciles(t, follower); n != 0 {
		t.Errorf("the replica that does not hold the Lease reconciled %v times; only the leader may", n)
	}
	if n := reconciles(t, leader); n == 0 {
		t.Errorf("the leader reports no reconciles, yet ServiceAccounts were provisioned")
	}

	holder := leaseHolder(t, leaseNS.Name)
	leader.Kill(t)
	testenv.Eventually(t, 90*time.Second, "the other replica to take the Lease", func() error {
		if h := leaseHolder(t, leaseNS.Name); h == holder || h == "" {
			return fmt.Errorf("still held by %q", h)
		}
		return nil
	})
	e := event{id: "leader-after", kind: "associate.created", associate: 399, at: base}
	if a := post(follower.url(ns, receiverName), e.body(), ""); a.code != http.StatusOK {
		t.Fatalf("the remaining replica: want 200, got %d %v", a.code, a.err)
	}
	waitServiceAccount(t, "ServiceAccount person-399 provisioned by the new leader", ns, "person-399")
}

func leaseHolder(t *testing.T, ns string) string {
	t.Helper()
	var lease coordinationv1.Lease
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: operator.LeaderElectionID}, &lease)
	if client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// leaderAndFollower tells the replicas apart by client-go's leader_election_master_status metric.
func leaderAndFollower(t *testing.T, replicas []*managerProcess, ns string) (*managerProcess, *managerProcess) {
	t.Helper()
	var leader, follower *managerProcess
	testenv.Eventually(t, 60*time.Second, "one replica to lead", func() error {
		if leaseHolder(t, ns) == "" {
			return fmt.Errorf("no Lease holder yet")
		}
		leading := 0
		for i, m := range replicas {
			if metricSum(t, m, "leader_election_master_status") == 1 {
				leading++
				leader, follower = m, replicas[1-i]
			}
		}
		if leading != 1 {
			return fmt.Errorf("%d replicas report leader_election_master_status 1", leading)
		}
		return nil
	})
	return leader, follower
}

// reconciles sums controller_runtime_reconcile_total from a replica's metrics.
func reconciles(t *testing.T, m *managerProcess) float64 {
	t.Helper()
	return metricSum(t, m, "controller_runtime_reconcile_total")
}

// metricSum sums the samples of a replica's metric family name.
func metricSum(t *testing.T, m *managerProcess, name string) float64 {
	t.Helper()
	code, body, err := testenv.HTTPGet(context.Background(), "http://"+m.MetricsAddr+"/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("reading the metrics of %s: %d %v", m.MetricsAddr, code, err)
	}
	families, err := testenv.ParseMetrics(body)
	if err != nil {
		t.Fatalf("the metrics of %s: %v", m.MetricsAddr, err)
	}
	return testenv.SumMetric(families, name, nil)
}
