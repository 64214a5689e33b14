// Command image builds the manager's container image without a Docker daemon, with
// go-containerregistry: an OCI index for linux/amd64 and linux/arm64, written as an OCI
// layout and as an OCI layout tarball that `ctr images import` takes, and pushes it.
//
//	image build -name IMG -out bin/image [-version V -revision SHA -created EPOCH -go go1.27.3]
//	image push -layout bin/image/oci -name IMG
//	image rootfs -out DIR   (the files besides /manager, for the Dockerfile)
//
// Every byte of the result follows from the sources, the Go toolchain and the flags (file
// times are -created, tar entries are sorted), so two builds of one commit give one digest.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

const (
	uid = 65532
	// binaryName is where the manager sits in the image, and its entrypoint.
	binaryName = "manager"
	// caBundlePath is the first file Go reads for system roots on linux (and Debian's
	// path, as in distroless), so SSL_CERT_DIR adds to it and does not replace it.
	caBundlePath = "etc/ssl/certs/ca-certificates.crt"
)

var defaultPlatforms = []string{"linux/amd64", "linux/arm64"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: image build|push|rootfs [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "build":
		err = buildCmd(args)
	case "push":
		err = pushCmd(args)
	case "rootfs":
		err = rootfsCmd(args)
	default:
		err = fmt.Errorf("unknown command %q: want build, push or rootfs", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

type buildOptions struct {
	name, out, binDir, pkg    string
	version, revision, source string
	goVersion                 string
	created                   time.Time
	platforms                 []string
	compile                   bool
}

func buildCmd(args []string) error {
	fl := flag.NewFlagSet("build", flag.ExitOnError)
	var o buildOptions
	var created, platforms string
	fl.StringVar(&o.name, "name", "", "the image name, e.g. ghcr.io/assocsync/associate-operator:dev (required)")
	fl.StringVar(&o.out, "out", "bin/image", "the output directory: <out>/oci and <out>/associate-operator.tar")
	fl.StringVar(&o.binDir, "bin-dir", "", "where the binaries are built (or read, with -compile=false): <bin-dir>/<os>_<arch>/manager; default <out>")
	fl.StringVar(&o.pkg, "pkg", "./cmd", "the manager's package")
	fl.BoolVar(&o.compile, "compile", true, "compile the binaries; false: use those in -bin-dir")
	fl.StringVar(&o.version, "version", "dev", "org.opencontainers.image.version")
	fl.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision, the git commit (required)")
	fl.StringVar(&o.source, "source", "https://github.com/assocsync/associate-operator", "org.opencontainers.image.source")
	fl.StringVar(&created, "created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, Unix seconds (the commit time; default $SOURCE_DATE_EPOCH)")
	fl.StringVar(&o.goVersion, "go", "", "the Go version the binaries must be built with, e.g. go1.27.3 (empty: any)")
	fl.StringVar(&platforms, "platforms", strings.Join(defaultPlatforms, ","), "comma-separated os/arch")
	_ = fl.Parse(args)
	if o.name == "" || o.revision == "" || created == "" {
		return errors.New("build needs -name, -revision and -created (or SOURCE_DATE_EPOCH)")
	}
	if _, err := name.ParseReference(o.name); err != nil {
		return fmt.Errorf("-name %q: %w", o.name, err)
	}
	sec, err := strconv.ParseInt(created, 10, 64)
	if err != nil {
		return fmt.Errorf("-created %q: want Unix seconds: %w", created, err)
	}
	o.created = time.Unix(sec, 0).UTC()
	o.platforms = strings.Split(platforms, ",")
	if o.binDir == "" {
		o.binDir = o.out
	}
	return build(o)
}

func build(o buildOptions) error {
	base, err := layerFromFiles(rootfsFiles(o.created))
	if err != nil {
		return err
	}
	var adds []mutate.IndexAddendum
	for _, p := range o.platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("platform %q: want os/arch", p)
		}
		bin := filepath.Join(o.binDir, goos+"_"+goarch, binaryName)
		if o.compile {
			if err := compile(o.pkg, bin, goos, goarch); err != nil {
				return err
			}
		}
		if err := checkBinary(bin, goarch, o.goVersion); err != nil {
			return err
		}
		img, err := platformImage(o, base, bin, goos, goarch)
		if err != nil {
			return err
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: goarch}},
		})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	idx = mutate.Annotations(idx, annotations(o)).(v1.ImageIndex)
	digest, err := idx.Digest()
	if err != nil {
		return err
	}

	// A fresh layout each time, so no blob of an older build stays behind in it.
	dir := filepath.Join(o.out, "oci")
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	lp, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          o.name,
		"org.opencontainers.image.ref.name": o.name,
	})); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	tarPath := filepath.Join(o.out, "associate-operator.tar")
	if err := tarDir(dir, tarPath, o.created); err != nil {
		return err
	}
	fmt.Printf("%s@%s\n  layout  %s\n  tarball %s\n", o.name, digest, dir, tarPath)
	return nil
}

// compile builds the manager exactly as `make build` does, for one platform.
func compile(pkg, out, goos, goarch string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s/%s: %w", goos, goarch, err)
	}
	return nil
}

