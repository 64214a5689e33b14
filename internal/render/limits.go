package render

import (
	"fmt"
	"sync/atomic"
	"time"
)

// A policy's templates are its author's code running in the manager. Every execution is
// bounded in steps, time, template nesting and what it allocates, and every function
// checks the size of what it is about to make before making it.
const (
	// MaxOutputBytes bounds one render's output, and every string a function makes.
	MaxOutputBytes = 256 << 10
	// MaxListLength bounds the lists that until, untilStep, seq and splitList make.
	MaxListLength = 5000
	// MaxValueNodes bounds the elements of one value (lists, dicts, nested), shared parts
	// counted each time they are reached, so that a value doubled in a loop is refused.
	MaxValueNodes = 20000
	// MaxValueDepth bounds how deeply lists and dicts nest; a dict that contains itself
	// is infinitely deep.
	MaxValueDepth = 32
	// MaxSteps bounds one execution's function calls, range iterations and template calls
	// together.
	MaxSteps = 100000
	// Timeout bounds one execution's time, checked at every step.
	Timeout = time.Second
	// MaxTemplateDepth bounds how deeply `template` calls nest (each level is Go stack).
	MaxTemplateDepth = 64
	// MaxAllocBytes bounds what one execution allocates, garbage included: what the
	// functions make and what evaluating the template costs (charged per node evaluated),
	// so that the manager's allocation per render stays under 64 MiB.
	MaxAllocBytes = 32 << 20
	// MaxConcurrentRenders bounds the executions that run at once in the process,
	// whatever the reconcilers' worker counts, so that together they allocate at most
	// MaxConcurrentRenders × 64 MiB: the chart's default memory limit counts on it.
	MaxConcurrentRenders = 4
)

// renderSlots holds one token per running execution; waiting counts those that wait
// for one (tests read it).
var (
	renderSlots = make(chan struct{}, MaxConcurrentRenders)
	waiting     atomic.Int64
)

// acquireSlot waits for a free render slot; the returned func frees it.
func acquireSlot() func() {
	waiting.Add(1)
	renderSlots <- struct{}{}
	waiting.Add(-1)
	return func() { <-renderSlots }
}

// Limit names the limit a LimitError ran into.
type Limit string

const (
	LimitSteps      Limit = "steps"
	LimitTime       Limit = "time"
	LimitOutput     Limit = "output"
	LimitSize       Limit = "size"
	LimitValue      Limit = "value"
	LimitAllocation Limit = "allocation"
	LimitRecursion  Limit = "recursion"
)

// LimitError is a template stopped by one of the limits. Execute returns it wrapped in
// text/template's error (which names the template and the action); errors.As finds it.
type LimitError struct {
	Limit Limit
	msg   string
}

func (e *LimitError) Error() string { return e.msg }

func limitErrorf(limit Limit, format string, args ...any) *LimitError {
	return &LimitError{Limit: limit, msg: fmt.Sprintf(format, args...)}
}

// tooLarge is the error of a function whose result would pass MaxOutputBytes.
func tooLarge(fn string) *LimitError {
	return limitErrorf(LimitSize, "%s would produce more than %d bytes", fn, MaxOutputBytes)
}

// tooLong is the error of a generator whose list would pass MaxListLength.
func tooLong(fn string) *LimitError {
	return limitErrorf(LimitSize, "%s would produce more than %d elements", fn, MaxListLength)
}

// budget is one execution's allowance; a Set executes one template at a time and resets
// it per execution.
type budget struct {
	steps    int
	deadline time.Time
	alloc    int64
	depth    int
}

func (b *budget) reset() {
	*b = budget{deadline: time.Now().Add(Timeout)}
}

// step spends one step; it fails once the steps or the time are used up.
func (b *budget) step() error {
	b.steps++
	if b.steps > MaxSteps {
		return limitErrorf(LimitSteps, "takes more than %d steps (function calls, loop iterations, template calls)", MaxSteps)
	}
	if time.Now().After(b.deadline) {
		return limitErrorf(LimitTime, "takes longer than %s", Timeout)
	}
	return nil
}

// charge accounts for n bytes about to be allocated by what.
func (b *budget) charge(what string, n int64) error {
	b.alloc += n
	if b.alloc > MaxAllocBytes {
		return limitErrorf(LimitAllocation, "allocates more than %d MiB (at %s)", MaxAllocBytes>>20, what)
	}
	return nil
}

// produce checks a string result of n bytes before it is made, and charges it.
func (b *budget) produce(fn string, n int64) error {
	if n > MaxOutputBytes {
		return tooLarge(fn)
	}
	return b.charge(fn, n)
}
