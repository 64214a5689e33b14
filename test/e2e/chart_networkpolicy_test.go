package e2e

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// renderNetworkPolicy renders the chart with networkPolicy.enabled and the extra
// arguments, and decodes the NetworkPolicy strictly (an unknown field fails the test).
func renderNetworkPolicy(t *testing.T, args ...string) *networkingv1.NetworkPolicy {
	t.Helper()
	objects, err := helmTemplate(t, append([]string{"--set", "networkPolicy.enabled=true"}, args...)...)
	if err != nil {
		t.Fatalf("helm template with networkPolicy.enabled %v: %v", args, err)
	}
	obj := byKind(objects)["NetworkPolicy/"+releaseName]
	if obj == nil {
		t.Fatalf("networkPolicy.enabled renders no NetworkPolicy %s; got kinds %v", releaseName, kinds(objects))
	}
	var np networkingv1.NetworkPolicy
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, &np, true); err != nil {
		t.Fatalf("the NetworkPolicy is not a valid networking.k8s.io/v1 NetworkPolicy: %v", err)
	}
	deployment := byKind(objects)["Deployment/"+releaseName]
	podLabels, _, _ := unstructured.NestedStringMap(deployment.Object, "spec", "template", "metadata", "labels")
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if podLabels[k] != v {
			t.Errorf("the NetworkPolicy selects %s=%s, which the manager's pods (%v) do not carry", k, v, podLabels)
		}
	}
	if len(np.Spec.PodSelector.MatchLabels) == 0 {
		t.Error("the NetworkPolicy selects every pod of the namespace; want the manager's only")
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes = %v, want [Ingress Egress]", np.Spec.PolicyTypes)
	}
	return &np
}

func tcpPorts(ports []networkingv1.NetworkPolicyPort) []int32 {
	var out []int32
	for _, p := range ports {
		if p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP {
			out = append(out, p.Port.IntVal)
		}
	}
	return out
}

// ingressFrom is the peers admitted to port (nil when no rule names the port).
func ingressFrom(np *networkingv1.NetworkPolicy, port int32) []networkingv1.NetworkPolicyPeer {
	for _, rule := range np.Spec.Ingress {
		if slices.Contains(tcpPorts(rule.Ports), port) {
			return rule.From
		}
	}
	return nil
}

// egressTo is the rules that allow TCP port.
func egressTo(np *networkingv1.NetworkPolicy, port int32) []networkingv1.NetworkPolicyEgressRule {
	var out []networkingv1.NetworkPolicyEgressRule
	for _, rule := range np.Spec.Egress {
		if slices.Contains(tcpPorts(rule.Ports), port) {
			out = append(out, rule)
		}
	}
	return out
}

func cidrsOf(rules []networkingv1.NetworkPolicyEgressRule) []string {
	var out []string
	for _, rule := range rules {
		for _, peer := range rule.To {
			if peer.IPBlock != nil {
				out = append(out, peer.IPBlock.CIDR+" except "+strings.Join(peer.IPBlock.Except, ","))
			}
		}
	}
	return out
}