// checkBinary refuses a binary of another architecture, a dynamically linked one, or one
// built by a Go other than the pinned one (whose standard library govulncheck judged).
func checkBinary(bin, goarch, goVersion string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("%s: %w", bin, err)
	}
	defer func() { _ = f.Close() }()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
	if f.Machine != want {
		return fmt.Errorf("%s: an ELF for %s, want %s", bin, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0", bin)
		}
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("%s: %w", bin, err)
	}
	if goVersion != "" && info.GoVersion != goVersion {
		return fmt.Errorf("%s was built with %s, want %s (go.mod's toolchain; is GOTOOLCHAIN=local set?)", bin, info.GoVersion, goVersion)
	}
	return nil
}

func annotations(o buildOptions) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":   o.source,
		"org.opencontainers.image.version":  o.version,
		"org.opencontainers.image.revision": o.revision,
		"org.opencontainers.image.created":  o.created.Format(time.RFC3339),
		"org.opencontainers.image.title":    "associate-operator",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
}

func platformImage(o buildOptions, base v1.Layer, bin, goos, goarch string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	app, err := layerFromFiles([]file{{name: binaryName, mode: 0o755, data: data, mtime: o.created}})
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "hack/image: /etc/passwd, /etc/group, CA roots, /home/nonroot, /tmp"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: created, CreatedBy: "hack/image: /manager (CGO_ENABLED=0 go build -trimpath -ldflags=-s -w ./cmd)"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = goos, goarch, created
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{"/" + binaryName},
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Labels:     annotations(o),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, annotations(o)).(v1.Image), nil
}

// file is one entry of a layer.
type file struct {
	name     string // relative, no leading slash; a directory's ends in /
	mode     int64
	uid, gid int
	data     []byte
	mtime    time.Time
}

// rootfsFiles are what distroless/static:nonroot holds that the manager uses: the nonroot
// user and group, CA roots, its home and /tmp.
func rootfsFiles(mtime time.Time) []file {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	files := []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: caBundlePath, mode: 0o644, data: caBundle()},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: uid, gid: uid},
		{name: "tmp/", mode: 0o1777},
	}
	for i := range files {
		files[i].mtime = mtime
	}
	return files
}

// caBundle is the Mozilla NSS roots of golang.org/x/crypto/x509roots/fallback (the version
// go.sum pins) as PEM. Roots with constraints that PEM cannot carry (distrust-after) are
// left out rather than trusted without them.
func caBundle() []byte {
	var b bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
	}
	return b.Bytes()
}

// layerFromFiles makes a gzip-compressed OCI layer of the files, in the order given, with
// fixed owners, modes and times.
func layerFromFiles(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: f.mtime,
			Typeflag: tar.TypeReg, Size: int64(len(f.data)), Format: tar.FormatPAX,
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// tarDir writes dir as a tar with sorted entries, fixed times and no owners: the OCI
// image-layout tar that `ctr images import` reads.
func tarDir(dir, out string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }()
	tw := tar.NewWriter(f)
	for _, p := range names {
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: fi.Size(), Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			if err := copyFile(tw, p); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = io.Copy(w, f)
	return err
}

func pushCmd(args []string) error {
	fl := flag.NewFlagSet("push", flag.ExitOnError)
	dir := fl.String("layout", "bin/image/oci", "the OCI layout that `image build` wrote")
	img := fl.String("name", "", "where to push, e.g. registry.example.com/associate-operator:v1 (required)")
	insecure := fl.Bool("insecure", false, "allow plain HTTP to the registry")
	_ = fl.Parse(args)
	if *img == "" {
		return errors.New("push needs -name")
	}
	var opts []name.Option
	if *insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(*img, opts...)
	if err != nil {
		return fmt.Errorf("-name %q: %w", *img, err)
	}
	outer, err := layout.ImageIndexFromPath(*dir)
	if err != nil {
		return fmt.Errorf("%s: %w (run make image first)", *dir, err)
	}
	m, err := outer.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != 1 {
		return fmt.Errorf("%s holds %d entries, want the one index that image build writes", *dir, len(m.Manifests))
	}
	idx, err := outer.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithContext(context.Background())); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	fmt.Printf("%s@%s\n", ref, m.Manifests[0].Digest)
	return nil
}

// rootfsCmd writes the image's files besides /manager into a directory, so that the
// Dockerfile's `FROM scratch` stage copies the very same files.
func rootfsCmd(args []string) error {
	fl := flag.NewFlagSet("rootfs", flag.ExitOnError)
	out := fl.String("out", "", "the directory to write (required)")
	_ = fl.Parse(args)
	if *out == "" {
		return errors.New("rootfs needs -out")
	}
	for _, f := range rootfsFiles(time.Unix(0, 0)) {
		p := filepath.Join(*out, filepath.FromSlash(path.Clean(f.name)))
		var err error
		if strings.HasSuffix(f.name, "/") {
			err = os.MkdirAll(p, 0o755)
		} else {
			err = os.WriteFile(p, f.data, 0o644)
		}
		if err == nil {
			err = os.Chmod(p, fs.FileMode(f.mode&0o777)|modeBits(f.mode))
		}
		if err == nil && f.uid != 0 && runtime.GOOS == "linux" && os.Geteuid() == 0 {
			err = os.Chown(p, f.uid, f.gid)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func modeBits(mode int64) fs.FileMode {
	if mode&0o1000 != 0 {
		return fs.ModeSticky
	}
	return 0
}
