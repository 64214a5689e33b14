package render

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaults and flow

// empty is Sprig's: nil, false, zero, and empty strings, lists and dicts are empty;
// structs never are.
func empty(v any) bool {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return true
	}
	switch rv.Kind() {
	case reflect.Array, reflect.Slice, reflect.Map, reflect.String:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Complex64, reflect.Complex128:
		return rv.Complex() == 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() == 0
	case reflect.Struct:
		return false
	default:
		return rv.IsNil()
	}
}

// dfault is Sprig's default: given when it is not empty, else d.
func (l lib) dfault(d any, given ...any) (any, error) {
	if len(given) == 0 || empty(given[0]) {
		return d, l.b.step()
	}
	return given[0], l.b.step()
}

func (l lib) empty(v any) (bool, error) { return empty(v), l.b.step() }

func (l lib) coalesce(args ...any) (any, error) {
	for _, v := range args {
		if !empty(v) {
			return v, l.b.step()
		}
	}
	return nil, l.b.step()
}

func (l lib) ternary(ifTrue, ifFalse any, condition bool) (any, error) {
	if condition {
		return ifTrue, l.b.step()
	}
	return ifFalse, l.b.step()
}

// maxFailMessage bounds fail's message, which ends up in conditions and Events.
const maxFailMessage = 1024

func (l lib) fail(message string) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if len(message) > maxFailMessage {
		message = message[:maxFailMessage] + "..."
	}
	return "", errors.New(message)
}

// numbers: integers, as Sprig's (int64 results)

// toInt64 converts numbers, numeric strings (base prefixes allowed, as Sprig's cast
// does), booleans and nil; anything else is an error, not Sprig's silent 0.
func toInt64(fn string, v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimSpace(x)
		if whole, fraction, ok := strings.Cut(s, "."); ok && strings.Trim(fraction, "0") == "" {
			s = whole
		}
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return 0, fmt.Errorf("%s expects a number, got %q", fn, truncated(x))
		}
		return n, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt64 {
			return 0, fmt.Errorf("%s: %d is too large", fn, rv.Uint())
		}
		return int64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
			return 0, fmt.Errorf("%s: %v is not an integer", fn, f)
		}
		return int64(f), nil
	}
	return 0, fmt.Errorf("%s expects a number, got %s", fn, typeName(v))
}