func TestChartNetworkPolicyIsOptInAndAdmitsOnlyTheConfiguredPeers(t *testing.T) {
	objects, err := helmTemplate(t)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(kinds(objects), "NetworkPolicy") {
		t.Fatal("the default install renders a NetworkPolicy; networkPolicy.enabled defaults to false")
	}

	t.Run("defaults", func(t *testing.T) {
		np := renderNetworkPolicy(t)
		if len(np.Spec.Ingress) != 2 {
			t.Errorf("want 2 ingress rules (webhook, metrics), got %d: %+v", len(np.Spec.Ingress), np.Spec.Ingress)
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 || len(rule.Ports) == 0 {
				t.Errorf("ingress rule %+v admits every source or every port; each rule must name its peers and port", rule)
			}
		}
		webhook := ingressFrom(np, 8082)
		if len(webhook) != 1 || webhook[0].NamespaceSelector == nil || webhook[0].PodSelector == nil ||
			webhook[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ingress-nginx" ||
			webhook[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "ingress-nginx" {
			t.Errorf("webhook port 8082: want only ingress-nginx's pods in namespace ingress-nginx admitted, got %+v", webhook)
		}
		metrics := ingressFrom(np, 8080)
		if len(metrics) != 1 || metrics[0].NamespaceSelector == nil || metrics[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
			t.Errorf("metrics port 8080: want namespace monitoring admitted, got %+v", metrics)
		}
		if from := ingressFrom(np, 8081); from != nil {
			t.Errorf("the health port 8081 is open to %+v; the kubelet's probes come from the node", from)
		}

		var dnsUDP, dnsTCP bool
		for _, rule := range np.Spec.Egress {
			for _, p := range rule.Ports {
				if p.Port.IntVal == 53 && len(rule.To) == 1 && rule.To[0].PodSelector != nil && rule.To[0].PodSelector.MatchLabels["k8s-app"] == "kube-dns" {
					dnsUDP = dnsUDP || *p.Protocol == corev1.ProtocolUDP
					dnsTCP = dnsTCP || *p.Protocol == corev1.ProtocolTCP
				}
			}
		}
		if !dnsUDP || !dnsTCP {
			t.Errorf("want egress to kube-dns on 53 over UDP and TCP, got %+v", np.Spec.Egress)
		}
		if rules := egressTo(np, 6443); len(rules) != 1 || len(rules[0].To) != 0 {
			t.Errorf("want the API server reachable on 6443 at any address by default (no CIDRs set), got %+v", rules)
		}
		if got := cidrsOf(egressTo(np, 443)); !slices.Contains(got, "0.0.0.0/0 except ") {
			t.Errorf("want SuperOffice reachable on 443 at 0.0.0.0/0 by default, got %v", got)
		}
		for _, rule := range np.Spec.Egress {
			if len(rule.Ports) == 0 {
				t.Errorf("egress rule %+v allows every port", rule)
			}
		}
	})

	t.Run("values narrow every rule", func(t *testing.T) {
		np := renderNetworkPolicy(t,
			"--set", "webhook.port=9443", "--set", "metrics.port=9090",
			"--set-json", `networkPolicy.webhook.from=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"traefik"}}}]`,
			"--set-json", `networkPolicy.metrics.from=[{"podSelector":{"matchLabels":{"app":"prometheus"}}}]`,
			"--set-json", `networkPolicy.egress.apiServer={"cidrs":["10.0.0.1/32"],"ports":[6443]}`,
			"--set-json", `networkPolicy.egress.superOffice={"cidrs":["0.0.0.0/0"],"except":["10.0.0.0/8","169.254.0.0/16"],"ports":[443]}`,
			"--set-json", `networkPolicy.egress.httpActions={"cidrs":["192.0.2.0/24"],"ports":[8443]}`,
			"--set-json", `networkPolicy.extraEgress=[{"to":[{"ipBlock":{"cidr":"192.0.2.9/32"}}],"ports":[{"port":3128,"protocol":"TCP"}]}]`,
		)
		if from := ingressFrom(np, 9443); len(from) != 1 || from[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "traefik" {
			t.Errorf("webhook port 9443: want namespace traefik admitted, got %+v", from)
		}
		if from := ingressFrom(np, 9090); len(from) != 1 || from[0].PodSelector.MatchLabels["app"] != "prometheus" {
			t.Errorf("metrics port 9090: want app=prometheus admitted, got %+v", from)
		}
		if got := cidrsOf(egressTo(np, 6443)); !slices.Equal(got, []string{"10.0.0.1/32 except "}) {
			t.Errorf("API server egress: want only 10.0.0.1/32 on 6443, got %v", got)
		}
		if got := cidrsOf(egressTo(np, 443)); !slices.Equal(got, []string{"0.0.0.0/0 except 10.0.0.0/8,169.254.0.0/16"}) {
			t.Errorf("SuperOffice egress: want 0.0.0.0/0 except the private and link-local ranges on 443, got %v", got)
		}
		if got := cidrsOf(egressTo(np, 8443)); !slices.Equal(got, []string{"192.0.2.0/24 except "}) {
			t.Errorf("HTTP action egress: want 192.0.2.0/24 on 8443, got %v", got)
		}
		if got := cidrsOf(egressTo(np, 3128)); !slices.Equal(got, []string{"192.0.2.9/32 except "}) {
			t.Errorf("extraEgress: want the proxy 192.0.2.9/32 on 3128, got %v", got)
		}
	})

	t.Run("an empty peer list admits nobody", func(t *testing.T) {
		np := renderNetworkPolicy(t, "--set-json", "networkPolicy.webhook.from=[]", "--set-json", "networkPolicy.metrics.from=[]")
		if len(np.Spec.Ingress) != 0 {
			t.Errorf("want no ingress rule (nothing admitted), got %+v", np.Spec.Ingress)
		}
	})
}

func TestChartNetworkPolicyValuesAreChecked(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"an unknown key", []string{"--set", "networkPolicy.ingressFrom=x"}, "'ingressFrom' not allowed"},
		{"a string for enabled", []string{"--set-string", "networkPolicy.enabled=yes"}, "/networkPolicy/enabled"},
		{"a misspelt peer field", []string{"--set-json", `networkPolicy.webhook.from=[{"namespaceSelecter":{}}]`}, "'namespaceSelecter' not allowed"},
		{"a CIDR that is none", []string{"--set-json", `networkPolicy.egress.superOffice.cidrs=["superoffice.com"]`}, "/networkPolicy/egress/superOffice/cidrs/0"},
		{"a port out of range", []string{"--set-json", `networkPolicy.egress.httpActions.ports=[70000]`}, "/networkPolicy/egress/httpActions/ports/0"},
		{"no ports, which would allow them all", []string{"--set-json", `networkPolicy.egress.apiServer.ports=[]`}, "/networkPolicy/egress/apiServer/ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helmTemplate(t, append([]string{"--set", "networkPolicy.enabled=true"}, tt.args...)...)
			if err == nil {
				t.Fatalf("helm template %v succeeded; the schema must refuse %s", tt.args, tt.name)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("helm template %v failed with %q, want a complaint about %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestChartNetworkPolicyIsAcceptedByTheAPIServer(t *testing.T) {
	c := startCluster(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace}}
	if err := c.client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"defaults": nil,
		"narrowed": {"--set-json", `networkPolicy.egress.apiServer={"cidrs":["10.0.0.1/32","fd00::1/128"],"ports":[6443]}`,
			"--set-json", `networkPolicy.egress.superOffice={"cidrs":["0.0.0.0/0"],"except":["10.0.0.0/8","169.254.0.0/16"],"ports":[443]}`,
			"--set-json", `networkPolicy.extraEgress=[{"to":[{"ipBlock":{"cidr":"192.0.2.9/32"}}],"ports":[{"port":3128}]}]`},
	} {
		t.Run(name, func(t *testing.T) {
			np := renderNetworkPolicy(t, args...)
			np.Namespace = releaseNamespace
			if err := c.client.Create(t.Context(), np, client.DryRunAll); err != nil {
				t.Fatalf("the API server refuses the chart's NetworkPolicy: %v", err)
			}
		})
	}
}
