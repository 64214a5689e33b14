package render

import (
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// funcsData is what the function tests render with: an Associate-like dict, a list, a
// large float and an RFC 3339 time as an Associate's .spec.updated holds it.
func funcsData() map[string]any {
	return map[string]any{
		"PersonID": int64(21),
		"m":        map[string]any{"a": int64(1), "b": "x<y", "n": map[string]any{"k": []any{"v", true}}},
		"l":        []any{"a", int64(2), nil, 1.5},
		"f":        1e21,
		"nothing":  nil,
		"updated":  "2024-05-06T07:08:09Z",
	}
}

// The outputs are Sprig's (v3.3.0, run on the same templates) wherever the function is
// Sprig's, except where a comment says why not.
var funcCases = []struct{ template, want string }{
	{`{{ "MiXed Ünï" | lower }}|{{ "MiXed ünï" | upper }}`, "mixed ünï|MIXED ÜNÏ"},
	{`{{ trim "  a b  " }}|{{ trimAll "$" "$$a$" }}|{{ trimPrefix "ab" "abc" }}|{{ trimSuffix "bc" "abc" }}`, "a b|a|c|a"},
	{`{{ trunc 3 "abcdef" }}|{{ trunc -2 "abcdef" }}|{{ trunc 10 "abc" }}|{{ trunc 0 "abc" }}`, "abc|ef|abc|"},
	// Sprig's trunc cuts bytes; this one keeps whole characters.
	{`{{ trunc 2 "äb" }}|{{ trunc -1 "bä" }}`, "ä|"},
	{`{{ substr 1 3 "abcdef" }}|{{ substr -1 2 "abcdef" }}|{{ substr 2 -1 "abcdef" }}|{{ substr 2 99 "abcdef" }}|{{ substr 4 2 "abcdef" }}|{{ substr -1 99 "ab" }}`, "bc|ab|cdef|cdef||ab"},
	{`{{ contains "b" "abc" }}|{{ hasPrefix "a" "abc" }}|{{ hasSuffix "c" "abc" }}|{{ contains "z" "abc" }}`, "true|true|true|false"},
	{`{{ replace "a" "xy" "banana" }}|{{ replace "" "-" "abc" }}|{{ repeat 3 "ab" }}|{{ nospace " a b\tc\n" }}`, "bxynxynxy|-a-b-c-|ababab|abc"},
	{`[{{ indent 2 "a\nb" }}]|[{{ nindent 2 "a\nb" }}]`, "[  a\n  b]|[\n  a\n  b]"},
	{`{{ quote "a\"b" 1 nil true }}|{{ squote "a" 2 }}|{{ cat "a" 1 nil 2.5 }}|{{ quote .PersonID }}|{{ .PersonID | quote }}`, `"a\"b" "1" "true"|'a' '2'|a 1 2.5|"21"|"21"`},
	{`{{ splitList "," "a,b,,c" }}|{{ join "-" (list "a" 1 nil 2) }}|{{ join "," (splitList "," "x,y") }}|{{ join "," "abc" }}|{{ join "," (until 3) }}`, "[a b  c]|a-1-2|x,y|abc|0,1,2"},
	{`{{ regexMatch "^[a-z]+$" "abc" }}|{{ regexReplaceAll "[^a-z0-9]+" "Jane Doe!" "-" }}|{{ regexReplaceAll "(a)(b)" "abab" "${2}$1" }}|{{ regexReplaceAllLiteral "a" "aa" "$1" }}`, "true|-ane-oe-|baba|$1$1"},
	{`{{ tenantSlug "Cust 1234!" }}`, "cust-1234"},
	{`{{ b64enc "hello" }}|{{ b64dec "aGVsbG8=" }}|{{ sha256sum "abc" }}`, "aGVsbG8=|hello|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	{`{{ toJson .m }}|{{ toRawJson .m }}`, `{"a":1,"b":"x\u003cy","n":{"k":["v",true]}}|{"a":1,"b":"x<y","n":{"k":["v",true]}}`},
	{`{{ toPrettyJson .m }}`, "{\n  \"a\": 1,\n  \"b\": \"x\\u003cy\",\n  \"n\": {\n    \"k\": [\n      \"v\",\n      true\n    ]\n  }\n}"},
	{`{{ toJson .l }}|{{ toJson (list) }}|{{ toJson (dict) }}|{{ toJson 1.5 }}|{{ toJson "a<b>&c\u2028" }}|{{ toJson nil }}|{{ toJson .f }}`, `["a",2,null,1.5]|[]|{}|1.5|"a\u003cb\u003e\u0026c\u2028"|null|1e+21`},
	// toYaml is Helm's (Sprig has none): sigs.k8s.io/yaml, without the final newline.
	{`{{ toYaml .m }}`, "a: 1\nb: x<y\n\"n\":\n  k:\n  - v\n  - true"},
	{`{{ default "d" "" }}|{{ default "d" "x" }}|{{ default "d" 0 }}|{{ default "d" (list) }}|{{ default "d" .nothing }}|{{ empty 0 }}|{{ empty (dict "a" 1) }}|{{ coalesce "" 0 "x" }}|{{ ternary "y" "n" true }}|{{ ternary "y" "n" false }}`, "d|x|d|d|d|true|false|x|y|n"},
	{`{{ add 1 2 3 }}|{{ add1 .PersonID }}|{{ sub 5 7 }}|{{ mul 2 3 4 }}|{{ div 7 2 }}|{{ mod 7 3 }}|{{ max 1 9 3 }}|{{ min 4 2 8 }}|{{ int "42" }}|{{ int64 3.9 }}|{{ atoi "17" }}|{{ add "0x10" 1 }}`, "6|22|-2|24|3|1|9|2|42|3|17|17"},
	{`{{ list 1 "a" nil }}|{{ append (list 1 2) 3 }}|{{ prepend (list 1 2) 0 }}|{{ concat (list 1) (list 2 3) }}|{{ first (list 1 2) }}|{{ last (list 1 2) }}|{{ first (list) }}|{{ has 2 (list 1 2) }}|{{ has "x" (list 1 2) }}|{{ uniq (list 1 2 1 3 2) }}|{{ without (list 1 2 3 1) 1 }}|{{ sortAlpha (list "b" "a" "c") }}`, "[1 a <nil>]|[1 2 3]|[0 1 2]|[1 2 3]|1|2|<no value>|true|false|[1 2 3]|[2 3]|[a b c]"},
	// Integers of any kind compare equal (Sprig's reflect.DeepEqual told int64 from int).
	{`{{ has .PersonID (list 21) }}`, "true"},
	{`{{ until 3 }}|{{ until -2 }}|{{ untilStep 0 10 3 }}|{{ untilStep 5 0 -2 }}|{{ seq 3 }}|{{ seq 2 5 }}|{{ seq 5 2 }}|{{ seq 0 2 6 }}|{{ seq 6 -2 0 }}|{{ seq 0 }}|{{ seq 1 2 0 }}`, "[0 1 2]|[0 -1]|[0 3 6 9]|[5 3 1]|1 2 3|2 3 4 5|5 4 3 2|0 2 4 6|6 4 2 0|1 0|"},
	{`{{ dict "a" 1 "b" }}|{{ get .m "a" }}|{{ get .m "zz" }}|{{ hasKey .m "a" }}|{{ $d := dict "x" 1 }}{{ $_ := set $d "y" 2 }}{{ $d }}|{{ $e := dict "x" 1 "y" 2 }}{{ $_ := unset $e "x" }}{{ $e }}|{{ pick .m "a" "zz" }}|{{ omit .m "a" }}|{{ dig "n" "k" "def" .m }}|{{ dig "n" "zz" "def" .m }}`, "map[a:1 b:]|1||true|map[x:1 y:2]|map[y:2]|map[a:1]|map[b:x<y n:map[k:[v true]]]|[v true]|def"},
	// keys and values come in key order (Sprig's in random order).
	{`{{ keys .m }}|{{ values (dict "b" 2 "a" 1) }}`, "[a b n]|[1 2]"},
	// date reads an RFC 3339 string (Sprig's formatted the current time instead), in UTC.
	{`{{ date "2006-01-02" .updated }}|{{ date "2006-01-02T15:04" 86400 }}|{{ unixEpoch (toDate "2006-01-02" "2024-03-04") }}|{{ toDate "2006-01-02" "2024-03-04" }}|{{ unixEpoch .updated }}`, "2024-05-06|1970-01-02T00:00|1709510400|2024-03-04 00:00:00 +0000 UTC|1714979289"},
	{`{{ printf "%05d-%s" 7 "x" }}|{{ print 1 2 "a" "b" 3 }}|{{ println "a" 1 }}|{{ toString 12 }}|{{ toString (list 1) }}`, "00007-x|1 2ab3|a 1\n|12|[1]"},
	{`{{ html "<a href=\"x\">" }}|{{ js "it's <b>" }}|{{ urlquery "a b&c" }}|{{ html 1 2 }}`, `&lt;a href=&#34;x&#34;&gt;|it\'s \u003Cb\u003E|a+b%26c|1 2`},
}

func TestFunctionsRenderWhatSprigRenders(t *testing.T) {
	for _, tt := range funcCases {
		t.Run(tt.template, func(t *testing.T) {
			got, err := render(t, tt.template, funcsData())
			if err != nil {
				t.Fatalf("expected %q, got the error %v", tt.want, err)
			}
			if got != tt.want {
				t.Fatalf("expected %q, got %q", tt.want, got)
			}
		})
	}
}

func TestFunctionsFailWithAnError(t *testing.T) {
	tests := []struct{ template, wantErr string }{
		{`{{ fail "personal email is required" }}`, "personal email is required"},
		{`{{ b64dec "not base64!" }}`, "b64dec: illegal base64"},
		{`{{ div 1 0 }}`, "div by zero"},
		{`{{ mod 1 0 }}`, "mod by zero"},
		{`{{ add "ten" 1 }}`, `add expects a number, got "ten"`},
		{`{{ atoi "x" }}`, `atoi expects a decimal integer, got "x"`},
		{`{{ first "abc" }}`, "first expects a list, got string"},
		{`{{ append 1 2 }}`, "append expects a list, got int"},
		{`{{ has (list) (list (list)) }}`, "has compares strings, numbers and booleans"},
		{`{{ dig "a" "def" "not a dict" }}`, "dig expects a dict last"},
		{`{{ date "2006" "yesterday" }}`, "date expects a time, seconds or an RFC 3339 string"},
		{`{{ toDate "2006-01-02" "May 4" }}`, "toDate: parsing time"},
		{`{{ regexMatch "(" "x" }}`, "regexMatch: error parsing regexp"},
		{`{{ repeat -1 "x" }}`, "repeat expects a count of 0 or more"},
		{`{{ call 1 }}`, "call is not available"},
		{`{{ toJson (div 1 1 | int64 | printf "%d" | atoi | add 0.5 | int64 | list) }}`, ""}, // a chain that works
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			_, err := render(t, tt.template, funcsData())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("expected no error, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("expected an error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
}

// Every function a template can call is in the table above, so its output is pinned.
func TestEveryFunctionIsTested(t *testing.T) {
	used := map[string]bool{}
	ident := regexp.MustCompile(`[A-Za-z][A-Za-z0-9]*`)
	for _, tt := range funcCases {
		for _, action := range regexp.MustCompile(`{{.*?}}`).FindAllString(tt.template, -1) {
			for _, name := range ident.FindAllString(regexp.MustCompile(`"[^"]*"`).ReplaceAllString(action, ""), -1) {
				used[name] = true
			}
		}
	}
	used["fail"] = true // TestFunctionsFailWithAnError
	var missing []string
	for _, name := range Funcs() {
		if !used[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("functions without a case in funcCases: %v", missing)
	}
}

// Each function spends a step before it does anything: called with the steps used up,
// every one fails with the step limit. The arguments are made from the parameter types.
func TestEveryFunctionSpendsAStepFirst(t *testing.T) {
	funcs := funcMap(&budget{})
	for _, name := range append(Funcs(), "call") {
		fn := reflect.TypeOf(funcs[name])
		args := make([]string, 0, fn.NumIn())
		for i := range fn.NumIn() {
			if fn.IsVariadic() && i == fn.NumIn()-1 {
				break
			}
			switch fn.In(i).Kind() {
			case reflect.String:
				args = append(args, `"x"`)
			case reflect.Int, reflect.Int64:
				args = append(args, "1")
			case reflect.Bool:
				args = append(args, "true")
			case reflect.Map:
				args = append(args, ".m")
			default:
				args = append(args, "1")
			}
		}
		t.Run(name, func(t *testing.T) {
			s := NewSet()
			text := "{{ " + strings.Join(append([]string{name}, args...), " ") + " }}"
			if err := s.Parse("t", text); err != nil {
				t.Fatal(err)
			}
			_, err := s.execute("t", funcsData(), MaxSteps-1) // the template's own step is the last
			if le := (*LimitError)(nil); !errors.As(err, &le) || le.Limit != LimitSteps {
				t.Fatalf("expected %s with no steps left to fail on the step limit, got %v", text, err)
			}
		})
	}
}

func TestFuncsListsTheCallableFunctionsOnly(t *testing.T) {
	names := Funcs()
	for _, internal := range []string{stepFunc, enterFunc, leaveFunc, outFunc, "call"} {
		if slices.Contains(names, internal) {
			t.Errorf("Funcs lists %s, which is not for policy authors", internal)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Funcs is not sorted: %v", names)
	}
}

func render(t *testing.T, text string, data any) (string, error) {
	t.Helper()
	s := NewSet()
	if err := s.Parse("t", text); err != nil {
		return "", err
	}
	return s.Execute("t", data)
}
