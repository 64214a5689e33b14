package render

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// sink is a byte buffer that refuses to grow past MaxOutputBytes and charges every growth
// to the budget, so that an encoder stops before it allocates, not after. Its error is
// sticky: writes after the first failure do nothing.
type sink struct {
	b   *budget
	fn  string
	buf []byte
	err error
	// overflow is the error past MaxOutputBytes; nil: tooLarge(fn).
	overflow *LimitError
}

func (s *sink) ensure(n int) bool {
	if s.err != nil {
		return false
	}
	need := len(s.buf) + n
	if need > MaxOutputBytes {
		s.err = tooLarge(s.fn)
		if s.overflow != nil {
			s.err = s.overflow
		}
		return false
	}
	if need > cap(s.buf) {
		grown := min(max(2*cap(s.buf), need, 64), MaxOutputBytes)
		if s.err = s.b.charge(s.fn, int64(grown)); s.err != nil {
			return false
		}
		s.buf = append(make([]byte, 0, grown), s.buf...)
	}
	return true
}

func (s *sink) byte(c byte) {
	if s.ensure(1) {
		s.buf = append(s.buf, c)
	}
}

func (s *sink) write(p ...byte) {
	if s.ensure(len(p)) {
		s.buf = append(s.buf, p...)
	}
}

func (s *sink) string(str string) {
	if s.ensure(len(str)) {
		s.buf = append(s.buf, str...)
	}
}

// Write makes the sink the io.Writer of a template's output.
func (s *sink) Write(p []byte) (int, error) {
	if s.ensure(len(p)) {
		s.buf = append(s.buf, p...)
		return len(p), nil
	}
	return 0, s.err
}

// jsonEncoder writes what encoding/json's Marshal (or MarshalIndent with two spaces, or an
// Encoder without HTML escaping) writes for the values templates see, into a sink.
type jsonEncoder struct {
	*sink
	pretty     bool
	escapeHTML bool
}

// encodeJSON encodes v after measuring it: a value within the limits is finite and at
// most MaxValueDepth deep, and the sink bounds the output (indentation included).
func (b *budget) encodeJSON(fn string, v any, pretty, escapeHTML bool) (string, error) {
	if _, err := b.measure("the argument of "+fn+" is", v); err != nil {
		return "", err
	}
	e := jsonEncoder{sink: &sink{b: b, fn: fn}, pretty: pretty, escapeHTML: escapeHTML}
	e.value(v, 0)
	if e.err == nil {
		e.err = b.charge(fn, int64(len(e.buf))) // the string made of the buffer
	}
	if e.err != nil {
		return "", e.err
	}
	return string(e.buf), nil
}

func (e *jsonEncoder) newline(depth int) {
	if e.pretty && e.ensure(1+2*depth) {
		e.buf = append(e.buf, '\n')
		for range depth {
			e.buf = append(e.buf, ' ', ' ')
		}
	}
}

func (e *jsonEncoder) colon() {
	if e.pretty {
		e.string(": ")
	} else {
		e.byte(':')
	}
}

func (e *jsonEncoder) value(v any, depth int) {
	if e.err != nil {
		return
	}
	switch x := v.(type) {
	case nil:
		e.string("null")
	case string:
		e.quote(x)
	case bool:
		e.string(strconv.FormatBool(x))
	case int:
		e.int(int64(x))
	case int64:
		e.int(x)
	case int32:
		e.int(int64(x))
	case float64:
		e.float(x, 64)
	case []any:
		if x == nil {
			e.string("null")
			return
		}
		e.list(len(x), func(i int) { e.value(x[i], depth+1) }, depth)
	case map[string]any:
		if x == nil {
			e.string("null")
			return
		}
		e.object(x, depth)
	case []string:
		if x == nil {
			e.string("null")
			return
		}
		e.list(len(x), func(i int) { e.quote(x[i]) }, depth)
	case []int:
		if x == nil {
			e.string("null")
			return
		}
		e.list(len(x), func(i int) { e.int(int64(x[i])) }, depth)
	case time.Time:
		e.time(x)
	default:
		e.reflectValue(reflect.ValueOf(v), depth)
	}
}

func (e *jsonEncoder) int(n int64) {
	var buf [24]byte
	e.write(strconv.AppendInt(buf[:0], n, 10)...)
}

func (e *jsonEncoder) list(n int, item func(int), depth int) {
	e.byte('[')
	for i := range n {
		if i > 0 {
			e.byte(',')
		}
		e.newline(depth + 1)
		item(i)
		if e.err != nil {
			return
		}
	}
	if n > 0 {
		e.newline(depth)
	}
	e.byte(']')
}

