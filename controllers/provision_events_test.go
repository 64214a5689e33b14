package controllers

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// testSummaryInterval makes the per-policy summaries observable in a test.
const testSummaryInterval = 500 * time.Millisecond

// normalEvents lists the namespace's Normal Events of a reason by the kind they regard.
func (s *suite) normalEvents(g gomega.Gomega, namespace, reason string) map[string][]eventsv1.Event {
	var events eventsv1.EventList
	g.Expect(s.c.List(s.ctx, &events, client.InNamespace(namespace))).To(gomega.Succeed())
	byKind := map[string][]eventsv1.Event{}
	for _, e := range events.Items {
		if e.Type == corev1.EventTypeNormal && e.Reason == reason {
			byKind[e.Regarding.Kind] = append(byKind[e.Regarding.Kind], e)
		}
	}
	return byKind
}

var summaryCount = regexp.MustCompile(`^Provisioned (\d+) Associates for the first time`)

// firstProvisionsAreSummedUp: Associates provisioned for the first time get no Event of
// their own but count in one Event on the policy; a change to what an Associate already
// had, and a deprovision, still get one on the Associate.
func (s *suite) firstProvisionsAreSummedUp(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "summaries")
	s.policy(t, ns, "person-accounts", templatePolicy(personServiceAccount))
	var associates []*superofficev1alpha1.Associate
	for i := range 3 {
		associates = append(associates, s.associate(t, ns, int64(4001+i), int64(501+i), superofficev1alpha1.AssociateTypeEmployee))
	}
	for _, a := range associates {
		s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	}
	g.Eventually(func(g gomega.Gomega) {
		events := s.normalEvents(g, ns, superofficev1alpha1.ReasonProvisioned)
		g.Expect(events["Associate"]).To(gomega.BeEmpty(), "a first provision writes no Event per Associate")
		total := 0
		for _, e := range events["ProvisioningPolicy"] {
			m := summaryCount.FindStringSubmatch(e.Note)
			g.Expect(m).NotTo(gomega.BeNil(), "summary note %q", e.Note)
			n, _ := strconv.Atoi(m[1])
			total += n
		}
		g.Expect(total).To(gomega.Equal(3), "the policy's summaries count every first provision once")
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())

	// A new person: the Associate's objects change, which a person may act on.
	changed := associates[0]
	s.update(t, changed, func() { changed.Spec.PersonID = 599 })
	g.Eventually(func(g gomega.Gomega) {
		notes := []string{}
		for _, e := range s.normalEvents(g, ns, superofficev1alpha1.ReasonProvisioned)["Associate"] {
			notes = append(notes, e.Note)
		}
		g.Expect(notes).To(gomega.ContainElement(gomega.ContainSubstring("ServiceAccount " + ns + "/person-599")))
		deprovisions := s.normalEvents(g, ns, superofficev1alpha1.ReasonDeprovisioned)["Associate"]
		g.Expect(deprovisions).NotTo(gomega.BeEmpty(), "the old person's ServiceAccount is deprovisioned with an Event")
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
}
