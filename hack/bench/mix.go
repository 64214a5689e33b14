package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// The shape of real SuperOffice traffic, in percent of deliveries.
const (
	mixChangedPct    = 85 // half with FieldValues, half without
	mixCreatedPct    = 5
	mixDeletedPct    = 2
	mixResentPct     = 5 // the same body (EventId) sent again
	mixOutOfOrderPct = 3 // an older change of an associate, arriving after a newer one
)

// mixGap is how many deliveries at least separate a resend or a late event from the one it
// repeats or precedes: SuperOffice resends after a timeout, not at once.
const mixGap = 64

// mixSegments is how many stretches the stream is played in, alternating the two sides.
const mixSegments = 8

// mixItem is one delivery of the stream, and the net write it makes.
type mixItem struct {
	event     string // associate.created, associate.changed or associate.deleted
	index     int    // the associate (fixture index; created ones are beyond the existing)
	body      []byte
	signature string
	// write is false for resends and late events: they are duplicate or stale, and the
	// raw side makes no write for them.
	write       bool
	fieldValues bool
}

// mixStream builds n deliveries over `existing` Associates, shaped as the constants say,
// deterministically (a fixed seed), with Timestamps strictly increasing in the order the
// events happened, ending before now.
func mixStream(n, existing int) []mixItem {
	rng := rand.New(rand.NewPCG(14, 14))
	base := time.Now().Add(-time.Hour).UTC()
	share := func(pct int) int { return n * pct / 100 }
	created, deleted := share(mixCreatedPct), share(mixDeletedPct)
	resent, late := share(mixResentPct), share(mixOutOfOrderPct)
	changed := n - created - deleted - resent - late

	kinds := make([]string, 0, changed+created+deleted)
	for k, c := range map[string]int{mirror.EventChanged: changed, mirror.EventCreated: created, mirror.EventDeleted: deleted} {
		for range c {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds) // map order is random; the shuffle below is seeded
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	// Changes and deletions go to distinct existing associates (a permutation), so that
	// the raw side's writes are independent; a deleted associate gets nothing after it.
	perm := rng.Perm(existing)
	next := 0
	pick := func() int {
		i := perm[next%existing]
		next++
		return i
	}
	type keyed struct {
		key  float64
		item mixItem
	}
	var all []keyed
	var primaries []mixItem
	for j, kind := range kinds {
		at := base.Add(time.Duration(2*j+1) * time.Millisecond)
		item := mixItem{event: kind, write: true}
		switch kind {
		case mirror.EventCreated:
			item.index = existing + j
		default:
			item.index = pick()
		}
		item.fieldValues = kind == mirror.EventCreated || (kind == mirror.EventChanged && j%2 == 0)
		item.body = mixBody(item, fmt.Sprintf("%08d-0000-4000-8000-%012d", j, item.index), at)
		item.signature = signature.Sign([]byte(benchSecret), item.body)
		primaries = append(primaries, item)
		all = append(all, keyed{float64(j), item})
	}
	// Resends and late events follow the delivery they concern by at least mixGap.
	for s := range resent + late {
		j := rng.IntN(max(len(primaries)-mixGap, 1))
		original := primaries[j]
		item := original
		item.write = false
		if s >= resent {
			// An earlier change of the same associate, which happened just before it
			// (a created one is not older than its creation: it is applied as a change).
			at := base.Add(time.Duration(2*j) * time.Millisecond)
			item.event, item.fieldValues = mirror.EventChanged, false
			item.body = mixBody(item, fmt.Sprintf("%08d-0000-4000-9000-%012d", j, item.index), at)
			item.signature = signature.Sign([]byte(benchSecret), item.body)
		}
		all = append(all, keyed{float64(j+mixGap+rng.IntN(4*mixGap)) + 0.5, item})
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].key < all[b].key })
	items := make([]mixItem, len(all))
	for i, k := range all {
		items[i] = k.item
	}
	return items
}

