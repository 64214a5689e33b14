package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/actionhttp"
	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/signature"
)

// maxResponseBytes is how much of a reply is read (and dropped) so the connection is reused.
const maxResponseBytes = 64 * 1024

// provisionHTTP makes each HTTP action's provision call (first time) or update call (the
// rendered request changed since its last success). An unchanged request is not repeated.
func (r *AssociateReconciler) provisionHTTP(ctx context.Context, p *policy, compiled *compiledPolicy, data templateData,
	before []superofficev1alpha1.ActionStatus, step *policyStep) []superofficev1alpha1.ActionStatus {
	after := make([]superofficev1alpha1.ActionStatus, 0, len(p.http))
	for i := range p.http {
		action := &p.http[i]
		entry := findAction(before, p.id, action.Name)
		verb := ActionProvision
		if succeeded(entry) {
			req, err := renderRequest(compiled, i, action, data.withAction(entry.LastAction))
			if err == nil && req.hash == entry.BodyHash {
				after = append(after, entry)
				continue
			}
			verb = ActionUpdate
		}
		req, err := renderRequest(compiled, i, action, data.withAction(verb))
		if err != nil {
			step.fail(superofficev1alpha1.ReasonTemplateError, fmt.Errorf("%s: %w", p.id.describe(), err), false)
			after = append(after, entry)
			continue
		}
		if err := r.call(ctx, p, action, req, verb); err != nil {
			entry.LastError = err.Error()
			step.fail(superofficev1alpha1.ReasonHTTPActionFailed, err, true)
			after = append(after, entry)
			continue
		}
		now := metav1.NewTime(time.Now())
		entry.LastSucceeded, entry.LastError, entry.LastAction, entry.BodyHash = &now, "", verb, req.hash
		step.applied = append(step.applied, "http "+action.Name+" ("+verb+")")
		after = append(after, entry)
	}
	return after
}

// deprovisionHTTP makes the deprovision call of every action that provisioned something;
// a success or a 404 removes the action's status entry.
func (r *AssociateReconciler) deprovisionHTTP(ctx context.Context, p *policy, compiled *compiledPolicy, data templateData,
	before []superofficev1alpha1.ActionStatus, step *policyStep) []superofficev1alpha1.ActionStatus {
	var after []superofficev1alpha1.ActionStatus
	for _, entry := range before {
		index := -1
		if p != nil {
			index = actionIndex(p, entry.Name)
		}
		// Never provisioned, or no longer defined (a deleted policy or action): nothing to call.
		if !succeeded(entry) || index < 0 {
			continue
		}
		action := &p.http[index]
		req, err := renderRequest(compiled, index, action, data.withAction(ActionDeprovision))
		if err != nil {
			step.fail(superofficev1alpha1.ReasonTemplateError, fmt.Errorf("%s: %w", p.id.describe(), err), false)
			after = append(after, entry)
			continue
		}
		if err := r.call(ctx, p, action, req, ActionDeprovision); err != nil {
			countDeprovisionFailure(p.id.metricLabel())
			entry.LastError = err.Error()
			step.fail(superofficev1alpha1.ReasonHTTPActionFailed, err, true)
			after = append(after, entry)
			continue
		}
		step.released = append(step.released, "http "+action.Name)
	}
	return after
}

// httpRequest is a rendered call and the hash that identifies it.
type httpRequest struct {
	method, url, body, hash string
}

func renderRequest(compiled *compiledPolicy, index int, action *httpAction, data templateData) (httpRequest, error) {
	target, body, err := compiled.renderHTTP(index, data)
	if err != nil {
		return httpRequest{}, err
	}
	method := action.Method
	if method == "" {
		method = http.MethodPost
	}
	sum := sha256.Sum256([]byte(method + "\n" + target + "\n" + body))
	return httpRequest{method: method, url: target, body: body, hash: hex.EncodeToString(sum[:])}, nil
}

// call makes one HTTP call, signed when the action names a signing Secret. Any 2xx is a
// success, and so is a 404 on deprovision (the account is already gone).
func (r *AssociateReconciler) call(ctx context.Context, p *policy,
	action *httpAction, req httpRequest, verb string) (err error) {
	defer func() { countAction(p.id.metricLabel(), "http", err) }()
	target, err := url.Parse(req.url)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return fmt.Errorf("%s: action %s: the URL must be absolute http(s), got %q", p.id.describe(), action.Name, actionhttp.RedactURL(req.url))
	}
	// Scheme and host only: webhook URLs carry tokens in their paths.
	where := fmt.Sprintf("%s: action %s: %s %s", p.id.describe(), action.Name, req.method, actionhttp.RedactURL(req.url))

	// One namespace's slow endpoint cannot hold every worker: a call over its namespace's
	// share (cluster policies share one) fails and is retried with backoff.
	release, err := r.actions.TryAcquire(p.id.namespace)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	defer release()

	timeout := httpTimeoutDefault
	if action.TimeoutSeconds > 0 {
		timeout = time.Duration(action.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, req.method, req.url, bytes.NewReader([]byte(req.body)))
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	for name, value := range action.Headers {
		httpReq.Header.Set(name, value)
	}
	if req.body != "" && httpReq.Header.Get("Content-Type") == "" {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	for _, h := range action.headersFrom {
		value, err := r.secretValue(ctx, h.secret)
		if err != nil {
			return fmt.Errorf("%s: header %s: %w", where, h.header, err)
		}
		httpReq.Header.Set(h.header, string(value))
	}
	if ref := action.signing; ref != nil {
		secret, err := r.secretValue(ctx, *ref)
		if err != nil {
			return fmt.Errorf("%s: signing: %w", where, err)
		}
		httpReq.Header.Set("X-Signature", signature.Sign(secret, []byte(req.body)))
	}
	resp, err := r.httpClient.Do(httpReq)
	if err != nil {
		// *url.Error repeats the whole URL, query and all; where already names it redacted.
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound && verb == ActionDeprovision:
		return nil
	default:
		return fmt.Errorf("%s: expected a 2xx answer, got %s", where, resp.Status)
	}
}

// secretValue reads one key of a Secret (from the referenced Secrets' informers).
func (r *AssociateReconciler) secretValue(ctx context.Context, ref secretKeyRef) ([]byte, error) {
	reader := r.secretReader
	if reader == nil {
		reader = secrets.FromClient(r.Client)
	}
	secret, err := reader.Get(ctx, ref.namespace, ref.name)
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ref.namespace, ref.name, err)
	}
	value, ok := secret.Data[ref.key]
	if !ok || len(value) == 0 {
		return nil, fmt.Errorf("the Secret %s/%s has no key %q", ref.namespace, ref.name, ref.key)
	}
	return value, nil
}

func succeeded(entry superofficev1alpha1.ActionStatus) bool {
	return entry.LastAction == ActionProvision || entry.LastAction == ActionUpdate
}

func findAction(entries []superofficev1alpha1.ActionStatus, id policyID, name string) superofficev1alpha1.ActionStatus {
	for _, entry := range entries {
		if entry.Name == name {
			return entry
		}
	}
	return superofficev1alpha1.ActionStatus{Policy: id.name, PolicyKind: id.statusKind(), Name: name}
}

func actionIndex(p *policy, name string) int {
	for i := range p.http {
		if p.http[i].Name == name {
			return i
		}
	}
	return -1
}
