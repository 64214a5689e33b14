package controllers

import ctrl "sigs.k8s.io/controller-runtime"

// setupAssociateReconciler is filled in by the Associate reconciler's issue.
func setupAssociateReconciler(mgr ctrl.Manager, opts Options) error {
	return nil
}