func (e *jsonEncoder) object(m map[string]any, depth int) {
	if e.err = e.b.charge(e.fn, 48*int64(len(m))+64); e.err != nil { // the sorted keys
		return
	}
	keys := slices.Sorted(maps.Keys(m))
	e.byte('{')
	for i, k := range keys {
		if i > 0 {
			e.byte(',')
		}
		e.newline(depth + 1)
		e.quote(k)
		e.colon()
		e.value(m[k], depth+1)
		if e.err != nil {
			return
		}
	}
	if len(keys) > 0 {
		e.newline(depth)
	}
	e.byte('}')
}

func (e *jsonEncoder) time(t time.Time) {
	text, err := t.MarshalJSON()
	if err != nil {
		e.err = fmt.Errorf("%s: %w", e.fn, err)
		return
	}
	e.string(string(text))
}

// reflectValue encodes what the type switch does not know: the data's structs (exported
// fields, named by their json tag), typed maps with string keys, typed slices, numbers.
func (e *jsonEncoder) reflectValue(v reflect.Value, depth int) {
	if e.err = e.b.charge(e.fn, reflectNodeCost); e.err != nil {
		return
	}
	switch v.Kind() {
	case reflect.Invalid:
		e.string("null")
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			e.string("null")
			return
		}
		e.value(v.Elem().Interface(), depth)
	case reflect.String:
		e.quote(v.String())
	case reflect.Bool:
		e.string(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.int(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var buf [24]byte
		e.write(strconv.AppendUint(buf[:0], v.Uint(), 10)...)
	case reflect.Float32:
		e.float(v.Float(), 32)
	case reflect.Float64:
		e.float(v.Float(), 64)
	case reflect.Slice:
		if v.IsNil() {
			e.string("null")
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.bytes(v.Bytes())
			return
		}
		e.list(v.Len(), func(i int) { e.value(v.Index(i).Interface(), depth+1) }, depth)
	case reflect.Array:
		e.list(v.Len(), func(i int) { e.value(v.Index(i).Interface(), depth+1) }, depth)
	case reflect.Map:
		if v.IsNil() {
			e.string("null")
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			e.err = fmt.Errorf("%s: unsupported type %s", e.fn, v.Type())
			return
		}
		m := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			m[it.Key().String()] = it.Value().Interface()
		}
		e.object(m, depth)
	case reflect.Struct:
		e.structFields(v, depth)
	default:
		e.err = fmt.Errorf("%s: unsupported type %s", e.fn, v.Type())
	}
}

func (e *jsonEncoder) structFields(v reflect.Value, depth int) {
	e.byte('{')
	first := true
	for i := range v.NumField() {
		field := v.Type().Field(i)
		if !field.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(field.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			name = field.Name
		}
		value := v.Field(i)
		if strings.Contains(","+opts+",", ",omitempty,") && empty(value.Interface()) {
			continue
		}
		if !first {
			e.byte(',')
		}
		first = false
		e.newline(depth + 1)
		e.quote(name)
		e.colon()
		e.value(value.Interface(), depth+1)
		if e.err != nil {
			return
		}
	}
	if !first {
		e.newline(depth)
	}
	e.byte('}')
}

func (e *jsonEncoder) bytes(b []byte) {
	if e.ensure(base64.StdEncoding.EncodedLen(len(b)) + 2) {
		e.buf = append(e.buf, '"')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, b)
		e.buf = append(e.buf, '"')
	}
}

// float is encoding/json's float encoding.
func (e *jsonEncoder) float(f float64, bits int) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		e.err = fmt.Errorf("%s: unsupported value: %s", e.fn, strconv.FormatFloat(f, 'g', -1, bits))
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	e.write(b...)
}

const hexDigits = "0123456789abcdef"

// quote is encoding/json's string encoding: control characters, quotes and backslashes
// escaped, invalid UTF-8 replaced, U+2028 and U+2029 escaped, and <, > and & escaped
// unless the encoder does not escape HTML.
func (e *jsonEncoder) quote(s string) {
	e.byte('"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && (!e.escapeHTML || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			e.string(s[start:i])
			switch c {
			case '\\', '"':
				e.write('\\', c)
			case '\b':
				e.string(`\b`)
			case '\f':
				e.string(`\f`)
			case '\n':
				e.string(`\n`)
			case '\r':
				e.string(`\r`)
			case '\t':
				e.string(`\t`)
			default:
				e.write('\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && width == 1 {
			e.string(s[start:i])
			e.string(`\ufffd`)
			i += width
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			e.string(s[start:i])
			e.write('\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += width
			start = i
			continue
		}
		i += width
	}
	e.string(s[start:])
	e.byte('"')
}
