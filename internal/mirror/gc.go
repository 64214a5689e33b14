package mirror

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// TombstoneCollector deletes expired tombstones periodically, only ConfigMaps the mirror
// wrote (wroteTombstone). It runs on the leader only; Apply ignores expired tombstones
// anyway, so a late collection is harmless.
type TombstoneCollector struct {
	Client   client.Client
	Interval time.Duration
	Log      logr.Logger
	Now      func() time.Time
}

var (
	_ manager.Runnable               = (*TombstoneCollector)(nil)
	_ manager.LeaderElectionRunnable = (*TombstoneCollector)(nil)
)

// NeedLeaderElection: one replica collecting is enough.
func (c *TombstoneCollector) NeedLeaderElection() bool { return true }

// Start collects at every interval until ctx ends.
func (c *TombstoneCollector) Start(ctx context.Context) error {
	ticker := time.NewTicker(c.Interval)
	defer ticker.Stop()
	for {
		c.collect(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (c *TombstoneCollector) collect(ctx context.Context) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	var list corev1.ConfigMapList
	if err := c.Client.List(ctx, &list, client.MatchingLabels{LabelTombstone: "true"}); err != nil {
		c.Log.Error(err, "listing tombstones")
		return
	}
	for i := range list.Items {
		cm := &list.Items[i]
		if !wroteTombstone(cm) {
			continue // labelled like a tombstone by someone else: not ours to delete
		}
		// A marked tombstone that no longer parses is collected too: it protects nothing.
		t, ok := parseTombstone(cm)
		if ok && now().Before(t.Expires) {
			continue
		}
		// The resourceVersion precondition keeps a tombstone that a deletion just renewed.
		rv := cm.ResourceVersion
		callCtx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
		err := c.Client.Delete(callCtx, cm, client.Preconditions{ResourceVersion: &rv})
		cancel()
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			c.Log.Error(err, "deleting an expired tombstone", "tombstone", client.ObjectKeyFromObject(cm))
		}
	}
}
