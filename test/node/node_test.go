package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	release   = "associate-operator"
	namespace = "associate-operator-system"
	// The sample receiver default/superoffice (config/samples) takes tenant Cust1234.
	receiverPath  = "/webhooks/default/superoffice"
	tenantPrefix  = "cust1234-"
	podTimeout    = 3 * time.Minute
	streamWorkers = 2
	// A stream sends at least streamLeast deliveries and goes on while its disruption
	// lasts, up to streamMost.
	streamLeast = 90
	streamMost  = 3000
)

// env is the cluster as the test sees it.
type env struct {
	kubeconfig string
	client     client.Client
	clientset  *kubernetes.Clientset
	helmHome   []string
}

func TestTheChartRunsOnARealNode(t *testing.T) {
	requireNode(t)
	cluster := startCluster(t)
	e := newEnv(t, cluster.Kubeconfig)

	if out, err := e.helm(t, "install", release, filepath.Join(testenv.RepoRoot(), "charts", "associate-operator"),
		"--namespace", namespace, "--create-namespace", "--wait", "--timeout", "4m",
		"--set", "image.repository="+imageRepository, "--set", "image.tag="+imageTag,
		"--set", "image.pullPolicy=Never"); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}

	t.Run("two replicas are Ready through their probes, one leads, as the chart's user and limits", func(t *testing.T) {
		pods := e.readyPods(t, 2)
		e.leader(t, pods)
		for _, pod := range pods {
			checkRunningContainer(t, e, pod)
		}
	})

	secret := e.sampleReceiver(t)
	s := newSender(e.webhookURL(t), secret)

	t.Run("the documented deliveries through the Service's ClusterIP provision person-21", func(t *testing.T) {
		for _, name := range []string{"created", "changed"} {
			body := samples.MustPayload(name)
			testenv.Eventually(t, podTimeout, "delivery of the documented "+name, func() error {
				_, err := s.post(t.Context(), body)
				return err
			})
		}
		e.exists(t, &superofficev1alpha1.Associate{}, "default", tenantPrefix+"141424")
		e.exists(t, &corev1.ServiceAccount{}, "default", "person-21")
	})

	t.Run("deleting the leader Pod under a stream loses no acknowledged delivery", func(t *testing.T) {
		s.summary()
		delivered := s.stream(t, 1*streamStart, streamLeast, streamMost, streamWorkers, func() {
			var deleted string
			if err := poll(t.Context(), podTimeout, func() error {
				if deleted = e.holderPod(t); deleted == "" {
					return fmt.Errorf("nobody holds Lease %s/%s", namespace, operator.LeaderElectionID)
				}
				return nil
			}); err != nil {
				t.Errorf("finding the leader: %v", err)
				return
			}
			if err := e.clientset.CoreV1().Pods(namespace).Delete(t.Context(), deleted, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting the leader Pod %s: %v", deleted, err)
				return
			}
			if err := poll(t.Context(), podTimeout, func() error {
				if _, err := e.clientset.CoreV1().Pods(namespace).Get(t.Context(), deleted, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					return fmt.Errorf("Pod %s is still there (%v)", deleted, err)
				}
				if holder := e.holderPod(t); holder == "" || holder == deleted {
					return fmt.Errorf("the Lease is held by %q, the deleted Pod %s", holder, deleted)
				}
				return nil
			}); err != nil {
				t.Errorf("after deleting the leader Pod: %v", err)
			}
		})
		t.Logf("%d deliveries; the attempts were answered %s", len(delivered), s.summary())
		e.allStored(t, delivered)
		e.allProvisioned(t, delivered)
		e.readyPods(t, 2)
	})

	t.Run("a rollout restart under a stream loses no acknowledged delivery", func(t *testing.T) {
		delivered := s.stream(t, 2*streamStart, streamLeast, streamMost, streamWorkers, func() {
			defer func(start time.Time) { t.Logf("the rollout took %s", time.Since(start).Round(time.Second)) }(time.Now())
			if out, err := e.kubectl(t, "rollout", "restart", "deployment/"+release, "-n", namespace); err != nil {
				t.Errorf("kubectl rollout restart: %v\n%s", err, out)
			}
			if out, err := e.kubectl(t, "rollout", "status", "deployment/"+release, "-n", namespace, "--timeout=3m"); err != nil {
				t.Errorf("kubectl rollout status: %v\n%s", err, out)
			}
		})
		t.Logf("%d deliveries; the attempts were answered %s", len(delivered), s.summary())
		e.allStored(t, delivered)
		e.allProvisioned(t, delivered)
	})

	t.Run("the PodDisruptionBudget refuses to evict the only Ready Pod", func(t *testing.T) {
		e.checkEvictionRefused(t)
	})

	t.Run("helm uninstall leaves no Pod and keeps the CRDs", func(t *testing.T) {
		if out, err := e.helm(t, "uninstall", release, "--namespace", namespace, "--wait", "--timeout", "3m"); err != nil {
			t.Fatalf("helm uninstall: %v\n%s", err, out)
		}
		testenv.Eventually(t, podTimeout, "no Pod left in "+namespace, func() error {
			pods, err := e.clientset.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("%d Pods left, e.g. %s", len(pods.Items), pods.Items[0].Name)
			}
			return nil
		})
		list := &superofficev1alpha1.AssociateList{}
		if err := e.client.List(t.Context(), list); err != nil {
			t.Errorf("the Associate CRD is gone after helm uninstall (the chart keeps it): %v", err)
		}
	})
}

