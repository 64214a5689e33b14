package render

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// printing

// fmtCost is what fmt allocates printing n bytes of nodes values: its buffer grows by
// doubling (and a padded number gets a buffer of its width), the string is copied out,
// and every map's keys are sorted.
func fmtCost(n, nodes int64) int64 { return 5*n + 64*nodes + 64 }

// sprint is fmt.Sprint of one value, after bounding what it prints.
func (l lib) sprint(fn string, v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	sz, err := l.b.measure("the argument of "+fn+" is", v)
	if err != nil {
		return "", err
	}
	if sz.printed > MaxOutputBytes {
		return "", tooLarge(fn)
	}
	if err := l.b.charge(fn, fmtCost(sz.printed, sz.nodes)); err != nil {
		return "", err
	}
	return fmt.Sprint(v), nil
}

// printed bounds fmt.Sprint(args...) (println: plus separators and newline), and counts
// the nodes that fmt walks.
func (l lib) printed(fn string, args []any) (printed, nodes int64, err error) {
	sz, err := l.b.measure("the arguments of "+fn+" are", args)
	if err != nil {
		return 0, 0, err
	}
	return sz.printed + 1, sz.nodes, nil
}

func (l lib) fmtCall(fn string, args []any, format func(...any) string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	n, nodes, err := l.printed(fn, args)
	if err != nil {
		return "", err
	}
	if n > MaxOutputBytes {
		return "", tooLarge(fn)
	}
	if err := l.b.charge(fn, fmtCost(n, nodes)); err != nil {
		return "", err
	}
	return format(args...), nil
}

func (l lib) print(args ...any) (string, error) { return l.fmtCall("print", args, fmt.Sprint) }

func (l lib) println(args ...any) (string, error) {
	return l.fmtCall("println", args, fmt.Sprintln)
}

func (l lib) toString(v any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	return l.strval("toString", v)
}

// strval is Sprig's: a string as it is, anything else as fmt's %v prints it.
func (l lib) strval(fn string, v any) (string, error) {
	if b, ok := v.([]byte); ok {
		if err := l.b.produce(fn, int64(len(b))); err != nil {
			return "", err
		}
		return string(b), nil
	}
	return l.sprint(fn, v)
}

// printf is fmt.Sprintf, refusing a format whose widths and precisions (fmt reads up to
// seven digits of each) or arguments would print past the limit.
func (l lib) printf(format string, args ...any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if _, err := l.b.measure("the arguments of printf are", args); err != nil {
		return "", err
	}
	sizes := make([]size, len(args))
	nodes := int64(0)
	for i, arg := range args {
		sizes[i], _ = l.b.measure("an argument of printf is", arg)
		nodes += sizes[i].nodes
	}
	n := printfBound(format, sizes)
	if n > MaxOutputBytes {
		return "", tooLarge("printf")
	}
	if err := l.b.charge("printf", fmtCost(n, nodes)); err != nil {
		return "", err
	}
	return fmt.Sprintf(format, args...), nil
}

// plainPrinted bounds an operand printed with a verb that prints it as %v does (or as a
// number), a wrong verb's %!d(string=...) included.
func plainPrinted(sz size) int64 { return sz.printed + 24*sz.nodes }

// worstPrinted bounds an operand printed with any verb and flags: %x, %q, %#v (Go
// syntax, with a type name per element), %!(EXTRA ...).
func worstPrinted(sz size) int64 { return 4*sz.printed + 64*sz.nodes + 32 }

// printfBound bounds what fmt.Sprintf(format, args...) prints. A width or precision pads
// every element of a list or dict, so it counts once per node of its operand.
func printfBound(format string, args []size) int64 {
	type verb struct {
		pad   int64
		print func(size) int64
	}
	var verbs []verb
	total, explicit, lastPad := int64(len(format)), false, int64(0)
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		number, padding, plain := int64(0), int64(0), true
	parse:
		for i++; i < len(format); i++ {
			switch c := format[i]; {
			case c >= '0' && c <= '9':
				number = min(number*10+int64(c-'0'), 1e7)
			case c == '*': // a width or precision from an argument: as wide as fmt allows
				padding += 1e7
				explicit = true
			case c == '[':
				explicit = true
			case c == '#' || c == '+':
				plain = false
			case strings.IndexByte("- .]", c) >= 0:
				padding, number = padding+number, 0
			default:
				padding += number
				if c == '%' {
					total += padding
					break parse
				}
				v := verb{pad: padding, print: plainPrinted}
				if !plain || !strings.ContainsRune("vsdtcUeEfFgGoObp", rune(c)) {
					v.print = worstPrinted
				}
				verbs = append(verbs, v)
				break parse
			}
		}
		lastPad = padding + number // still set when the format ends without a verb
		total += 32                // a %!d(MISSING) or %!(NOVERB)
	}
	operand := func(v verb, sz size) int64 { return v.print(sz) + v.pad*max(1, sz.nodes) }
	for i, v := range verbs {
		switch {
		case explicit: // any verb may print any argument
			most := int64(0)
			for _, sz := range args {
				most = max(most, operand(verb{pad: v.pad, print: worstPrinted}, sz))
			}
			total += most
		case i < len(args):
			total += operand(v, args[i])
		}
	}
	for i := len(verbs); i < len(args); i++ { // %!(EXTRA type=value, ...), with the last width
		total += operand(verb{pad: lastPad, print: worstPrinted}, args[i])
	}
	return total
}

