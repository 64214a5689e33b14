// Package image tests `make image`'s tool, hack/image: it builds the manager's image once
// for both platforms in TestMain, from a snapshot of the HEAD commit (so the revision label
// is true and edits made while the tests run change nothing), then checks its contents and
// that rebuilding gives the same digests.
package image

import (
	"archive/tar"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	imageName = "example.test/assocsync/associate-operator:test"
	version   = "v0.0.0-test"
	// created is a fixed commit time: SOURCE_DATE_EPOCH.
	created = 1700000000
)

var (
	// tool is hack/image built from the working tree: the code under test.
	tool string
	// src is the tree the binaries are built from; revision its commit ("" without git).
	src, revision string
	// work holds the builds: a (compiled), b (a's binaries again), c (compiled again, amd64).
	work string
	// goToolchain is go.mod's toolchain line, which the image's binaries must be built with.
	goToolchain string
	setupErr    error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "image-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	work = dir
	setupErr = setup()
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func setup() error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	tool = filepath.Join(work, "image-tool")
	if out, err := run(root, nil, "go", "build", "-o", tool, "./hack/image"); err != nil {
		return fmt.Errorf("go build ./hack/image: %v\n%s", err, out)
	}
	src = root
	if out, err := run(root, nil, "git", "rev-parse", "HEAD"); err == nil {
		revision = strings.TrimSpace(string(out))
		src = filepath.Join(work, "src")
		if err := snapshot(root, revision, src); err != nil {
			return err
		}
	} else {
		revision = "0000000000000000000000000000000000000000" // not a git checkout: the working tree
	}
	goToolchain = toolchainOf(filepath.Join(src, "go.mod"))
	if out, err := build("a", "-platforms", "linux/amd64,linux/arm64"); err != nil {
		return fmt.Errorf("image build: %v\n%s", err, out)
	}
	return nil
}

// snapshot writes the commit's tree into dir (git archive): the build does not see edits
// to the working tree, and -trimpath makes its binaries those of any other checkout.
func snapshot(root, commit, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "archive", "--format=tar", commit)
	archive.Dir = root
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w", commit, err)
	}
	return untar.Wait()
}

// build runs the tool in src with the test's fixed labels; out is a directory in work.
func build(out string, args ...string) ([]byte, error) {
	args = append([]string{"build", "-name", imageName, "-out", filepath.Join(work, out),
		"-version", version, "-revision", revision, "-created", fmt.Sprint(created), "-go", goToolchain}, args...)
	var env []string
	if goToolchain != "" {
		// The image is built with go.mod's toolchain also when GOTOOLCHAIN=local is set.
		env = []string{"GOTOOLCHAIN=" + goToolchain}
	}
	return run(src, env, tool, args...)
}

func run(dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

func toolchainOf(goMod string) string {
	data, _ := os.ReadFile(goMod)
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "toolchain" {
			return f[1]
		}
	}
	return ""
}

// built returns the image index of one build, failing the test when TestMain's failed.
func built(t *testing.T, out string) v1.ImageIndex {
	t.Helper()
	if setupErr != nil {
		t.Fatalf("building the image failed: %v", setupErr)
	}
	outer, err := layout.ImageIndexFromPath(filepath.Join(work, out, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := outer.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("expected the layout to hold one index, got %d entries", len(m.Manifests))
	}
	for _, key := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
		if got := m.Manifests[0].Annotations[key]; got != imageName {
			t.Errorf("expected the layout's index entry to carry %s=%s (ctr images import names the image by it), got %q", key, imageName, got)
		}
	}
	idx, err := outer.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func platformImage(t *testing.T, idx v1.ImageIndex, arch string) v1.Image {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("expected the index to hold a linux/%s image", arch)
	return nil
}

func digest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestTheIndexHoldsLinuxAmd64AndArm64(t *testing.T) {
	m, err := built(t, "a").IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range m.Manifests {
		platforms = append(platforms, d.Platform.String())
	}
	slices.Sort(platforms)
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Fatalf("expected the index to hold %v, got %v", want, platforms)
	}
	if m.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("expected an OCI index, got %s", m.MediaType)
	}
}

// The same binaries give the same index, byte for byte, and the same tarball; and the
// binary compiled again gives the same amd64 image.
func TestTwoBuildsOfOneCommitHaveOneDigest(t *testing.T) {
	a := built(t, "a")
	if out, err := build("b", "-compile=false", "-bin-dir", filepath.Join(work, "a")); err != nil {
		t.Fatalf("image build from a's binaries: %v\n%s", err, out)
	}
	if got, want := digest(t, built(t, "b")), digest(t, a); got != want {
		t.Fatalf("expected a second build of the same binaries to give index %s, got %s", want, got)
	}
	if got, want := fileHash(t, filepath.Join(work, "b", "associate-operator.tar")), fileHash(t, filepath.Join(work, "a", "associate-operator.tar")); got != want {
		t.Errorf("expected the same tarball twice (sha256 %s), got %s", want, got)
	}
	if out, err := build("c", "-platforms", "linux/amd64"); err != nil {
		t.Fatalf("image build compiled again: %v\n%s", err, out)
	}
	if got, want := digest(t, platformImage(t, built(t, "c"), "amd64")), digest(t, platformImage(t, a, "amd64")); got != want {
		t.Fatalf("expected the binary compiled again to give the amd64 image %s, got %s", want, got)
	}
}

