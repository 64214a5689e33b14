package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

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