func truncated(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func (l lib) ints(fn string, args []any) ([]int64, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	if err := l.b.charge(fn, 8*int64(len(args))); err != nil {
		return nil, err
	}
	out := make([]int64, len(args))
	for i, arg := range args {
		n, err := toInt64(fn, arg)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func (l lib) add(args ...any) (int64, error) {
	ns, err := l.ints("add", args)
	sum := int64(0)
	for _, n := range ns {
		sum += n
	}
	return sum, err
}

func (l lib) add1(v any) (int64, error) {
	ns, err := l.ints("add1", []any{v})
	if err != nil {
		return 0, err
	}
	return ns[0] + 1, nil
}

func (l lib) sub(a, b any) (int64, error) {
	ns, err := l.ints("sub", []any{a, b})
	if err != nil {
		return 0, err
	}
	return ns[0] - ns[1], nil
}

func (l lib) mul(a any, rest ...any) (int64, error) {
	ns, err := l.ints("mul", append([]any{a}, rest...))
	product := int64(1)
	for _, n := range ns {
		product *= n
	}
	return product, err
}

func (l lib) div(a, b any) (int64, error) {
	ns, err := l.ints("div", []any{a, b})
	if err != nil {
		return 0, err
	}
	if ns[1] == 0 {
		return 0, errors.New("div by zero")
	}
	return ns[0] / ns[1], nil
}

func (l lib) mod(a, b any) (int64, error) {
	ns, err := l.ints("mod", []any{a, b})
	if err != nil {
		return 0, err
	}
	if ns[1] == 0 {
		return 0, errors.New("mod by zero")
	}
	return ns[0] % ns[1], nil
}

func (l lib) max(a any, rest ...any) (int64, error) {
	ns, err := l.ints("max", append([]any{a}, rest...))
	if err != nil {
		return 0, err
	}
	return slices.Max(ns), nil
}

func (l lib) min(a any, rest ...any) (int64, error) {
	ns, err := l.ints("min", append([]any{a}, rest...))
	if err != nil {
		return 0, err
	}
	return slices.Min(ns), nil
}

func (l lib) toInt64(v any) (int64, error) {
	ns, err := l.ints("int64", []any{v})
	if err != nil {
		return 0, err
	}
	return ns[0], nil
}

func (l lib) toInt(v any) (int, error) {
	ns, err := l.ints("int", []any{v})
	if err != nil {
		return 0, err
	}
	return int(ns[0]), nil
}

// atoi fails on what is not a decimal integer (Sprig's returned 0).
func (l lib) atoi(s string) (int, error) {
	if err := l.b.step(); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("atoi expects a decimal integer, got %q", truncated(s))
	}
	return n, nil
}

// lists

// listCost is what a list of n elements allocates (Go rounds to its size classes).
func listCost(n int) int64 { return 18*int64(n) + 32 }

func (l lib) newList(fn string, n int) ([]any, error) {
	if n > MaxValueNodes {
		return nil, limitErrorf(LimitValue, "the result of %s is larger than allowed: %v", fn, errTooManyNodes)
	}
	if err := l.b.charge(fn, listCost(n)); err != nil {
		return nil, err
	}
	return make([]any, 0, n), nil
}

func (l lib) list(items ...any) ([]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	out, err := l.newList("list", len(items))
	if err != nil {
		return nil, err
	}
	out = append(out, items...)
	return out, l.made("list", out)
}

// append is Sprig's: a new list, the list and then v.
func (l lib) append(list, v any) ([]any, error) {
	return l.withOne("append", list, v, false)
}

func (l lib) prepend(list, v any) ([]any, error) {
	return l.withOne("prepend", list, v, true)
}

func (l lib) withOne(fn string, list, v any, first bool) ([]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	items, err := l.listOf(fn, list)
	if err != nil {
		return nil, err
	}
	out, err := l.newList(fn, len(items)+1)
	if err != nil {
		return nil, err
	}
	if first {
		out = append(append(out, v), items...)
	} else {
		out = append(append(out, items...), v)
	}
	return out, l.made(fn, out)
}

func (l lib) concat(lists ...any) ([]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	var all [][]any
	n := 0
	for _, list := range lists {
		items, err := l.listOf("concat", list)
		if err != nil {
			return nil, err
		}
		all = append(all, items)
		n += len(items)
	}
	out, err := l.newList("concat", n)
	if err != nil {
		return nil, err
	}
	for _, items := range all {
		out = append(out, items...)
	}
	return out, l.made("concat", out)
}

// first and last are nil for an empty list.
func (l lib) first(list any) (any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("first expects a list, got %s", typeName(list))
	}
	if rv.Len() == 0 {
		return nil, nil
	}
	return rv.Index(0).Interface(), nil
}

func (l lib) last(list any) (any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("last expects a list, got %s", typeName(list))
	}
	if rv.Len() == 0 {
		return nil, nil
	}
	return rv.Index(rv.Len() - 1).Interface(), nil
}

// keyed is the comparable keys of a list's elements.
func (l lib) keyed(fn string, list any) ([]any, []any, error) {
	items, err := l.listOf(fn, list)
	if err != nil {
		return nil, nil, err
	}
	if err := l.b.charge(fn, 16*int64(len(items))); err != nil {
		return nil, nil, err
	}
	keys := make([]any, len(items))
	for i, item := range items {
		if keys[i], err = comparableKey(fn, item); err != nil {
			return nil, nil, err
		}
	}
	return items, keys, nil
}

func (l lib) has(needle, list any) (bool, error) {
	if err := l.b.step(); err != nil {
		return false, err
	}
	want, err := comparableKey("has", needle)
	if err != nil {
		return false, err
	}
	_, keys, err := l.keyed("has", list)
	return slices.Contains(keys, want), err
}

// uniq keeps the first of equal elements, in order.
func (l lib) uniq(list any) ([]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	items, keys, err := l.keyed("uniq", list)
	if err != nil {
		return nil, err
	}
	if err := l.b.charge("uniq", 48*int64(len(items))); err != nil {
		return nil, err
	}
	seen := make(map[any]bool, len(items))
	out, err := l.newList("uniq", len(items))
	if err != nil {
		return nil, err
	}
	for i, key := range keys {
		if !seen[key] {
			seen[key] = true
			out = append(out, items[i])
		}
	}
	return out, nil
}