func TestTheConfigRunsTheManagerAsNonroot(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		cf, err := platformImage(t, built(t, "a"), arch).ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != arch {
			t.Errorf("%s: expected the config to say linux/%s, got %s/%s", arch, arch, cf.OS, cf.Architecture)
		}
		c := cf.Config
		if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/manager"}) || len(c.Cmd) != 0 || c.WorkingDir != "/" {
			t.Errorf("%s: expected user 65532:65532, entrypoint [/manager], no cmd, workdir /; got %q, %q, %q, %q", arch, c.User, c.Entrypoint, c.Cmd, c.WorkingDir)
		}
		if got, want := cf.Created.UTC(), time.Unix(created, 0).UTC(); !got.Equal(want) {
			t.Errorf("%s: expected created to be the commit time %s, got %s", arch, want, got)
		}
		for _, h := range cf.History {
			if !h.Created.Equal(time.Unix(created, 0)) {
				t.Errorf("%s: expected every history entry at the commit time, got %s (%s)", arch, h.Created, h.CreatedBy)
			}
		}
	}
}

func TestTheLabelsNameSourceVersionAndRevision(t *testing.T) {
	idx := built(t, "a")
	want := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/assocsync/associate-operator",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.created":  time.Unix(created, 0).UTC().Format(time.RFC3339),
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		img := platformImage(t, idx, arch)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		im, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			for where, got := range map[string]string{"label": cf.Config.Labels[k], "manifest annotation": im.Annotations[k], "index annotation": m.Annotations[k]} {
				if got != v {
					t.Errorf("%s: expected %s %s=%q, got %q", arch, where, k, v, got)
				}
			}
		}
	}
}

// eachEntry calls visit for every entry of a tar stream, in order, until it returns false.
func eachEntry(t *testing.T, r io.Reader, visit func(h *tar.Header, content io.Reader) bool) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !visit(h, tr) {
			return
		}
	}
}

// eachLayer calls visit with the uncompressed stream of every layer of an image.
func eachLayer(t *testing.T, img v1.Image, visit func(layer io.Reader)) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		visit(rc)
		_ = rc.Close()
	}
}

// files reads every layer of an image: path to header (directories end in /), and
// checks that each layer's entries are in order.
func files(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	all := map[string]*tar.Header{}
	eachLayer(t, img, func(layer io.Reader) {
		var names []string
		eachEntry(t, layer, func(h *tar.Header, _ io.Reader) bool {
			names = append(names, h.Name)
			all[h.Name] = h
			return true
		})
		if !slices.IsSorted(names) {
			t.Errorf("expected a layer's entries in order, got %v", names)
		}
	})
	return all
}

func fileContent(t *testing.T, img v1.Image, path string) []byte {
	t.Helper()
	var data []byte
	found := false
	eachLayer(t, img, func(layer io.Reader) {
		eachEntry(t, layer, func(h *tar.Header, content io.Reader) bool {
			if h.Name != path || found {
				return true
			}
			var err error
			if data, err = io.ReadAll(content); err != nil {
				t.Fatal(err)
			}
			found = true
			return false
		})
	})
	if !found {
		t.Fatalf("expected the image to hold %s", path)
	}
	return data
}

func TestTheLayersHoldTheManagerAndNoShell(t *testing.T) {
	img := platformImage(t, built(t, "a"), "amd64")
	got := files(t, img)
	var names []string
	for n, h := range got {
		names = append(names, n)
		if !h.ModTime.Equal(time.Unix(created, 0)) {
			t.Errorf("expected %s to have the commit time, got %s", n, h.ModTime)
		}
	}
	slices.Sort(names)
	want := []string{"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
		"home/", "home/nonroot/", "manager", "tmp/"}
	if !slices.Equal(names, want) {
		t.Errorf("expected exactly %v in the image (no shell, no /bin), got %v", want, names)
	}
	for _, sh := range []string{"bin/sh", "bin/busybox", "usr/bin/sh"} {
		if _, ok := got[sh]; ok {
			t.Errorf("expected no %s in the image", sh)
		}
	}
	if h := got["manager"]; h == nil || h.Mode != 0o755 || h.Uid != 0 {
		t.Errorf("expected /manager root-owned, mode 0755, got %+v", h)
	}
	if h := got["home/nonroot/"]; h == nil || h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("expected /home/nonroot owned by 65532:65532, got %+v", h)
	}
	if passwd := string(fileContent(t, img, "etc/passwd")); !strings.Contains(passwd, "nonroot:x:65532:65532:") {
		t.Errorf("expected /etc/passwd to name the user 65532 nonroot, got %q", passwd)
	}
	if group := string(fileContent(t, img, "etc/group")); !strings.Contains(group, "nonroot:x:65532:") {
		t.Errorf("expected /etc/group to name the group 65532 nonroot, got %q", group)
	}
}

