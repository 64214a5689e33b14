package operator

import (
	"log/slog"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// memoryLimitRatio is the share of the container's memory limit given to the Go runtime
// as its soft limit: the collector then works harder as the heap nears the limit, instead
// of the kernel killing the process, and the rest is left for stacks and the binary.
const memoryLimitRatio = 0.9

// SetMemoryLimit sets the Go memory limit (GOMEMLIMIT) to 90 % of the limit that
// provider reports (memlimit.FromCgroup: the container's cgroup limit). An explicit
// GOMEMLIMIT, or AUTOMEMLIMIT=off, in the environment wins; no limit leaves none. It
// returns the limit in force.
func SetMemoryLimit(log logr.Logger, provider memlimit.Provider) (int64, error) {
	return memlimit.Set(
		memlimit.WithRatio(memoryLimitRatio),
		memlimit.WithProvider(provider),
		memlimit.WithLogger(slog.New(logr.ToSlogHandler(log))),
	)
}