func newEnv(t *testing.T, kubeconfig string) *env {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{kubeconfig: kubeconfig}
	if e.client, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		t.Fatal(err)
	}
	if e.clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	e.helmHome = []string{"HELM_CACHE_HOME=" + home + "/cache", "HELM_CONFIG_HOME=" + home + "/config", "HELM_DATA_HOME=" + home + "/data"}
	return e
}

func (e *env) helm(t *testing.T, args ...string) (string, error) {
	return command(t, e.helmHome, suite.helm, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
}

func (e *env) kubectl(t *testing.T, args ...string) (string, error) {
	return command(t, nil, suite.kubectl, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
}

func command(t *testing.T, extraEnv []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// readyPods waits for n Ready manager Pods, none terminating, and returns them.
func (e *env) readyPods(t *testing.T, n int) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	testenv.Eventually(t, podTimeout, fmt.Sprintf("%d Ready manager Pods", n), func() error {
		pods, err := e.clientset.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{
			LabelSelector: "app.kubernetes.io/name=associate-operator"})
		if err != nil {
			return err
		}
		ready = ready[:0]
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && podReady(&p) {
				ready = append(ready, p)
			}
		}
		if len(ready) != n || len(pods.Items) != n {
			return fmt.Errorf("%d of %d Pods Ready, want %d", len(ready), len(pods.Items), n)
		}
		return nil
	})
	return ready
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// holder is the Pod named by the leader-election Lease, waiting for there to be one.
func (e *env) holder(t *testing.T) string {
	t.Helper()
	var pod string
	testenv.Eventually(t, podTimeout, "a Lease holder", func() error {
		if pod = e.holderPod(t); pod == "" {
			return fmt.Errorf("nobody holds Lease %s/%s", namespace, operator.LeaderElectionID)
		}
		return nil
	})
	return pod
}

// holderPod is the Pod in the Lease's holderIdentity ("<pod>_<uuid>"), or "".
func (e *env) holderPod(t *testing.T) string {
	lease := &coordinationv1.Lease{}
	if err := e.client.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: operator.LeaderElectionID}, lease); err != nil {
		return ""
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	pod, _, _ := strings.Cut(*lease.Spec.HolderIdentity, "_")
	return pod
}

// leader checks that one of pods holds the Lease.
func (e *env) leader(t *testing.T, pods []corev1.Pod) {
	t.Helper()
	holder := e.holder(t)
	for _, p := range pods {
		if p.Name == holder {
			return
		}
	}
	t.Errorf("the Lease is held by %s, none of the Ready Pods", holder)
}

