package actionhttp

import (
	"context"
	"fmt"
	"sync"
)

// The defaults of the limits on HTTP actions in flight.
const (
	DefaultPerNamespace = 4
	DefaultGlobal       = 16
)

// Limiter bounds the HTTP actions in flight: per namespace, under a bound on all of them,
// so that one tenant's slow endpoint holds at most its namespace's share of the slots and
// the other namespaces' calls still go out.
type Limiter struct {
	perNamespace int
	global       chan struct{}

	mu sync.Mutex
	// byNamespace holds the namespaces with calls in flight or waiting, and only those.
	byNamespace map[string]*namespaceSlots
}

type namespaceSlots struct {
	slots chan struct{}
	users int // calls holding or waiting for a slot
}

// NewLimiter allows perNamespace calls per namespace and global calls in all (values
// below 1 mean the defaults).
func NewLimiter(perNamespace, global int) *Limiter {
	if perNamespace < 1 {
		perNamespace = DefaultPerNamespace
	}
	if global < 1 {
		global = DefaultGlobal
	}
	return &Limiter{perNamespace: perNamespace, global: make(chan struct{}, global), byNamespace: map[string]*namespaceSlots{}}
}

// BusyError is a call that found no free slot (at once for TryAcquire, before its
// context ended for Acquire): a retry later can succeed.
type BusyError struct {
	Namespace string
	// Limit is "namespace" or "global", whichever was full.
	Limit string
	Max   int
	// Err is the context's error when Acquire gave up waiting.
	Err error
}

func (e *BusyError) Error() string {
	if e.Limit == "namespace" {
		return fmt.Sprintf("namespace %s already has %d HTTP actions in flight", e.Namespace, e.Max)
	}
	return fmt.Sprintf("the manager already has %d HTTP actions in flight", e.Max)
}

func (e *BusyError) Unwrap() error { return e.Err }

// Acquire waits, until ctx ends, for a slot of the namespace and then one of all; it
// returns the function that gives both back (call it once the reply is read). A call
// waiting for its namespace's slot holds no slot of the others'.
func (l *Limiter) Acquire(ctx context.Context, namespace string) (release func(), err error) {
	return l.acquire(ctx, namespace, true)
}

// TryAcquire is Acquire without waiting: a *BusyError when either limit is full, so that
// the caller can requeue instead of holding its worker.
func (l *Limiter) TryAcquire(namespace string) (release func(), err error) {
	return l.acquire(context.Background(), namespace, false)
}

func (l *Limiter) acquire(ctx context.Context, namespace string, wait bool) (func(), error) {
	ns := l.join(namespace)
	if ok, err := take(ctx, ns.slots, wait); !ok {
		l.leave(namespace)
		return nil, &BusyError{Namespace: namespace, Limit: "namespace", Max: l.perNamespace, Err: err}
	}
	if ok, err := take(ctx, l.global, wait); !ok {
		<-ns.slots
		l.leave(namespace)
		return nil, &BusyError{Namespace: namespace, Limit: "global", Max: cap(l.global), Err: err}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.global
			<-ns.slots
			l.leave(namespace)
		})
	}, nil
}

// take puts a token into slots: at once if there is room, else (when wait) once there is
// room, unless the context ends first (its error is returned then).
func take(ctx context.Context, slots chan struct{}, wait bool) (bool, error) {
	select {
	case slots <- struct{}{}:
		return true, nil
	default:
	}
	if !wait {
		return false, nil
	}
	select {
	case slots <- struct{}{}:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (l *Limiter) join(namespace string) *namespaceSlots {
	l.mu.Lock()
	defer l.mu.Unlock()
	ns := l.byNamespace[namespace]
	if ns == nil {
		ns = &namespaceSlots{slots: make(chan struct{}, l.perNamespace)}
		l.byNamespace[namespace] = ns
	}
	ns.users++
	return ns
}

func (l *Limiter) leave(namespace string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ns := l.byNamespace[namespace]; ns != nil {
		if ns.users--; ns.users == 0 {
			delete(l.byNamespace, namespace)
		}
	}
}

// namespaces is how many namespaces the limiter holds (tests).
func (l *Limiter) namespaces() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byNamespace)
}
