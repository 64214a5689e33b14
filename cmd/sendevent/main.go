// Command sendevent signs a SuperOffice webhook event the way SuperOffice does and POSTs
// it to a receiver, printing the reply:
//
//	go run ./cmd/sendevent --url http://127.0.0.1:8082/webhooks/default/so --secret-file secret.txt --event created
//
// --event is a file, or one of the documented payloads: created, changed, deleted, test.
// --tenant, --primary-key, --event-id and --timestamp replace those fields of the payload
// and leave every other byte as documented, so that the documented associate.deleted
// (tenant Default, associate 4039840, from 2018) can delete the associate just created:
//
//	go run ./cmd/sendevent ... --event deleted --tenant Cust1234 --primary-key 141424 --timestamp now
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/signature"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sendevent:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sendevent", flag.ContinueOnError)
	url := fs.String("url", "", "the receiver's address, http://HOST:PORT/webhooks/NAMESPACE/NAME")
	secretFile := fs.String("secret-file", "", "a file holding the signing secret (a trailing newline is dropped)")
	event := fs.String("event", "created", "an event file, or one of the documented payloads: created, changed, deleted, test")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the reply")
	overrideFlags := addOverrideFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := overrideFlags.overrides(fs, time.Now())
	if err != nil {
		return err
	}
	if *url == "" || *secretFile == "" {
		return errors.New("--url and --secret-file are required")
	}
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		return err
	}
	secret = bytes.TrimRight(secret, "\r\n")
	if len(secret) == 0 {
		return fmt.Errorf("the secret file %s is empty: put the receiver's signing secret in it", *secretFile)
	}
	body, err := loadEvent(*event)
	if err != nil {
		return err
	}
	if body, err = o.apply(body); err != nil {
		return fmt.Errorf("event %s: %w", *event, err)
	}
	var head struct{ EventId, Event string }
	if err := json.Unmarshal(body, &head); err != nil {
		return fmt.Errorf("event %s is not JSON: %w", *event, err)
	}

	req, err := http.NewRequest(http.MethodPost, *url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "sendevent (NetServer-Webhook compatible)")
	req.Header.Set("X-SuperOffice-Event", head.Event)
	req.Header.Set("X-SuperOffice-EventId", head.EventId)
	req.Header.Set(ingress.HeaderSignature, signature.Sign(secret, body))
	if head.Event == "test" {
		req.Header.Set("X-Hook-Test", "true")
	}
	resp, err := (&http.Client{Timeout: *timeout}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(out, "%s %s\n%s", resp.Proto, resp.Status, reply)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the receiver answered %s, SuperOffice would retry", resp.Status)
	}
	return nil
}

// loadEvent reads a documented payload by name, else a file.
func loadEvent(event string) ([]byte, error) {
	if body, err := samples.Payload(event); err == nil {
		return body, nil
	}
	body, err := os.ReadFile(event)
	if err != nil {
		return nil, fmt.Errorf("--event %q is neither one of %v nor a readable file: %w", event, samples.Names, err)
	}
	return body, nil
}