// mixBody is the payload of one event, shaped like the documented ones.
func mixBody(item mixItem, eventID string, at time.Time) []byte {
	id := associateID(item.index)
	fields := ""
	switch {
	case item.event == mirror.EventDeleted:
		fields = fmt.Sprintf(`,"Values":{"associate_id":%d,"person_id":%d}`, id, 1000+item.index)
	case item.fieldValues:
		fields = fmt.Sprintf(`,"FieldValues":{"deleted":0,"group_idx":%d,"person_id":%d,"registered_associate_id":5,"type":0,`+
			`"updated":%q,"updated_associate_id":7,"waiting_for_approval":0}`,
			5, 1000+item.index, at.Format(time.RFC3339Nano))
	}
	return fmt.Appendf(nil, `{"EventId":%q,"Timestamp":%q,"Changes":["group_idx","updated"],"Event":%q,`+
		`"PrimaryKey":%d,"Entity":"associate","ContextIdentifier":%q,"ChangedByAssociateId":316,"WebhookName":"bench"%s}`,
		eventID, at.Format(time.RFC3339Nano), item.event, id, benchTenant, fields)
}

// benchIngressMix plays the same stream of deliveries twice at the same concurrency,
// interleaved in halves: through the running ingress over existing Associates, and as the
// net writes a plain client makes with server-side apply (an apply per change or creation;
// for a deletion its tombstone's apply and the delete; nothing for resends and late events)
// over a copy of them.
func benchIngressMix(ctx context.Context, _ *testenv.Environment, cfg *rest.Config, admin client.Client, s settings, res *results) error {
	const viaIngress, viaRaw = "bench-mix", "bench-mix-raw"
	existing := s.ingressN
	for _, ns := range []string{viaIngress, viaRaw} {
		if err := createNamespace(ctx, admin, ns); err != nil {
			return err
		}
		if _, err := createAssociates(ctx, admin, ns, existing, 4*s.concurrency); err != nil {
			return fmt.Errorf("creating %d Associates in %s: %w", existing, ns, err)
		}
	}
	url, stop, err := startIngress(ctx, cfg, admin, viaIngress)
	if err != nil {
		return err
	}
	defer stop()

	items := mixStream(s.ingressN, existing)
	sender := newWebhookSender(url, s.concurrency)
	results := make([]string, len(items))
	deliver := func(ctx context.Context, i int) error {
		reply, err := sender.send(ctx, items[i].body, items[i].event, items[i].signature)
		if err != nil {
			return fmt.Errorf("delivery %d (%s): %w", i, items[i].event, err)
		}
		results[i] = reply
		return nil
	}
	rawWrite := func(ctx context.Context, i int) error {
		item := items[i]
		if !item.write {
			return nil
		}
		if item.event == mirror.EventDeleted {
			return rawDelete(ctx, admin, viaRaw, item)
		}
		obj := mixRawAssociate(viaRaw, item)
		return admin.Patch(ctx, obj, client.Apply, client.FieldOwner("bench"), client.ForceOwnership) //nolint:staticcheck // the plain client's SSA
	}

	// The machine is shared: alternate the two sides over mixSegments stretches of the
	// stream, each side first in every other one, so that a change of load falls on both.
	var ingressTime, rawTime time.Duration
	rawRequests, ingressRequests := map[string]float64{}, map[string]float64{}
	type side struct {
		work     func(context.Context, int) error
		took     *time.Duration
		requests map[string]float64
		name     string
	}
	raw := side{rawWrite, &rawTime, rawRequests, "raw writes"}
	viaHTTP := side{deliver, &ingressTime, ingressRequests, "deliveries"}
	for seg := range mixSegments {
		from, to := seg*len(items)/mixSegments, (seg+1)*len(items)/mixSegments
		order := []side{raw, viaHTTP}
		if seg%2 == 1 {
			order = []side{viaHTTP, raw}
		}
		for _, sd := range order {
			before, err := apiRequests(ctx, cfg)
			if err != nil {
				return err
			}
			_, took, err := runBounded(ctx, from, to, s.concurrency, sd.work)
			if err != nil {
				return fmt.Errorf("%s: %w", sd.name, err)
			}
			*sd.took += took
			after, err := apiRequests(ctx, cfg)
			if err != nil {
				return err
			}
			addDelta(sd.requests, before, after)
		}
	}
	if err := checkMixOutcomes(items, results); err != nil {
		return err
	}
	rawRate := float64(len(items)) / rawTime.Seconds()
	ingressRate := float64(len(items)) / ingressTime.Seconds()
	res.set("ingress_vs_raw_mix_ratio", "%.3f", ingressRate/rawRate)
	res.set("ingress_mix_deliveries_per_s", "%.0f", ingressRate)
	res.set("raw_mix_deliveries_per_s", "%.0f", rawRate)
	res.set("ingress_mix_requests_per_delivery", "%.2f", perObject("mix (deliveries)", nil, ingressRequests, len(items)))
	res.set("raw_mix_requests_per_delivery", "%.2f", perObject("mix (raw)", nil, rawRequests, len(items)))
	res.set("ingress_mix_n", "%d", len(items))
	return nil
}

