package operator

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

func TestTheGoMemoryLimitIsNinetyPercentOfTheContainersLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("AUTOMEMLIMIT", "")
	_ = os.Unsetenv("AUTOMEMLIMIT") // restored by t.Setenv
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	const container = 256 << 20 // the chart's default limit
	got, err := SetMemoryLimit(logr.Discard(), memlimit.Limit(container))
	if err != nil {
		t.Fatal(err)
	}
	want := int64(container * 9 / 10)
	if got != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("a container limit of %d bytes: want a Go memory limit of %d, got %d (runtime says %d)",
			container, want, got, debug.SetMemoryLimit(-1))
	}
}