// text/template's html, js and urlquery, bounded: each escapes fmt.Sprint of its arguments
// (a single string as it is) to at most six bytes per byte.
func (l lib) escaper(fn string, factor int64, escape func(string) string, args []any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	var s string
	if len(args) == 1 {
		if str, ok := args[0].(string); ok {
			s = str
		}
	}
	if s == "" && len(args) > 0 {
		n, nodes, err := l.printed(fn, args)
		if err != nil {
			return "", err
		}
		if n > MaxOutputBytes {
			return "", tooLarge(fn)
		}
		if err := l.b.charge(fn, fmtCost(n, nodes)); err != nil {
			return "", err
		}
		s = fmt.Sprint(args...)
	}
	if err := l.b.produce(fn, factor*int64(len(s))); err != nil {
		return "", err
	}
	return escape(s), nil
}

func (l lib) html(args ...any) (string, error) {
	return l.escaper("html", 5, template.HTMLEscapeString, args)
}

func (l lib) js(args ...any) (string, error) {
	return l.escaper("js", 6, template.JSEscapeString, args)
}

func (l lib) urlquery(args ...any) (string, error) {
	return l.escaper("urlquery", 3, func(s string) string { return template.URLQueryEscaper(s) }, args)
}

// strings

// mappedLen is len(strings.Map(mapping, s)), computed without making it (invalid UTF-8
// becomes U+FFFD, three bytes).
func mappedLen(s string, mapping func(rune) rune) int64 {
	n := int64(0)
	for _, r := range s {
		if m := mapping(r); m >= 0 {
			n += int64(utf8.RuneLen(m))
		}
	}
	return n
}

func (l lib) mapString(fn, s string, mapping func(rune) rune, apply func(string) string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if err := l.b.produce(fn, mappedLen(s, mapping)); err != nil {
		return "", err
	}
	return apply(s), nil
}

func (l lib) lower(s string) (string, error) {
	return l.mapString("lower", s, unicode.ToLower, strings.ToLower)
}

func (l lib) upper(s string) (string, error) {
	return l.mapString("upper", s, unicode.ToUpper, strings.ToUpper)
}

func (l lib) nospace(s string) (string, error) {
	drop := func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}
	return l.mapString("nospace", s, drop, func(s string) string { return strings.Map(drop, s) })
}

// The functions below return part of their argument, which allocates nothing.

func (l lib) trim(s string) (string, error) { return strings.TrimSpace(s), l.b.step() }

func (l lib) trimAll(cutset, s string) (string, error) { return strings.Trim(s, cutset), l.b.step() }

func (l lib) trimPrefix(prefix, s string) (string, error) {
	return strings.TrimPrefix(s, prefix), l.b.step()
}

func (l lib) trimSuffix(suffix, s string) (string, error) {
	return strings.TrimSuffix(s, suffix), l.b.step()
}

func (l lib) contains(substr, s string) (bool, error) { return strings.Contains(s, substr), l.b.step() }

func (l lib) hasPrefix(prefix, s string) (bool, error) {
	return strings.HasPrefix(s, prefix), l.b.step()
}

func (l lib) hasSuffix(suffix, s string) (bool, error) {
	return strings.HasSuffix(s, suffix), l.b.step()
}

// trunc is Sprig's (the first n bytes, or with a negative n the last -n), never cutting a
// character in two: it keeps whole characters only.
func (l lib) trunc(n int, s string) (string, error) {
	switch {
	case n >= 0 && len(s) > n:
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	case n < 0 && len(s)+n > 0:
		start := len(s) + n
		for start < len(s) && !utf8.RuneStart(s[start]) {
			start++
		}
		s = s[start:]
	}
	return s, l.b.step()
}

// substr is Sprig's, with out-of-range indexes clamped instead of a panic.
func (l lib) substr(start, end int, s string) (string, error) {
	clamp := func(i int) int { return max(0, min(i, len(s))) }
	switch {
	case start < 0:
		s = s[:clamp(end)]
	case end < 0 || end > len(s):
		s = s[clamp(start):]
	default:
		s = s[clamp(start):max(clamp(start), end)]
	}
	return s, l.b.step()
}

