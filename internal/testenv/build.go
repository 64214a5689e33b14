package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ManagerBinaryEnv names a manager binary already built by `make build` (make test sets
// it), so that the suites run the very binary the Makefile built instead of each
// compiling their own.
const ManagerBinaryEnv = "MANAGER_BINARY"

// ManagerBinary is $MANAGER_BINARY when it names a file, else ./cmd built into dir.
func ManagerBinary(ctx context.Context, dir string) (string, error) {
	if path := os.Getenv(ManagerBinaryEnv); path != "" {
		if info, err := os.Stat(path); err == nil && !info.IsDir() {
			return path, nil
		}
		return "", fmt.Errorf("%s=%s is not a file: run `make build`, or unset it to build here", ManagerBinaryEnv, path)
	}
	out := filepath.Join(dir, "manager")
	return out, BuildBinary(ctx, "./cmd", out)
}

// BuildBinary builds the repository's main package pkg (e.g. "./cmd") into out the way
// the Makefile's `build` target (and so the Dockerfile) does.
func BuildBinary(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, output)
	}
	return nil
}