func (l lib) without(list any, omit ...any) ([]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	items, keys, err := l.keyed("without", list)
	if err != nil {
		return nil, err
	}
	_, omitted, err := l.keyed("without", omit)
	if err != nil {
		return nil, err
	}
	out, err := l.newList("without", len(items))
	if err != nil {
		return nil, err
	}
	for i, key := range keys {
		if !slices.Contains(omitted, key) {
			out = append(out, items[i])
		}
	}
	return out, nil
}

// sortAlpha is Sprig's: the elements as strings, sorted.
func (l lib) sortAlpha(list any) ([]string, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	items, err := l.listOf("sortAlpha", list)
	if err != nil {
		return nil, err
	}
	out, err := l.stringsOf("sortAlpha", items)
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// rangeLength is how many of start, start+step, ... lie before stop (Sprig's untilStep),
// without overflowing.
func rangeLength(start, stop, step int) uint64 {
	switch {
	case stop > start && step > 0:
		span := uint64(stop) - uint64(start)
		n := span / uint64(step)
		if span%uint64(step) != 0 {
			n++
		}
		return n
	case stop < start && step < 0:
		span := uint64(start) - uint64(stop)
		stride := uint64(-(step + 1)) + 1 // -step, also for math.MinInt
		n := span / stride
		if span%stride != 0 {
			n++
		}
		return n
	}
	return 0
}

func (l lib) ints2list(fn string, start, stop, step int) ([]int, error) {
	n := rangeLength(start, stop, step)
	if n > MaxListLength {
		return nil, tooLong(fn)
	}
	if err := l.b.charge(fn, 8*int64(n)+24); err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out, nil
}

// until is Sprig's: 0, 1, ... count-1 (or down to count+1 for a negative count).
func (l lib) until(count int) ([]int, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	step := 1
	if count < 0 {
		step = -1
	}
	return l.ints2list("until", 0, count, step)
}

func (l lib) untilStep(start, stop, step int) ([]int, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	return l.ints2list("untilStep", start, stop, step)
}

// seq is Sprig's (and the shell's): seq END, seq START END, seq START STEP END, counting
// from 1 and including END, as a string of numbers separated by spaces.
func (l lib) seq(params ...int) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	var start, end, step int
	switch len(params) {
	case 1:
		start, end, step = 1, params[0], 1
	case 2:
		start, end, step = params[0], params[1], 1
	case 3:
		start, step, end = params[0], params[1], params[2]
		if end < start && step > 0 {
			return "", nil
		}
	default:
		return "", nil
	}
	if len(params) < 3 && end < start {
		step = -1
	}
	stop := end + 1
	if end < start {
		stop = end - 1
	}
	if (end == math.MaxInt && stop < end) || (end == math.MinInt && stop > end) {
		return "", tooLong("seq")
	}
	n := rangeLength(start, stop, step)
	if n > MaxListLength {
		return "", tooLong("seq")
	}
	if err := l.b.produce("seq", 21*int64(n)); err != nil {
		return "", err
	}
	var b strings.Builder
	for i := range int(n) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(start + i*step))
	}
	return b.String(), nil
}

// dicts

func (l lib) newDict(fn string, n int) (map[string]any, error) {
	if n > MaxValueNodes {
		return nil, limitErrorf(LimitValue, "the result of %s is larger than allowed: %v", fn, errTooManyNodes)
	}
	if err := l.b.charge(fn, 64*int64(n)+64); err != nil {
		return nil, err
	}
	return make(map[string]any, n), nil
}

// dict is Sprig's: keys and values alternating, keys as strings; a key without a value
// gets "".
func (l lib) dict(pairs ...any) (map[string]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	d, err := l.newDict("dict", (len(pairs)+1)/2)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(pairs); i += 2 {
		key, err := l.strval("dict", pairs[i])
		if err != nil {
			return nil, err
		}
		if i+1 < len(pairs) {
			d[key] = pairs[i+1]
		} else {
			d[key] = ""
		}
	}
	return d, l.made("dict", d)
}

// get is Sprig's: "" for a missing key.
func (l lib) get(d map[string]any, key string) (any, error) {
	if v, ok := d[key]; ok {
		return v, l.b.step()
	}
	return "", l.b.step()
}

// set changes d and returns it. What it sets must be within the limits, and so a dict
// cannot be set into itself (it would contain itself).
func (l lib) set(d map[string]any, key string, value any) (map[string]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	if d == nil {
		return nil, errors.New("set expects a dict, got nothing")
	}
	if err := l.b.charge("set", 64); err != nil {
		return nil, err
	}
	d[key] = value
	if _, err := l.b.measure("the value of set is", value); err != nil {
		return nil, err
	}
	return d, nil
}