func (l lib) replace(old, replacement, src string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	n := int64(strings.Count(src, old))
	if err := l.b.produce("replace", int64(len(src))+n*(int64(len(replacement))-int64(len(old)))); err != nil {
		return "", err
	}
	return strings.ReplaceAll(src, old, replacement), nil
}

func (l lib) repeat(count int, s string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if count < 0 {
		return "", fmt.Errorf("repeat expects a count of 0 or more, got %d", count)
	}
	if len(s) > 0 && count > MaxOutputBytes {
		return "", tooLarge("repeat")
	}
	if err := l.b.produce("repeat", int64(count)*int64(len(s))); err != nil {
		return "", err
	}
	return strings.Repeat(s, count), nil
}

func (l lib) indent(spaces int, s string) (string, error) { return l.indented("indent", spaces, s, "") }

func (l lib) nindent(spaces int, s string) (string, error) {
	return l.indented("nindent", spaces, s, "\n")
}

func (l lib) indented(fn string, spaces int, s, prefix string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if spaces < 0 {
		return "", fmt.Errorf("%s expects 0 or more spaces, got %d", fn, spaces)
	}
	if spaces > MaxOutputBytes {
		return "", tooLarge(fn)
	}
	lines := int64(strings.Count(s, "\n")) + 1
	if err := l.b.produce(fn, int64(len(prefix))+int64(len(s))+lines*int64(spaces)); err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", spaces)
	return prefix + pad + strings.ReplaceAll(s, "\n", "\n"+pad), nil
}

// stringsOf is strval of each argument that is not nil (quote, squote, cat, join), all of
// them measured first.
func (l lib) stringsOf(fn string, args []any) ([]string, error) {
	if _, err := l.b.measure("the arguments of "+fn+" are", args); err != nil {
		return nil, err
	}
	if err := l.b.charge(fn, 16*int64(len(args))); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(args))
	for _, arg := range args {
		if arg == nil {
			continue
		}
		s, err := l.strval(fn, arg)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (l lib) joined(fn string, parts []string, sep string, partLen func(string) int64, part func(string) string) (string, error) {
	total := int64(0)
	for _, p := range parts {
		total += partLen(p) + int64(len(sep))
	}
	if err := l.b.produce(fn, 2*total); err != nil { // the parts, then the joined string
		return "", err
	}
	for i, p := range parts {
		parts[i] = part(p)
	}
	return strings.Join(parts, sep), nil
}

// quote is Sprig's: each argument (but nil) as a Go string literal, separated by spaces.
func (l lib) quote(args ...any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	parts, err := l.stringsOf("quote", args)
	if err != nil {
		return "", err
	}
	return l.joined("quote", parts, " ", quotedLen, func(s string) string { return fmt.Sprintf("%q", s) })
}

// squote is Sprig's: each argument (but nil) in single quotes, separated by spaces.
func (l lib) squote(args ...any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	parts, err := l.stringsOf("squote", args)
	if err != nil {
		return "", err
	}
	return l.joined("squote", parts, " ", func(s string) int64 { return int64(len(s)) + 2 },
		func(s string) string { return "'" + s + "'" })
}

// cat is Sprig's: the arguments (but nil) printed, separated by spaces.
func (l lib) cat(args ...any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	parts, err := l.stringsOf("cat", args)
	if err != nil {
		return "", err
	}
	return l.joined("cat", parts, " ", func(s string) int64 { return int64(len(s)) }, func(s string) string { return s })
}

func (l lib) splitList(sep, s string) ([]string, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	n := strings.Count(s, sep) + 1 // with an empty sep: one part per character
	if n > MaxListLength {
		return nil, tooLong("splitList")
	}
	if err := l.b.charge("splitList", 16*int64(n)); err != nil {
		return nil, err
	}
	return strings.Split(s, sep), nil
}

// join is Sprig's: the elements (but nil) of a list as strings, separated by sep.
func (l lib) join(sep string, v any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	var parts []string
	switch x := v.(type) {
	case []string:
		if err := l.b.charge("join", 16*int64(len(x))); err != nil {
			return "", err
		}
		parts = slices.Clone(x)
	case nil:
		return "", nil
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			s, err := l.strval("join", v)
			return s, err
		}
		list, err := l.listOf("join", v)
		if err != nil {
			return "", err
		}
		if parts, err = l.stringsOf("join", list); err != nil {
			return "", err
		}
	}
	return l.joined("join", parts, sep, func(s string) int64 { return int64(len(s)) }, func(s string) string { return s })
}

// regular expressions

// maxRegexInstructions bounds a compiled pattern, so that compiling it stays small and
// matching it against MaxOutputBytes of text stays within a fraction of a second.
const maxRegexInstructions = 300

