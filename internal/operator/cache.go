package operator

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
)

// CacheOptions keeps the informer cache small: managed fields are dropped from every
// object, since nothing here reads them, the only ConfigMaps cached are the mirror's (tombstones and deferred events), and
// Associates, the most numerous, share their repeated strings (compactAssociate).
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}:              {Label: mirrorConfigMaps()},
			&superofficev1alpha1.Associate{}: {Transform: compactAssociate},
		},
	}
}

// mirrorConfigMaps selects the ConfigMaps the mirror keeps: tombstones and deferred events.
func mirrorConfigMaps() labels.Selector {
	req, err := labels.NewRequirement(mirror.LabelTombstone, selection.In, []string{"true", mirror.LabelValueDeferred})
	if err != nil {
		panic(err) // constant input
	}
	return labels.NewSelector().Add(*req)
}
