package e2e

import (
	"slices"
	"strings"
	"testing"
)

func TestChartPassesAllowActionNetworksToTheManager(t *testing.T) {
	objects, err := helmTemplate(t)
	if err != nil {
		t.Fatalf("the default values must render: %v", err)
	}
	for _, arg := range managerArgs(t, objects) {
		if strings.HasPrefix(arg, "--allow-action-networks") {
			t.Fatalf("by default HTTP actions get no allowed networks, the manager got %s", arg)
		}
	}
	objects, err = helmTemplate(t, "--set", "provisioning.allowActionNetworks={127.0.0.0/8,fd00:ec2::254/128}")
	if err != nil {
		t.Fatalf("helm template with provisioning.allowActionNetworks: %v", err)
	}
	if args := managerArgs(t, objects); !slices.Contains(args, "--allow-action-networks=127.0.0.0/8,fd00:ec2::254/128") {
		t.Fatalf("manager args %v lack --allow-action-networks=127.0.0.0/8,fd00:ec2::254/128", args)
	}
}

func TestChartRefusesAnAllowedActionNetworkThatIsNoCIDR(t *testing.T) {
	for _, value := range []string{"provisioning.allowActionNetworks={127.0.0.1}", "provisioning.allowActionNetworks=127.0.0.0/8"} {
		if _, err := helmTemplate(t, "--set", value); err == nil || !strings.Contains(err.Error(), "/provisioning/allowActionNetworks") {
			t.Errorf("expected helm to refuse --set %s as not a list of CIDRs, got %v", value, err)
		}
	}
}
