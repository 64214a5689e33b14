package controllers

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/render"
)

// templateData is what resource, URL and body templates see.
type templateData struct {
	// Associate is the whole Associate as its JSON form (.Associate.spec.personId,
	// .Associate.metadata.labels), the way kubectl shows it.
	Associate   map[string]any
	PersonID    int64
	AssociateID int64
	Tenant      string
	Namespace   string
	Action      string
}

func newTemplateData(assoc *superofficev1alpha1.Associate, action string) (templateData, error) {
	object, err := runtime.DefaultUnstructuredConverter.ToUnstructured(assoc)
	if err != nil {
		return templateData{}, fmt.Errorf("converting Associate %s for templates: %w", assoc.Name, err)
	}
	fillOmittedFields(object)
	return templateData{
		Associate:   object,
		PersonID:    assoc.Spec.PersonID,
		AssociateID: assoc.Spec.AssociateID,
		Tenant:      assoc.Spec.Tenant,
		Namespace:   assoc.Namespace,
		Action:      action,
	}, nil
}

// fillOmittedFields puts back the spec fields and metadata maps that JSON omits when empty,
// so that `.Associate.spec.retired` is false rather than a missing-key error.
func fillOmittedFields(object map[string]any) {
	spec, _ := object["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		object["spec"] = spec
	}
	for key, zero := range map[string]any{
		"personId": int64(0), "groupIdx": int64(0), "type": "", "typeCode": nil, "retired": false,
		"waitingForApproval": false, "registeredAssociateId": int64(0), "updatedAssociateId": int64(0), "updated": "",
	} {
		if _, ok := spec[key]; !ok {
			spec[key] = zero
		}
	}
	metadata, _ := object["metadata"].(map[string]any)
	if metadata == nil {
		metadata = map[string]any{}
		object["metadata"] = metadata
	}
	for _, key := range []string{"labels", "annotations"} {
		if _, ok := metadata[key]; !ok {
			metadata[key] = map[string]any{}
		}
	}
}

// withAction is the same data for another action.
func (d templateData) withAction(action string) templateData {
	d.Action = action
	return d
}

// compiledPolicy holds the parsed templates of one generation of a policy, by name
// (spec.resources[0].template, ...), in a render.Set that executes them within its limits.
type compiledPolicy struct {
	uid        types.UID
	generation int64
	templates  *render.Set
	resources  []string
	http       []compiledHTTPAction
	// err is the first template that did not parse; nothing of the policy is usable then.
	err error
}

type compiledHTTPAction struct {
	url  string
	body string // "" when the action sends no body
}

// templateCache parses each policy's templates once per generation (keyed by UID and
// generation), shared by both reconcilers, instead of once per Associate.
type templateCache struct {
	mu     sync.Mutex
	byName map[policyID]*compiledPolicy
}

func newTemplateCache() *templateCache {
	return &templateCache{byName: map[policyID]*compiledPolicy{}}
}

// compile returns the parsed templates of the policy's current generation.
func (c *templateCache) compile(policy *policy) *compiledPolicy {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := policy.id
	if cached, ok := c.byName[key]; ok && cached.uid == policy.uid && cached.generation == policy.generation {
		return cached
	}
	compiled := &compiledPolicy{uid: policy.uid, generation: policy.generation, templates: render.NewSet()}
	parse := func(name, text string) string {
		if compiled.err == nil {
			compiled.err = compiled.templates.Parse(name, text) // a *render.ParseError names the template
		}
		return name
	}
	for i, resource := range policy.spec.Resources {
		compiled.resources = append(compiled.resources, parse(fmt.Sprintf("spec.resources[%d].template", i), resource.Template))
	}
	for _, action := range policy.http {
		compiledAction := compiledHTTPAction{url: parse(fmt.Sprintf("spec.http[%s].url", action.Name), action.URL)}
		if action.BodyTemplate != "" {
			compiledAction.body = parse(fmt.Sprintf("spec.http[%s].bodyTemplate", action.Name), action.BodyTemplate)
		}
		compiled.http = append(compiled.http, compiledAction)
	}
	c.byName[key] = compiled
	return compiled
}

// forget drops a deleted policy's templates.
func (c *templateCache) forget(key policyID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byName, key)
}

// execute renders one template within render's limits (a limit reached or a panic in a
// function is an error, so that a bad policy never stops the manager).
func (p *compiledPolicy) execute(name string, data templateData) (string, error) {
	return p.templates.Execute(name, data)
}

// renderResources renders every resource template of the policy for one Associate. A
// template that renders only blank lines or comments provisions nothing.
func (p *compiledPolicy) renderResources(data templateData) ([]*unstructured.Unstructured, error) {
	if p.err != nil {
		return nil, p.err
	}
	objects := make([]*unstructured.Unstructured, 0, len(p.resources))
	for _, name := range p.resources {
		text, err := p.execute(name, data)
		if err != nil {
			return nil, err
		}
		obj, err := decodeObject(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if obj != nil {
			objects = append(objects, obj)
		}
	}
	return objects, nil
}

// renderHTTP renders the URL and body of the i-th HTTP action.
func (p *compiledPolicy) renderHTTP(i int, data templateData) (url, body string, err error) {
	if p.err != nil {
		return "", "", p.err
	}
	action := p.http[i]
	if url, err = p.execute(action.url, data); err != nil {
		return "", "", err
	}
	url = strings.TrimSpace(url)
	if url == "" {
		return "", "", fmt.Errorf("%s renders an empty URL", action.url)
	}
	if action.body != "" {
		if body, err = p.execute(action.body, data); err != nil {
			return "", "", err
		}
	}
	return url, body, nil
}

// decodeObject reads one object from YAML or JSON; nil when there is none.
func decodeObject(text string) (*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(text), 4096)
	var objects []map[string]any
	for {
		var object map[string]any
		if err := decoder.Decode(&object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("renders something that is not YAML or JSON: %w", err)
		}
		if len(object) > 0 {
			objects = append(objects, object)
		}
	}
	switch len(objects) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("renders %d objects, expected one", len(objects))
	}
	obj := &unstructured.Unstructured{Object: objects[0]}
	var missing []string
	if obj.GetAPIVersion() == "" {
		missing = append(missing, "apiVersion")
	}
	if obj.GetKind() == "" {
		missing = append(missing, "kind")
	}
	if obj.GetName() == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("renders an object without %s", strings.Join(missing, ", "))
	}
	return obj, nil
}
