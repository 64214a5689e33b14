package operator

import (
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// CacheOptions keeps the informer cache small: managed fields are dropped from every
// object, since nothing here reads them.
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
}
