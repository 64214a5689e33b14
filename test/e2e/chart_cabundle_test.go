package e2e

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// renderDeployment renders the chart and returns its Deployment.
func renderDeployment(t *testing.T, args ...string) *appsv1.Deployment {
	t.Helper()
	objects, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	u := byKind(objects)["Deployment/"+releaseName]
	if u == nil {
		t.Fatalf("no Deployment %s rendered; got kinds %v", releaseName, kinds(objects))
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &d, true); err != nil {
		t.Fatalf("the rendered Deployment is no apps/v1 Deployment: %v", err)
	}
	return &d
}

func TestChartMountsAPrivateCABundleOnlyWhenAsked(t *testing.T) {
	pod := renderDeployment(t).Spec.Template.Spec
	if len(pod.Volumes) != 0 || len(pod.Containers[0].VolumeMounts) != 0 || len(pod.Containers[0].Env) != 0 {
		t.Fatalf("by default the manager trusts the image's roots only: expected no volumes, mounts or env, got %v, %v, %v",
			pod.Volumes, pod.Containers[0].VolumeMounts, pod.Containers[0].Env)
	}

	pod = renderDeployment(t, "--set", "caBundle.configMapName=corp-ca", "--set", "caBundle.key=bundle.pem").Spec.Template.Spec
	if len(pod.Volumes) != 1 || pod.Volumes[0].ConfigMap == nil || pod.Volumes[0].ConfigMap.Name != "corp-ca" ||
		len(pod.Volumes[0].ConfigMap.Items) != 1 || pod.Volumes[0].ConfigMap.Items[0].Key != "bundle.pem" {
		t.Fatalf("expected one volume of ConfigMap corp-ca with the key bundle.pem, got %+v", pod.Volumes)
	}
	c := pod.Containers[0]
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != pod.Volumes[0].Name || !c.VolumeMounts[0].ReadOnly {
		t.Fatalf("expected the bundle's volume mounted read-only, got %+v", c.VolumeMounts)
	}
	dir := c.VolumeMounts[0].MountPath
	var certDir string
	for _, e := range c.Env {
		if e.Name == "SSL_CERT_FILE" {
			t.Errorf("expected no SSL_CERT_FILE: it would replace the image's public roots, got %s", e.Value)
		}
		if e.Name == "SSL_CERT_DIR" {
			certDir = e.Value
		}
	}
	if certDir != dir {
		t.Fatalf("expected SSL_CERT_DIR=%s, the mount, so Go trusts the bundle besides the image's roots; got %q", dir, certDir)
	}
	if p := pod.Volumes[0].ConfigMap.Items[0].Path; strings.Contains(p, "/") {
		t.Errorf("expected the bundle directly in %s (Go does not read subdirectories of SSL_CERT_DIR), got %s", dir, p)
	}
}

func TestChartRefusesAnEmptyCABundleKey(t *testing.T) {
	if _, err := helmTemplate(t, "--set", "caBundle.configMapName=corp-ca", "--set", "caBundle.key="); err == nil || !strings.Contains(err.Error(), "/caBundle/key") {
		t.Fatalf("expected helm to refuse an empty caBundle.key, got %v", err)
	}
	if _, err := helmTemplate(t, "--set", "caBundle.secretName=corp-ca"); err == nil || !strings.Contains(err.Error(), "'secretName' not allowed") {
		t.Fatalf("expected helm to refuse an unknown key under caBundle, got %v", err)
	}
}
