package render

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"text/template"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// lib is the function set bound to one budget. Every function spends a step first, and
// checks and charges what it makes before making it.
type lib struct{ b *budget }

// funcMap is the function set of templates (Funcs lists the names a policy can call),
// with fmt's print, printf and println and text/template's html, js, urlquery and call
// replaced by bounded versions, and the instrumentation's own functions.
func funcMap(b *budget) template.FuncMap {
	l := lib{b: b}
	return template.FuncMap{
		// instrumentation (rewrite.go)
		stepFunc:  l.renderStep,
		enterFunc: l.renderEnter,
		leaveFunc: l.renderLeave,
		outFunc:   l.renderOut,

		// printing, and the builtins that print
		"print":    l.print,
		"println":  l.println,
		"printf":   l.printf,
		"toString": l.toString,
		"html":     l.html,
		"js":       l.js,
		"urlquery": l.urlquery,
		"call":     l.call,

		// strings
		"lower":                  l.lower,
		"upper":                  l.upper,
		"trim":                   l.trim,
		"trimAll":                l.trimAll,
		"trimPrefix":             l.trimPrefix,
		"trimSuffix":             l.trimSuffix,
		"trunc":                  l.trunc,
		"substr":                 l.substr,
		"contains":               l.contains,
		"hasPrefix":              l.hasPrefix,
		"hasSuffix":              l.hasSuffix,
		"replace":                l.replace,
		"repeat":                 l.repeat,
		"nospace":                l.nospace,
		"indent":                 l.indent,
		"nindent":                l.nindent,
		"quote":                  l.quote,
		"squote":                 l.squote,
		"cat":                    l.cat,
		"splitList":              l.splitList,
		"join":                   l.join,
		"regexMatch":             l.regexMatch,
		"regexReplaceAll":        l.regexReplaceAll,
		"regexReplaceAllLiteral": l.regexReplaceAllLiteral,
		"tenantSlug":             l.tenantSlug,

		// encodings and hashes
		"b64enc":       l.b64enc,
		"b64dec":       l.b64dec,
		"sha256sum":    l.sha256sum,
		"toJson":       l.toJSON,
		"toPrettyJson": l.toPrettyJSON,
		"toRawJson":    l.toRawJSON,
		"toYaml":       l.toYAML,

		// defaults and flow
		"default":  l.dfault,
		"empty":    l.empty,
		"coalesce": l.coalesce,
		"ternary":  l.ternary,
		"fail":     l.fail,

		// numbers
		"add":   l.add,
		"add1":  l.add1,
		"sub":   l.sub,
		"mul":   l.mul,
		"div":   l.div,
		"mod":   l.mod,
		"max":   l.max,
		"min":   l.min,
		"int":   l.toInt,
		"int64": l.toInt64,
		"atoi":  l.atoi,

		// lists
		"list":      l.list,
		"append":    l.append,
		"prepend":   l.prepend,
		"concat":    l.concat,
		"first":     l.first,
		"last":      l.last,
		"has":       l.has,
		"uniq":      l.uniq,
		"without":   l.without,
		"sortAlpha": l.sortAlpha,
		"until":     l.until,
		"untilStep": l.untilStep,
		"seq":       l.seq,

		// dicts
		"dict":   l.dict,
		"get":    l.get,
		"set":    l.set,
		"unset":  l.unset,
		"hasKey": l.hasKey,
		"keys":   l.keys,
		"values": l.values,
		"pick":   l.pick,
		"omit":   l.omit,
		"dig":    l.dig,

		// dates
		"toDate":    l.toDate,
		"date":      l.date,
		"unixEpoch": l.unixEpoch,
	}
}

// Funcs are the names of the functions a template can call, besides text/template's
// builtins and, or, not, len, index, slice, eq, ne, lt, le, gt and ge; sorted.
func Funcs() []string {
	names := slices.Sorted(maps.Keys(funcMap(&budget{})))
	return slices.DeleteFunc(names, func(name string) bool {
		return name == stepFunc || name == enterFunc || name == leaveFunc || name == outFunc || name == "call"
	})
}

// renderStep starts a template or a range iteration: one step, and what evaluating its
// nodes allocates.
func (l lib) renderStep(weight int64) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	return "", l.b.charge("evaluating the template", weight)
}

func (l lib) renderEnter() (string, error) {
	l.b.depth++
	if l.b.depth > MaxTemplateDepth {
		return "", limitErrorf(LimitRecursion, "nests template calls more than %d deep", MaxTemplateDepth)
	}
	return "", nil
}

func (l lib) renderLeave() string {
	l.b.depth--
	return ""
}

// renderOut prints the value of an action as text/template would, bounded.
func (l lib) renderOut(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "<no value>", nil
	}
	rv := reflect.ValueOf(v)
	// text/template prints what a pointer points to, unless the pointer is a Stringer or
	// an error, and refuses channels and functions.
	if rv.Kind() == reflect.Pointer && !isPrinter(rv.Type()) {
		if rv.IsNil() {
			return "<nil>", nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() == reflect.Chan || rv.Kind() == reflect.Func {
		return "", fmt.Errorf("can't print value of type %s", rv.Type())
	}
	return l.sprint("printing a value", rv.Interface())
}

func isPrinter(t reflect.Type) bool {
	return t.Implements(reflect.TypeFor[error]()) || t.Implements(reflect.TypeFor[fmt.Stringer]())
}

func (l lib) call(...any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	return "", errors.New("call is not available in policy templates")
}

// list conversions

// listOf is v as a list; the kinds of list templates make are used as they are.
func (l lib) listOf(fn string, v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case []string: // each string boxed in an interface: 16 bytes more
		if err := l.b.charge(fn, listCost(len(x))+16*int64(len(x))); err != nil {
			return nil, err
		}
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	case []int:
		if err := l.b.charge(fn, listCost(len(x))+8*int64(len(x))); err != nil {
			return nil, err
		}
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = n
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("%s expects a list, got %s", fn, typeName(v))
	}
	if err := l.b.charge(fn, listCost(rv.Len())+(16+reflectNodeCost)*int64(rv.Len())); err != nil {
		return nil, err
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}

func typeName(v any) string {
	if v == nil {
		return "nothing"
	}
	return reflect.TypeOf(v).String()
}

// made checks a list or dict that a function made: finite, within the limits.
func (l lib) made(fn string, v any) error {
	_, err := l.b.measure("the result of "+fn+" is", v)
	return err
}

// comparable is v as a key for has, uniq and without: strings, booleans and numbers
// (integers of any kind compare as int64).
func comparableKey(fn string, v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, float64, float32:
		return x, nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint(), nil
	case reflect.String:
		return rv.String(), nil
	}
	return nil, fmt.Errorf("%s compares strings, numbers and booleans, got %s", fn, typeName(v))
}

// superofficev1alpha1.TenantSlug, bounded: its result is never longer than its input.
func (l lib) tenantSlug(tenant string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if err := l.b.produce("tenantSlug", int64(len(tenant))); err != nil {
		return "", err
	}
	return superofficev1alpha1.TenantSlug(tenant), nil
}
