package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type tagged struct {
	Name    string `json:"name"`
	Skipped string `json:"-"`
	Empty   string `json:"empty,omitempty"`
	Plain   int64
	hidden  int //nolint:unused // unexported fields are not encoded
}

func jsonValues() []any {
	return []any{
		nil, true, false, "", "plain", "quote\" backslash\\ tab\t newline\n control\x01 del\x7f",
		"<html> & friends", "unicode ünï 🎉", "invalid \xff utf-8", "separators \u2028 \u2029",
		int64(0), int64(-42), int64(math.MaxInt64), 3, int32(-7), uint8(200), 1.5, math.Copysign(0, -1), 1e21, 1e-7, 123456789.0, float32(0.1),
		[]any{}, []any{nil, "a", int64(1), []any{map[string]any{}}}, []any(nil),
		map[string]any{}, map[string]any{"b": int64(1), "a": []any{"x"}, "": "empty key", "<": ">"}, map[string]any(nil),
		[]string{"u", "v"}, []int{1, 2}, map[string]string{"k": "v"}, []byte("bytes"),
		time.Date(2024, 5, 6, 7, 8, 9, 123, time.UTC), tagged{Name: "n", Skipped: "s", Plain: 2},
		&tagged{Name: "pointer"}, struct{ Nested map[string]any }{map[string]any{"k": []int{3}}},
	}
}

// The encoder writes byte for byte what encoding/json writes (Sprig's toJson, toPrettyJson
// and toRawJson used it), so that rendered bodies and their hashes do not change. The one
// byte difference allowed is how invalid UTF-8 comes out: encoding/json writes U+FFFD
// escaped (`\ufffd`) before Go 1.27 and as the character itself from Go 1.27 on; the
// encoder always escapes it, so a body's bytes do not change with the Go toolchain.
func sameAsEncodingJSON(got, want string) bool {
	if got == want {
		return true
	}
	replaced := func(s string) string { return strings.ReplaceAll(s, `\ufffd`, "\ufffd") }
	var g, w any
	return replaced(got) == replaced(want) && utf8.ValidString(got) &&
		json.Unmarshal([]byte(got), &g) == nil && json.Unmarshal([]byte(want), &w) == nil && reflect.DeepEqual(g, w)
}

// The encoder writes byte for byte what encoding/json writes (Sprig's toJson, toPrettyJson
// and toRawJson used it), so that rendered bodies and their hashes do not change.
func TestJSONEncodingMatchesEncodingJSON(t *testing.T) {
	for _, v := range jsonValues() {
		compact, _ := json.Marshal(v)
		pretty, _ := json.MarshalIndent(v, "", "  ")
		var raw bytes.Buffer
		enc := json.NewEncoder(&raw)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		for _, tt := range []struct {
			fn           string
			pretty, html bool
			want         string
		}{
			{"toJson", false, true, string(compact)},
			{"toPrettyJson", true, true, string(pretty)},
			{"toRawJson", false, false, strings.TrimSuffix(raw.String(), "\n")},
		} {
			got, err := (&budget{}).encodeJSON(tt.fn, v, tt.pretty, tt.html)
			if err != nil || !sameAsEncodingJSON(got, tt.want) {
				t.Errorf("%s(%#v): expected %q, got %q, %v", tt.fn, v, tt.want, got, err)
			}
		}
	}
}

// Invalid UTF-8 becomes an escaped U+FFFD on every Go toolchain, so a rendered body (and
// the hash an update call compares) is the same whichever Go built the manager.
func TestJSONEncodingEscapesInvalidUTF8OnEveryToolchain(t *testing.T) {
	got, err := (&budget{}).encodeJSON("toJson", "a\xffb\xfe", false, true)
	if want := `"a\ufffdb\ufffd"`; err != nil || got != want {
		t.Fatalf("toJson of invalid UTF-8: expected %s, got %s, %v", want, got, err)
	}
}

func TestJSONEncodingRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), map[int]string{1: "a"}, make(chan int)} {
		if _, err := (&budget{}).encodeJSON("toJson", v, false, true); err == nil {
			t.Errorf("expected toJson(%#v) to fail as encoding/json does", v)
		}
	}
}

func FuzzJSONStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "a\"b", "<&>", "\u2028", "\xff\xfe", "\x00\x1f\x7f", "🎉"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		got, err := (&budget{}).encodeJSON("toJson", s, false, true)
		if err != nil || !sameAsEncodingJSON(got, string(want)) {
			t.Fatalf("toJson(%q): expected %s, got %s, %v", s, want, got, err)
		}
	})
}

func FuzzQuotedLenIsLenOfStrconvQuote(f *testing.F) {
	for _, s := range []string{"", "a\"b\\", "\a\b\f\n\r\t\v", "\x00\x7f", "\xff", "ünï", "\u00ad", "\U000e0001", "🎉"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := quotedLen(s), int64(len(strconv.Quote(s))); got != want {
			t.Fatalf("quotedLen(%q) = %d, len(strconv.Quote) = %d", s, got, want)
		}
	})
}

// printfBound never underestimates what fmt.Sprintf prints.
func FuzzPrintfBoundCoversSprintf(f *testing.F) {
	for _, format := range []string{"%d", "%05d-%s", "%v %q %x", "%#v", "%+v", "%[2]d %[1]s", "%*d", "%.3f", "%!", "%", "%%", "%s %s %s", "%T", "%-8.3s|", "% x", "%U", "%b"} {
		f.Add(format)
	}
	args := []any{int64(-12345), "ünï \x01\"", map[string]any{"k": []any{1.5, nil, true}}, []string{"a"}, 3.25}
	sizes := make([]size, len(args))
	for i, arg := range args {
		sizes[i], _ = (&budget{}).measure("an argument is", arg)
	}
	f.Fuzz(func(t *testing.T, format string) {
		if strings.Contains(format, "*") || len(format) > 64 {
			return // widths from arguments are counted as fmt's maximum, a million
		}
		if got, bound := len(fmt.Sprintf(format, args...)), printfBound(format, sizes); int64(got) > bound {
			t.Fatalf("printf %q printed %d bytes, more than its bound %d", format, got, bound)
		}
	})
}

// toYaml charges what converting JSON to YAML allocates, for the shapes that cost most.
func TestToYamlChargesWhatItAllocates(t *testing.T) {
	deep := any("x")
	for range 30 {
		deep = []any{deep}
	}
	wide := make([]any, 1500)
	for i := range wide {
		wide[i] = map[string]any{"a": int64(i), "b": "xyz"}
	}
	strs := make([]any, 10000)
	for i := range strs {
		strs[i] = "\x01\x02"
	}
	for name, v := range map[string]any{
		"a small dict": map[string]any{"b": "c", "n": int64(3)}, "nested lists": deep, "a list of dicts": wide,
		"escaped strings": strs, "one long string": strings.Repeat("\x01", 20000),
	} {
		l := lib{b: &budget{}}
		l.b.reset()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := l.toYAML(v)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if allocated := after.TotalAlloc - before.TotalAlloc; allocated > uint64(l.b.alloc) {
			t.Errorf("toYaml of %s allocated %d bytes, more than the %d it charged", name, allocated, l.b.alloc)
		}
	}
}