// checkRunningContainer looks at the manager as it runs: its readiness answered over
// HTTP at the Pod's IP, its process's user, root mount and memory cgroup on the host, its
// limits against the chart's values, and its log for write errors.
func checkRunningContainer(t *testing.T, e *env, pod corev1.Pod) {
	t.Helper()
	c := pod.Spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.LivenessProbe == nil {
		t.Errorf("Pod %s has no HTTP readiness and liveness probes", pod.Name)
	} else {
		probe := c.ReadinessProbe.HTTPGet
		url := fmt.Sprintf("http://%s:%d%s", pod.Status.PodIP, portNumber(c, probe.Port.String()), probe.Path)
		if code, body, err := testenv.HTTPGet(t.Context(), url); err != nil || code != 200 {
			t.Errorf("Pod %s's readiness endpoint %s answered %d %q (%v)", pod.Name, url, code, body, err)
		}
	}

	values := chartValues(t)
	for name, want := range map[corev1.ResourceName]string{
		corev1.ResourceMemory: values.Resources.Limits.Memory, corev1.ResourceCPU: values.Resources.Limits.CPU,
	} {
		if got := c.Resources.Limits[name]; got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("Pod %s's %s limit is %s, the chart's is %s", pod.Name, name, got.String(), want)
		}
	}

	pid := containerPID(t, e, pod)
	if pid == 0 {
		return
	}
	status := readProc(t, pid, "status")
	if !strings.Contains(status, "\nUid:\t65532\t65532\t65532\t65532\n") || !strings.Contains(status, "\nGid:\t65532\t65532\t65532\t65532\n") {
		t.Errorf("Pod %s's manager does not run as 65532:65532:\n%s", pod.Name, grepLines(status, "Uid:", "Gid:"))
	}
	if caps := grepLines(status, "CapEff:"); !strings.Contains(caps, "0000000000000000") {
		t.Errorf("Pod %s's manager has capabilities: %s", pod.Name, caps)
	}
	if root := rootMountOptions(readProc(t, pid, "mountinfo")); !strings.Contains(","+root+",", ",ro,") {
		t.Errorf("Pod %s's root filesystem is mounted %q, want read-only", pod.Name, root)
	}
	want := resource.MustParse(values.Resources.Limits.Memory)
	if limit := memoryLimit(t, pid); limit != want.Value() {
		t.Errorf("Pod %s's memory cgroup limit is %d bytes, want the chart's %s (%d)", pod.Name, limit, values.Resources.Limits.Memory, want.Value())
	}

	logs, err := e.clientset.CoreV1().Pods(namespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(t.Context())
	if err != nil {
		t.Errorf("reading Pod %s's log through the API server: %v", pod.Name, err)
	}
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, "read-only file system") || strings.Contains(line, "permission denied") {
			t.Errorf("Pod %s logged a write error: %s", pod.Name, line)
		}
		// The API server's RBAC refusals read `... is forbidden: User "system:serviceaccount:..."`.
		if strings.Contains(line, "is forbidden: User") {
			t.Errorf("Pod %s was refused by RBAC; the chart's rules are not enough: %s", pod.Name, line)
		}
	}
}

func portNumber(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	n, _ := strconv.Atoi(name)
	return int32(n)
}

// chartValues are the chart's default resources.
func chartValues(t *testing.T) (v struct {
	Resources struct {
		Limits struct {
			CPU    string `json:"cpu"`
			Memory string `json:"memory"`
		} `json:"limits"`
	} `json:"resources"`
}) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "charts", "associate-operator", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// containerPID finds the manager's process on the host: the one whose cgroup path holds
// the container's id.
func containerPID(t *testing.T, e *env, pod corev1.Pod) int {
	t.Helper()
	if len(pod.Status.ContainerStatuses) == 0 {
		t.Errorf("Pod %s has no container status", pod.Name)
		return 0
	}
	_, id, _ := strings.Cut(pod.Status.ContainerStatuses[0].ContainerID, "://")
	entries, _ := os.ReadDir("/proc")
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		cgroup, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "cgroup"))
		if err == nil && id != "" && bytes.Contains(cgroup, []byte(id)) {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", entry.Name(), "cmdline"))
			if bytes.HasPrefix(cmdline, []byte("/manager\x00")) {
				return pid
			}
		}
	}
	t.Errorf("no /manager process in container %s of Pod %s", id, pod.Name)
	return 0
}

func readProc(t *testing.T, pid int, file string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		t.Errorf("reading /proc/%d/%s: %v", pid, file, err)
	}
	return string(data)
}

func grepLines(text string, prefixes ...string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}

// rootMountOptions are the mount options of the mount at / in a mountinfo.
func rootMountOptions(mountinfo string) string {
	var opts string
	for _, line := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			opts = f[5] // the last mount at / is the one a process sees
		}
	}
	return opts
}