func (l lib) compile(fn, pattern string) (*regexp.Regexp, error) {
	if len(pattern) > 1024 {
		return nil, limitErrorf(LimitSize, "%s: the pattern is longer than 1024 bytes", fn)
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if regexSize(parsed) > maxRegexInstructions {
		return nil, limitErrorf(LimitSize, "%s: the pattern %q is too large (more than %d instructions)", fn, truncated(pattern), maxRegexInstructions)
	}
	if err := l.b.charge(fn, 256*int64(len(pattern))+4096); err != nil {
		return nil, err
	}
	return regexp.Compile(pattern)
}

// regexSize bounds how many instructions re compiles to (repeats multiply).
func regexSize(re *syntax.Regexp) int64 {
	n := int64(1 + len(re.Rune))
	for _, sub := range re.Sub {
		n += regexSize(sub)
	}
	if re.Op == syntax.OpRepeat {
		n *= int64(max(re.Min, re.Max) + 1)
	}
	return min(n, 1<<40)
}

func (l lib) regexMatch(pattern, s string) (bool, error) {
	if err := l.b.step(); err != nil {
		return false, err
	}
	re, err := l.compile("regexMatch", pattern)
	if err != nil {
		return false, err
	}
	return re.MatchString(s), nil
}

func (l lib) regexReplaceAll(pattern, s, repl string) (string, error) {
	return l.regexReplace("regexReplaceAll", pattern, s, repl, false)
}

func (l lib) regexReplaceAllLiteral(pattern, s, repl string) (string, error) {
	return l.regexReplace("regexReplaceAllLiteral", pattern, s, repl, true)
}

func (l lib) regexReplace(fn, pattern, s, repl string, literal bool) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	re, err := l.compile(fn, pattern)
	if err != nil {
		return "", err
	}
	// Count the matches without keeping them: the counting replacement makes at most s.
	if err := l.b.charge(fn, 2*int64(len(s))); err != nil {
		return "", err
	}
	matches := int64(0)
	re.ReplaceAllStringFunc(s, func(string) string { matches++; return "" })
	per := int64(len(repl))
	if !literal {
		per += int64(strings.Count(repl, "$")) * int64(len(s)) // each $1 expands to at most s
	}
	if err := l.b.produce(fn, int64(len(s))+matches*per); err != nil {
		return "", err
	}
	if literal {
		return re.ReplaceAllLiteralString(s, repl), nil
	}
	return re.ReplaceAllString(s, repl), nil
}

// encodings

func (l lib) b64enc(s string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if err := l.b.produce("b64enc", int64(base64.StdEncoding.EncodedLen(len(s)))); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

// b64dec fails on what is not base64 (Sprig returned the error's text as the result).
func (l lib) b64dec(s string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if err := l.b.produce("b64dec", 2*int64(base64.StdEncoding.DecodedLen(len(s)))); err != nil {
		return "", err
	}
	decoded, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("b64dec: %w", err)
	}
	return string(decoded), nil
}

func (l lib) sha256sum(s string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if err := l.b.produce("sha256sum", int64(len(s))+2*sha256.Size); err != nil { // []byte(s)
		return "", err
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:]), nil
}

// toJson, toPrettyJson and toRawJson write what Sprig's (encoding/json's) do.
func (l lib) toJSON(v any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	return l.b.encodeJSON("toJson", v, false, true)
}

func (l lib) toPrettyJSON(v any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	return l.b.encodeJSON("toPrettyJson", v, true, true)
}

func (l lib) toRawJSON(v any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	return l.b.encodeJSON("toRawJson", v, false, false)
}

// What sigs.k8s.io/yaml allocates converting JSON to YAML, at most: a lot per call and per
// element (TestToYamlChargesWhatItAllocates holds it to these).
const (
	yamlCostPerCall = 16 << 10
	yamlCostPerNode = 3 << 10
	yamlCostPerByte = 8
)

// toYaml is Helm's: the value as sigs.k8s.io/yaml writes it (through its JSON form),
// without the final newline.
func (l lib) toYAML(v any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	sz, err := l.b.measure("the argument of toYaml is", v)
	if err != nil {
		return "", err
	}
	data, err := l.b.encodeJSON("toYaml", v, false, true)
	if err != nil {
		return "", err
	}
	if err := l.b.charge("toYaml", yamlCostPerCall+yamlCostPerNode*sz.nodes+yamlCostPerByte*int64(len(data))); err != nil {
		return "", err
	}
	out, err := yaml.JSONToYAML([]byte(data))
	if err != nil {
		return "", fmt.Errorf("toYaml: %w", err)
	}
	if len(out) > MaxOutputBytes {
		return "", tooLarge("toYaml")
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}