func (l lib) unset(d map[string]any, key string) (map[string]any, error) {
	delete(d, key)
	return d, l.b.step()
}

func (l lib) hasKey(d map[string]any, key string) (bool, error) {
	_, ok := d[key]
	return ok, l.b.step()
}

// keys are the keys of the dicts, sorted (Sprig's came in random order).
func (l lib) keys(dicts ...map[string]any) ([]string, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	n := 0
	for _, d := range dicts {
		n += len(d)
	}
	if err := l.b.charge("keys", 16*int64(n)); err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for _, d := range dicts {
		out = slices.AppendSeq(out, maps.Keys(d))
	}
	slices.Sort(out)
	return out, nil
}

// values are the values of d, in the order of its keys (Sprig's came in random order).
func (l lib) values(d map[string]any) ([]any, error) {
	keys, err := l.keys(d)
	if err != nil {
		return nil, err
	}
	out, err := l.newList("values", len(keys))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		out = append(out, d[k])
	}
	return out, nil
}

func (l lib) pick(d map[string]any, keys ...string) (map[string]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	out, err := l.newDict("pick", len(keys))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if v, ok := d[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

func (l lib) omit(d map[string]any, keys ...string) (map[string]any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	out, err := l.newDict("omit", len(d))
	if err != nil {
		return nil, err
	}
	for k, v := range d {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out, nil
}

// dig is Sprig's: dig "a" "b" DEFAULT DICT is DICT.a.b, or DEFAULT when a key is missing.
func (l lib) dig(args ...any) (any, error) {
	if err := l.b.step(); err != nil {
		return nil, err
	}
	if len(args) < 3 {
		return nil, fmt.Errorf("dig expects keys, a default and a dict, got %d arguments", len(args))
	}
	current, ok := args[len(args)-1].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("dig expects a dict last, got %s", typeName(args[len(args)-1]))
	}
	fallback := args[len(args)-2]
	keys := args[:len(args)-2]
	for i, k := range keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("dig expects string keys, got %s", typeName(k))
		}
		v, found := current[key]
		if !found {
			return fallback, nil
		}
		if i == len(keys)-1 {
			return v, nil
		}
		if current, ok = v.(map[string]any); !ok {
			return nil, fmt.Errorf("dig: %s is a %s, not a dict", key, typeName(v))
		}
	}
	return fallback, nil
}

// dates: in UTC, so that a render does not depend on the manager's time zone

// maxLayout bounds a date layout; a formatted date is at most three times its layout.
const maxLayout = 256

func (l lib) toDate(layout, value string) (time.Time, error) {
	if err := l.b.step(); err != nil {
		return time.Time{}, err
	}
	if len(layout) > maxLayout {
		return time.Time{}, fmt.Errorf("toDate: the layout is longer than %d bytes", maxLayout)
	}
	t, err := time.ParseInLocation(layout, value, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("toDate: %w", err)
	}
	return t, nil
}

// date formats a time, seconds since the epoch, or an RFC 3339 string (such as an
// Associate's .spec.updated) with a Go layout, in UTC.
func (l lib) date(layout string, value any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	if len(layout) > maxLayout {
		return "", fmt.Errorf("date: the layout is longer than %d bytes", maxLayout)
	}
	t, err := toTime(value)
	if err != nil {
		return "", err
	}
	if err := l.b.produce("date", 3*int64(len(layout))+16); err != nil {
		return "", err
	}
	return t.UTC().Format(layout), nil
}

func toTime(value any) (time.Time, error) {
	switch v := value.(type) {
	case time.Time:
		return v, nil
	case *time.Time:
		if v != nil {
			return *v, nil
		}
	case int:
		return time.Unix(int64(v), 0), nil
	case int64:
		return time.Unix(v, 0), nil
	case int32:
		return time.Unix(int64(v), 0), nil
	case string:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("date expects a time, seconds or an RFC 3339 string: %w", err)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("date expects a time, seconds or an RFC 3339 string, got %s", typeName(value))
}

func (l lib) unixEpoch(value any) (string, error) {
	if err := l.b.step(); err != nil {
		return "", err
	}
	t, err := toTime(value)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(t.Unix(), 10), nil
}
