// Command fake-superoffice runs the fake SuperOffice tenant on its own, for trying the
// operator's resync and webhook registration locally (see internal/superoffice/fake).
//
//	go run ./cmd/fake-superoffice --listen 127.0.0.1:8090 --tenant Cust12345 --associates 5
//
// It writes the system-user credentials into --credentials-dir as files named after the
// Secret keys (applicationToken, systemUserToken, privateKey), reusing them on restart, and
// prints the environment URL and a ready ticket.
package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/assocsync/associate-operator/internal/superoffice"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to serve the fake SuperOffice on")
	tenant := flag.String("tenant", "Cust12345", "the tenant's ContextIdentifier")
	associates := flag.Int("associates", 5, "how many employees to seed, ids 1..N")
	credsDir := flag.String("credentials-dir", filepath.Join(os.TempDir(), "fake-superoffice"),
		"folder for the credential files (applicationToken, systemUserToken, privateKey); reused when present")
	flag.Parse()
	if err := run(*listen, *tenant, *associates, *credsDir); err != nil {
		fmt.Fprintln(os.Stderr, "fake-superoffice:", err)
		os.Exit(1)
	}
}

func run(listen, tenant string, associates int, credsDir string) error {
	creds, err := loadOrCreateCredentials(credsDir)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	envURL := "http://" + lis.Addr().String()
	so, err := fake.New(fake.Options{
		Tenant:           tenant,
		ApplicationToken: creds.ApplicationToken,
		SystemUserToken:  creds.SystemUserToken,
		ClientKey:        creds.key,
		PublicURL:        envURL,
	})
	if err != nil {
		return err
	}
	if err := writeCredentials(credsDir, so); err != nil {
		return err
	}
	so.Seed(1, associates)
	printHowTo(envURL, so, credsDir)

	srv := &http.Server{Handler: so, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type credentials struct {
	superoffice.Credentials
	key *rsa.PrivateKey
}

// Secret key names, as the WebhookReceiver's credentialsSecretRef expects them.
const (
	keyApplicationToken = "applicationToken"
	keySystemUserToken  = "systemUserToken"
	keyPrivateKey       = "privateKey"
)

// loadOrCreateCredentials reuses the files of an earlier run, so a Secret made from them
// keeps working; when any is missing the fake generates all three.
func loadOrCreateCredentials(dir string) (credentials, error) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil
		}
		return b
	}
	app, sys, pemKey := read(keyApplicationToken), read(keySystemUserToken), read(keyPrivateKey)
	if len(app) == 0 || len(sys) == 0 || len(pemKey) == 0 {
		return credentials{}, nil
	}
	key, err := superoffice.ParsePrivateKey(pemKey)
	if err != nil {
		return credentials{}, fmt.Errorf("%s: %w (delete the folder to start afresh)", filepath.Join(dir, keyPrivateKey), err)
	}
	return credentials{Credentials: superoffice.Credentials{ApplicationToken: string(app), SystemUserToken: string(sys)}, key: key}, nil
}

func writeCredentials(dir string, so *fake.SuperOffice) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	c := so.Credentials()
	files := map[string][]byte{
		keyApplicationToken: []byte(c.ApplicationToken),
		keySystemUserToken:  []byte(c.SystemUserToken),
		keyPrivateKey:       c.PrivateKeyPEM,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func printHowTo(envURL string, so *fake.SuperOffice, credsDir string) {
	fmt.Printf(`fake SuperOffice for tenant %[2]s
  environment URL: %[1]s   (spec.api.environmentURL)
  API base:        %[3]s
  credentials:     %[4]s  (files named after the Secret keys)

Secret for spec.api.credentialsSecretRef (system-user flow):
  kubectl create secret generic superoffice-api --from-file=%[4]s
or, in ticket mode (valid 6 h, sliding):
  kubectl create secret generic superoffice-api --from-literal=ticket='%[5]s'

Steer it (events go to every Active webhook registered here):
  curl -X PUT    %[1]s/_fake/associates/42 -d '{"personId":4200,"groupId":1,"type":0}'
  curl -X PUT    '%[1]s/_fake/associates/42?deliver=false' -d '{"personId":4200,"groupId":2}'   # a lost delivery
  curl -X DELETE '%[1]s/_fake/associates/42?deliver=false'
  curl           %[1]s/_fake/associates    %[1]s/_fake/webhooks
  curl -X POST   %[1]s/_fake/webhooks/1/state -d '{"state":"TooManyErrors","lastError":"HTTP 503"}'
  curl -X POST   %[1]s/_fake/faults/allusers -d '{"Status":429,"RetryAfter":"2"}'
  curl -X POST   %[1]s/_fake/tickets/expire
`, envURL, so.Tenant(), so.APIURL(envURL), credsDir, so.IssueTicket())
}