// memoryLimit is the memory cgroup limit of pid: v1's memory controller, else v2's.
func memoryLimit(t *testing.T, pid int) int64 {
	t.Helper()
	var file string
	for _, line := range strings.Split(readProc(t, pid, "cgroup"), "\n") {
		f := strings.SplitN(line, ":", 3)
		switch {
		case len(f) == 3 && strings.Contains(","+f[1]+",", ",memory,"):
			file = filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes")
		case len(f) == 3 && f[0] == "0" && f[1] == "" && file == "":
			file = filepath.Join("/sys/fs/cgroup", f[2], "memory.max")
		}
	}
	data, err := os.ReadFile(file)
	if file == "" || err != nil {
		t.Errorf("reading the memory limit of pid %d from %q: %v", pid, file, err)
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// sampleReceiver applies the sample receiver and policy and returns the signing secret.
func (e *env) sampleReceiver(t *testing.T) []byte {
	t.Helper()
	root := testenv.RepoRoot()
	if out, err := e.kubectl(t, "apply",
		"-f", filepath.Join(root, "config", "samples", "superoffice_v1alpha1_webhookreceiver.yaml"),
		"-f", filepath.Join(root, "config", "samples", "superoffice_v1alpha1_provisioningpolicy.yaml")); err != nil {
		t.Fatalf("applying the samples: %v\n%s", err, out)
	}
	secret := &corev1.Secret{}
	if err := e.client.Get(t.Context(), client.ObjectKey{Namespace: "default", Name: "superoffice-webhook"}, secret); err != nil {
		t.Fatal(err)
	}
	return secret.Data["secret"]
}

// webhookURL is the receiver's URL at the webhook Service's ClusterIP, which kube-proxy
// forwards to the Pods.
func (e *env) webhookURL(t *testing.T) string {
	t.Helper()
	svc, err := e.clientset.CoreV1().Services(namespace).Get(t.Context(), release+"-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		t.Fatalf("Service %s-webhook has no ClusterIP and port: %+v", release, svc.Spec)
	}
	return fmt.Sprintf("http://%s:%d%s", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port, receiverPath)
}

func (e *env) exists(t *testing.T, obj client.Object, ns, name string) {
	t.Helper()
	testenv.Eventually(t, podTimeout, fmt.Sprintf("%T %s/%s", obj, ns, name), func() error {
		return e.client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	})
}

// allStored checks that every delivery that got 200 is an Associate.
func (e *env) allStored(t *testing.T, delivered []int64) {
	t.Helper()
	for _, id := range delivered {
		a := &superofficev1alpha1.Associate{}
		if err := e.client.Get(t.Context(), client.ObjectKey{Namespace: "default", Name: tenantPrefix + strconv.FormatInt(id, 10)}, a); err != nil {
			t.Errorf("associate %d got 200 but is not stored: %v", id, err)
		}
	}
}

// allProvisioned waits for every delivered Associate to be Ready (its policy applied) and
// for its person's ServiceAccount.
func (e *env) allProvisioned(t *testing.T, delivered []int64) {
	t.Helper()
	testenv.Eventually(t, podTimeout, "every delivered Associate Ready and its ServiceAccount there", func() error {
		list := &superofficev1alpha1.AssociateList{}
		if err := e.client.List(t.Context(), list, client.InNamespace("default")); err != nil {
			return err
		}
		ready := map[string]bool{}
		for _, a := range list.Items {
			if meta.IsStatusConditionTrue(a.Status.Conditions, superofficev1alpha1.ConditionReady) {
				ready[a.Name] = true
			}
		}
		var waiting []int64
		for _, id := range delivered {
			if !ready[tenantPrefix+strconv.FormatInt(id, 10)] {
				waiting = append(waiting, id)
			}
		}
		if len(waiting) > 0 {
			return fmt.Errorf("%d of %d Associates not Ready yet, e.g. %s%d", len(waiting), len(delivered), tenantPrefix, waiting[0])
		}
		return nil
	})
	for _, id := range delivered[:min(len(delivered), streamPersons)] {
		person := streamPerson(id)
		if err := e.client.Get(t.Context(), client.ObjectKey{Namespace: "default", Name: "person-" + strconv.FormatInt(person, 10)}, &corev1.ServiceAccount{}); err != nil {
			t.Errorf("associate %d is Ready but its ServiceAccount person-%d is not there: %v", id, person, err)
		}
	}
}

// checkEvictionRefused scales the Deployment to one replica, asks the eviction API to
// evict it, expects 429 from the PodDisruptionBudget, and scales back.
func (e *env) checkEvictionRefused(t *testing.T) {
	t.Helper()
	if out, err := e.kubectl(t, "scale", "deployment/"+release, "-n", namespace, "--replicas=1"); err != nil {
		t.Fatalf("kubectl scale: %v\n%s", err, out)
	}
	only := e.readyPods(t, 1)[0]
	testenv.Eventually(t, podTimeout, "the PodDisruptionBudget counts one healthy Pod", func() error {
		pdb := &policyv1.PodDisruptionBudget{}
		if err := e.client.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: release}, pdb); err != nil {
			return err
		}
		if pdb.Status.ObservedGeneration != pdb.Generation || pdb.Status.ExpectedPods != 1 || pdb.Status.CurrentHealthy != 1 {
			return fmt.Errorf("PodDisruptionBudget status %+v", pdb.Status)
		}
		return nil
	})
	err := e.clientset.PolicyV1().Evictions(namespace).Evict(t.Context(), &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: only.Name}})
	if !apierrors.IsTooManyRequests(err) {
		t.Errorf("evicting the only Ready Pod %s answered %v, want 429 from the PodDisruptionBudget", only.Name, err)
	}
	if out, err := e.kubectl(t, "scale", "deployment/"+release, "-n", namespace, "--replicas=2"); err != nil {
		t.Fatalf("kubectl scale: %v\n%s", err, out)
	}
	e.readyPods(t, 2)
}
