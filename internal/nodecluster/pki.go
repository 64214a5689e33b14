package nodecluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certLifetime outlives any test run and any local cluster a person keeps for a day.
const certLifetime = 7 * 24 * time.Hour

// identity is one client certificate and the kubeconfig that uses it.
type identity struct {
	file   string // base name of .crt, .key and .kubeconfig
	user   string
	groups []string
}

// The cluster's users, as kubeadm names them, so that the bootstrap RBAC roles apply.
var identities = []identity{
	{file: "admin", user: "kubernetes-admin", groups: []string{"system:masters"}},
	{file: "controller-manager", user: "system:kube-controller-manager"},
	{file: "scheduler", user: "system:kube-scheduler"},
	{file: "kubelet", user: "system:node:" + NodeName, groups: []string{"system:nodes"}},
	{file: "kube-proxy", user: "system:kube-proxy"},
	{file: "apiserver-kubelet-client", user: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}},
}

// writePKI makes the cluster's CA, the API server's serving certificate, a client
// certificate and kubeconfig for each identity, and the service-account signing key.
func writePKI(dir, server string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Minute)
	caTemplate := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "associate-operator node suite CA"},
		NotBefore:             now,
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writeCert(filepath.Join(dir, "ca"), caDER, caKey); err != nil {
		return err
	}

	leaf := func(cn string, orgs []string, usages ...x509.ExtKeyUsage) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: cn, Organization: orgs},
			NotBefore:    now,
			NotAfter:     now.Add(certLifetime),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usages,
		}
	}
	serving := leaf("kube-apiserver", nil, x509.ExtKeyUsageServerAuth)
	serving.IPAddresses = []net.IP{net.ParseIP(GatewayIP), net.ParseIP(APIServiceIP), net.ParseIP("127.0.0.1")}
	serving.DNSNames = []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "localhost"}
	// etcd serves and talks to its peer with TLS and takes only the API server's client
	// certificate: anyone who can write to etcd can run a Pod as root.
	etcd := leaf("etcd", nil, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	etcd.IPAddresses, etcd.DNSNames = []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"}
	for base, template := range map[string]*x509.Certificate{
		"apiserver":             serving,
		"etcd":                  etcd,
		"apiserver-etcd-client": leaf("kube-apiserver-etcd-client", nil, x509.ExtKeyUsageClientAuth),
	} {
		if err := issue(filepath.Join(dir, base), template, ca, caKey); err != nil {
			return err
		}
	}
	for _, id := range identities {
		base := filepath.Join(dir, id.file)
		if err := issue(base, leaf(id.user, id.groups, x509.ExtKeyUsageClientAuth), ca, caKey); err != nil {
			return err
		}
		if err := writeKubeconfig(base+".kubeconfig", server, filepath.Join(dir, "ca.crt"), base+".crt", base+".key"); err != nil {
			return err
		}
	}

	// Service-account tokens are signed with RSA, which every consumer accepts.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "sa.key"), "PRIVATE KEY", mustPKCS8(saKey), 0o600); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub, 0o644)
}

func issue(base string, template, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", filepath.Base(base), err)
	}
	return writeCert(base, der, key)
}

func writeCert(base string, der []byte, key crypto.Signer) error {
	if err := writePEM(base+".crt", "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writePEM(base+".key", "PRIVATE KEY", mustPKCS8(key), 0o600)
}

func mustPKCS8(key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // only for key types this file makes
	}
	return der
}

func writePEM(path, kind string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), mode)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

func writeKubeconfig(path, server, ca, cert, key string) error {
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: node-suite
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: user
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: node-suite
  context:
    cluster: node-suite
    user: user
current-context: node-suite
`, server, ca, cert, key)
	return os.WriteFile(path, []byte(text), 0o600)
}
