package ingress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// timeouts of the HTTP server: a slow client cannot hold a connection, and WriteTimeout
// leaves room for the apply (bounded by defaultApplyTimeout) to answer.
type timeouts struct {
	readHeader, read, write, idle time.Duration
}

var defaultTimeouts = timeouts{
	readHeader: 5 * time.Second,
	read:       15 * time.Second,
	write:      defaultApplyTimeout + 15*time.Second,
	idle:       90 * time.Second,
}

// maxHeaderBytes is far above what SuperOffice sends.
const maxHeaderBytes = 64 << 10

// newMux routes the receiver paths to h, other methods to 405, everything else to 404.
func newMux(h http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{namespace}/{name}", h)
	mux.HandleFunc("/webhooks/{namespace}/{name}", methodNotAllowed)
	mux.HandleFunc("/", notFound)
	return mux
}

func newHTTPServer(h http.Handler, t timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// server runs the webhook HTTP server on every replica (no leader election): it warms the
// cache informers the handler reads, then serves.
type server struct {
	http  manager.Server
	cache interface {
		GetInformer(context.Context, client.Object) error
	}
	warm       []client.Object
	deliveries *deliveryRecorder
}

var (
	_ manager.Runnable               = (*server)(nil)
	_ manager.LeaderElectionRunnable = (*server)(nil)
)

// NeedLeaderElection is false: every replica serves deliveries.
func (s *server) NeedLeaderElection() bool { return false }

// Start warms the informers (non-leaders have no controllers to start them) so that the
// first delivery does not wait for a cache sync, then serves until ctx ends.
func (s *server) Start(ctx context.Context) error {
	for _, obj := range s.warm {
		if err := s.cache.GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("webhook ingress: starting the cache informer for %T: %w", obj, err)
		}
	}
	s.deliveries.ctx = ctx
	defer s.deliveries.wait()
	return s.http.Start(ctx)
}

// listen opens the listener early so that a bad address fails at Add, not at Start.
func listen(addr string) (net.Listener, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("webhook ingress: listening on %q: %w", addr, err)
	}
	return l, nil
}
