package e2e

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/render"
)

// measuredPeakMiB50k is the manager's peak resident memory with 50,000 Associates, 2,500
// tombstones and 10 receivers (make bench: manager_peak_rss_mb_50k=354.4 MB), in MiB.
const measuredPeakMiB50k = 338

// The default memory limit holds what the manager may hold at once at 50,000 associates:
// the measured peak, the in-flight webhook bodies and the template renders at their
// limits, under the Go memory limit the manager sets from it (90 %); the request at least
// holds the settled figure.
func TestChartDefaultMemoryHoldsFiftyThousandAssociates(t *testing.T) {
	requireTools(t)
	resources := renderDeployment(t).Spec.Template.Spec.Containers[0].Resources
	limit, request := resources.Limits[corev1.ResourceMemory], resources.Requests[corev1.ResourceMemory]
	limitText, requestText := limit.String(), request.String()

	const mib = 1 << 20
	renders := int64(render.MaxConcurrentRenders) * 2 * render.MaxAllocBytes // 64 MiB each
	need := measuredPeakMiB50k*mib + ingress.DefaultMaxInflightBodyBytes + renders
	if goLimit := limit.Value() * 9 / 10; goLimit < need {
		t.Errorf("the default memory limit %s gives a Go memory limit of %d MiB, below the %d MiB the manager may need at 50,000 associates (%d MiB peak + %d MiB bodies + %d MiB renders)",
			limitText, goLimit/mib, need/mib, measuredPeakMiB50k, ingress.DefaultMaxInflightBodyBytes/mib, renders/mib)
	}
	const settledMiB50k = 305 // manager_rss_mb_50k=319.8 MB
	if request.Value() < settledMiB50k*mib {
		t.Errorf("the default memory request %s is below the settled %d MiB at 50,000 associates", requestText, settledMiB50k)
	}
}
