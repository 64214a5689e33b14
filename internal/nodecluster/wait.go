package nodecluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// tlsClient is an HTTP client with the cluster CA and a client certificate.
func tlsClient(caFile, certFile, keyFile string) (*http.Client, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}}, nil
}

// httpOK is nil when url answers 200.
func httpOK(ctx context.Context, c *http.Client, url string) error {
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}

// waitNodeReady waits up to three minutes for the Node's Ready condition and for the
// default ServiceAccount, which the controller-manager makes.
func (u *starter) waitNodeReady() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", u.l.kubeconfig("admin"))
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := u.ctx
	ready := func() error {
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
				return fmt.Errorf("node %s is not Ready: %s: %s", NodeName, c.Reason, c.Message)
			}
		}
		if len(node.Spec.Taints) > 0 {
			return fmt.Errorf("node %s still has taints %v", NodeName, node.Spec.Taints)
		}
		_, err = cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}
	// The kubelet never closes exited here (nil): only the deadline ends the wait.
	if err := waitFor(ctx, "kubelet", u.l, nil, 3*time.Minute, ready); err != nil {
		return fmt.Errorf("%w\nthe end of the controller-manager's log:\n%s", err, u.l.tail("kube-controller-manager", 10))
	}
	return nil
}