// checkMixOutcomes: every delivery that makes a net write was applied, and the others
// were answered duplicate or stale; otherwise the two sides did not do the same work.
func checkMixOutcomes(items []mixItem, replies []string) error {
	counts := map[string]int{}
	for i, item := range items {
		var reply struct {
			Result string `json:"result"`
		}
		_ = json.Unmarshal([]byte(replies[i]), &reply)
		ok := reply.Result == string(mirror.Applied)
		if !item.write {
			ok = reply.Result == string(mirror.Duplicate) || reply.Result == string(mirror.Stale)
		}
		if !ok {
			return fmt.Errorf("delivery %d (%s, net write %t) answered %s", i, item.event, item.write, replies[i])
		}
		counts[strings.TrimPrefix(item.event, "associate.")+" "+reply.Result]++
	}
	fmt.Fprintf(os.Stderr, "bench: mix outcomes: %v\n", counts)
	return nil
}

// mixRawAssociate is what the ingress holds after item: the fixture with item's
// provenance, and its FieldValues when it carries them.
func mixRawAssociate(ns string, item mixItem) *unstructured.Unstructured {
	obj := rawAssociate(ns, item.index)
	var ev struct {
		EventID   string `json:"EventId"`
		Timestamp string `json:"Timestamp"`
	}
	_ = json.Unmarshal(item.body, &ev)
	annotations := obj.Object["metadata"].(map[string]any)["annotations"].(map[string]any)
	annotations[v1alpha1.AnnotationLastEventID] = ev.EventID
	annotations[v1alpha1.AnnotationLastEvent] = item.event
	annotations[v1alpha1.AnnotationLastEventTimestamp] = ev.Timestamp
	labels := obj.Object["metadata"].(map[string]any)["labels"].(map[string]any)
	labels[v1alpha1.LabelReceiverNamespace] = ns
	if item.fieldValues {
		spec := obj.Object["spec"].(map[string]any)
		spec["groupIdx"], spec["updatedAssociateId"], spec["updated"] = int64(5), int64(7), ev.Timestamp
	}
	return obj
}

// rawDelete makes a deletion's net writes: its tombstone, then the delete.
func rawDelete(ctx context.Context, c client.Client, ns string, item mixItem) error {
	name, _ := v1alpha1.AssociateName(benchTenant, associateID(item.index))
	tomb := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": mirror.TombstoneName(name), "namespace": ns,
			"labels": map[string]any{mirror.LabelTombstone: "true", v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue},
		},
		"data": map[string]any{"eventId": "x", "timestamp": time.Now().UTC().Format(time.RFC3339Nano)},
	}}
	if err := c.Patch(ctx, tomb, client.Apply, client.FieldOwner("bench"), client.ForceOwnership); err != nil { //nolint:staticcheck // the plain client's SSA
		return err
	}
	err := c.Delete(ctx, &v1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