func TestTheBinaryIsStaticForItsPlatform(t *testing.T) {
	idx := built(t, "a")
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		bin := filepath.Join(t.TempDir(), "manager")
		if err := os.WriteFile(bin, fileContent(t, platformImage(t, idx, arch), "manager"), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("%s: expected /manager to be an ELF: %v", arch, err)
		}
		if f.Machine != machine {
			t.Errorf("%s: expected an ELF for %s, got %s", arch, machine, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: expected a static binary, got a %s program header", arch, p.Type)
			}
		}
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if goToolchain != "" && info.GoVersion != goToolchain {
			t.Errorf("%s: expected the binary built with go.mod's toolchain %s, got %s", arch, goToolchain, info.GoVersion)
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		// Go records no -ldflags with -trimpath: -s -w show as no symbol table and no DWARF.
		if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
			t.Errorf("%s: expected make build's flags (CGO_ENABLED=0 -trimpath), got %v", arch, settings)
		}
		for _, s := range f.Sections {
			if s.Name == ".symtab" || strings.Contains(s.Name, "debug_info") {
				t.Errorf("%s: expected a binary linked with -s -w, got a %s section", arch, s.Name)
			}
		}
		_ = f.Close()
		if arch == runtime.GOARCH {
			out, err := exec.Command(bin, "--help").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "-webhook-bind-address") {
				t.Errorf("expected /manager --help to print the flags, got %v: %s", err, out)
			}
		}
	}
}

// The image's CA roots are a PEM file at the path Go reads first on linux; a private CA
// in SSL_CERT_DIR (what the chart's caBundle value sets) is trusted besides them.
func TestCARootsAndAPrivateCAAreBothTrusted(t *testing.T) {
	bundle := fileContent(t, platformImage(t, built(t, "a"), "amd64"), "etc/ssl/certs/ca-certificates.crt")
	var roots []*x509.Certificate
	for rest := bundle; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, c)
	}
	if len(roots) < 100 {
		t.Fatalf("expected the Mozilla roots (over 100) in the image's CA bundle, got %d", len(roots))
	}

	dir := t.TempDir()
	bundleFile := filepath.Join(dir, "ca-certificates.crt")
	if err := os.WriteFile(bundleFile, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	caDir := filepath.Join(dir, "private")
	leaf := privateCA(t, caDir)
	// Go reads the system roots once per process: check them in a child process that has
	// the image's bundle as its roots file and the private CA's directory as SSL_CERT_DIR.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperVerifiesWithSystemRoots$")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+bundleFile, "SSL_CERT_DIR="+caDir,
		"VERIFY_LEAF="+leaf, "VERIFY_ROOT="+string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: roots[0].Raw})))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "both verified") {
		t.Fatalf("expected a public root and the private CA's leaf to verify with the system roots: %v\n%s", err, out)
	}
}

func TestHelperVerifiesWithSystemRoots(t *testing.T) {
	if os.Getenv("VERIFY_LEAF") == "" {
		t.Skip("run by TestCARootsAndAPrivateCAAreBothTrusted")
	}
	for _, env := range []string{"VERIFY_LEAF", "VERIFY_ROOT"} {
		b, _ := pem.Decode([]byte(os.Getenv(env)))
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Verify(x509.VerifyOptions{KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("%s (%s) does not verify: %v", env, c.Subject, err)
		}
	}
	fmt.Println("both verified")
}

// privateCA writes a CA certificate into dir, as a ConfigMap volume would, and returns a
// leaf it signed, as PEM.
func privateCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "on-site SuperOffice CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "crm.example.test"}, DNSNames: []string{"crm.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, parent, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}))
}

// The tarball is the OCI layout itself, in order, which `ctr images import` reads.
func TestTheTarballIsTheLayout(t *testing.T) {
	idx := built(t, "a")
	f, err := os.Open(filepath.Join(work, "a", "associate-operator.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var names []string
	eachEntry(t, f, func(h *tar.Header, _ io.Reader) bool {
		names = append(names, h.Name)
		return true
	})
	if !slices.IsSorted(names) || !slices.Contains(names, "oci-layout") || !slices.Contains(names, "index.json") {
		t.Fatalf("expected sorted entries with oci-layout and index.json, got %v", names)
	}
	if want := "blobs/sha256/" + digest(t, idx).Hex; !slices.Contains(names, want) {
		t.Errorf("expected the index blob %s in the tarball, got %v", want, names)
	}
}

func TestPushWritesTheIndexToARegistry(t *testing.T) {
	idx := built(t, "a")
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	target := u.Host + "/assocsync/associate-operator:pushed"
	if out, err := run(src, nil, tool, "push", "-insecure", "-layout", filepath.Join(work, "a", "oci"), "-name", target); err != nil {
		t.Fatalf("image push: %v\n%s", err, out)
	}
	ref, err := name.ParseReference(target, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("expected the registry to serve the pushed index: %v", err)
	}
	if got, want := digest(t, pushed), digest(t, idx); got != want {
		t.Fatalf("expected the registry to hold index %s, got %s", want, got)
	}
}

func fileHash(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
