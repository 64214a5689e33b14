package render

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
)

// size is what walking a value found, shared parts counted each time they are reached
// (as printing or encoding the value would reach them).
type size struct {
	// nodes counts every value, dict key and element.
	nodes int64
	// strBytes is the bytes of the strings (dict keys included).
	strBytes int64
	// printed bounds the length of the value printed with fmt's %v.
	printed int64
}

// reflectNodeCost is charged for each node walked with reflect (its values allocate).
const reflectNodeCost = 64

// measure walks v and fails (what, "the argument of toJson is", starts the message), without allocating for the kinds of value templates make,
// once it holds more than MaxValueNodes elements, MaxOutputBytes of strings or nests
// deeper than MaxValueDepth (a value that contains itself does).
func (b *budget) measure(what string, v any) (size, error) {
	m := measurer{b: b}
	if err := m.walk(v, 0); err != nil {
		if le := (*LimitError)(nil); errors.As(err, &le) {
			return size{}, err // the allocation budget ran out while measuring
		}
		return size{}, limitErrorf(LimitValue, "%s larger than allowed: %v", what, err)
	}
	return m.size, nil
}

type measurer struct {
	b *budget
	size
}

var (
	errTooManyNodes = fmt.Errorf("more than %d elements", MaxValueNodes)
	errTooDeep      = fmt.Errorf("nested more than %d levels deep (or containing itself)", MaxValueDepth)
	errTooManyBytes = fmt.Errorf("more than %d bytes of strings", MaxOutputBytes)
)

func (m *measurer) node(printed int64) error {
	m.nodes++
	m.printed += printed
	if m.nodes > MaxValueNodes {
		return errTooManyNodes
	}
	return nil
}

func (m *measurer) str(s string) error {
	m.strBytes += int64(len(s))
	m.printed += int64(len(s))
	if m.strBytes > MaxOutputBytes {
		return errTooManyBytes
	}
	return nil
}

func (m *measurer) walk(v any, depth int) error {
	if depth > MaxValueDepth {
		return errTooDeep
	}
	switch x := v.(type) {
	case string:
		if err := m.node(0); err != nil {
			return err
		}
		return m.str(x)
	case []byte:
		if err := m.node(4 * int64(len(x))); err != nil { // printed as [1 2 3]
			return err
		}
		m.strBytes += int64(len(x))
		if m.strBytes > MaxOutputBytes {
			return errTooManyBytes
		}
		return nil
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr, float32, float64:
		return m.node(scalarWidth(x))
	case time.Time:
		return m.node(64)
	case []any:
		if err := m.node(2); err != nil {
			return err
		}
		for _, e := range x {
			m.printed++
			if err := m.walk(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if err := m.node(5); err != nil {
			return err
		}
		for k, e := range x {
			if err := m.node(2); err != nil {
				return err
			}
			if err := m.str(k); err != nil {
				return err
			}
			if err := m.walk(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []string:
		if err := m.node(2); err != nil {
			return err
		}
		for _, s := range x {
			if err := m.node(1); err != nil {
				return err
			}
			if err := m.str(s); err != nil {
				return err
			}
		}
		return nil
	case []int:
		if err := m.node(2); err != nil {
			return err
		}
		for _, n := range x {
			if err := m.node(1 + scalarWidth(n)); err != nil {
				return err
			}
		}
		return nil
	case map[string]string:
		if err := m.node(5); err != nil {
			return err
		}
		for k, s := range x {
			if err := m.node(2); err != nil {
				return err
			}
			if err := m.str(k); err != nil {
				return err
			}
			if err := m.str(s); err != nil {
				return err
			}
		}
		return nil
	}
	return m.walkReflect(reflect.ValueOf(v), depth)
}

// walkReflect measures the kinds the type switch does not know (the data's structs,
// typed maps and slices), charging the allocations reflect makes.
func (m *measurer) walkReflect(v reflect.Value, depth int) error {
	if depth > MaxValueDepth {
		return errTooDeep
	}
	if err := m.b.charge("measuring a value", reflectNodeCost); err != nil {
		return err
	}
	switch v.Kind() {
	case reflect.Invalid:
		return m.node(5)
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return m.node(5)
		}
		if v.Type() == reflect.TypeFor[*time.Time]() {
			return m.node(64)
		}
		m.printed++ // &
		return m.walkAny(v.Elem(), depth+1)
	case reflect.String:
		if err := m.node(0); err != nil {
			return err
		}
		return m.str(v.String())
	case reflect.Slice, reflect.Array:
		if err := m.node(2); err != nil {
			return err
		}
		for i := range v.Len() {
			m.printed++
			if err := m.walkAny(v.Index(i), depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if err := m.node(5); err != nil {
			return err
		}
		for it := v.MapRange(); it.Next(); {
			if err := m.b.charge("measuring a value", reflectNodeCost); err != nil {
				return err
			}
			if err := m.node(2); err != nil {
				return err
			}
			if err := m.walkAny(it.Key(), depth+1); err != nil {
				return err
			}
			if err := m.walkAny(it.Value(), depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
		if err := m.node(2); err != nil {
			return err
		}
		for i := range v.NumField() {
			m.printed++
			if !v.Type().Field(i).IsExported() {
				// fmt prints unexported fields too; count them as opaque scalars.
				if err := m.node(64); err != nil {
					return err
				}
				continue
			}
			if err := m.walkAny(v.Field(i), depth+1); err != nil {
				return err
			}
		}
		return nil
	default: // numbers, bools, funcs, channels: printed as at most a pointer or a number
		return m.node(64)
	}
}

// walkAny goes back to the allocation-free type switch where it can.
func (m *measurer) walkAny(v reflect.Value, depth int) error {
	if v.IsValid() && v.CanInterface() {
		return m.walk(v.Interface(), depth)
	}
	return m.walkReflect(v, depth)
}

// scalarWidth bounds the %v width of a scalar.
func scalarWidth(v any) int64 {
	switch x := v.(type) {
	case nil:
		return int64(len("<nil>"))
	case bool:
		return 5
	case int:
		return decimalWidth(int64(x))
	case int64:
		return decimalWidth(x)
	case int32:
		return decimalWidth(int64(x))
	}
	return 24 // the longest float64 or uint64
}

func decimalWidth(n int64) int64 {
	var buf [24]byte
	return int64(len(strconv.AppendInt(buf[:0], n, 10)))
}

// quotedLen is len(strconv.Quote(s)), computed without making it.
func quotedLen(s string) int64 {
	n := int64(2)
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		i += width
		switch {
		case r == utf8.RuneError && width == 1:
			n += 4 // \xff
		case r == '"' || r == '\\':
			n += 2
		case r < utf8.RuneSelf && strconv.IsPrint(r):
			n++
		case r >= utf8.RuneSelf && strconv.IsPrint(r):
			n += int64(width)
		case r == '\a' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t' || r == '\v':
			n += 2
		case r < ' ' || r == 0x7f:
			n += 4 // \x00
		case r < 0x10000:
			n += 6 // \u00ad
		default:
			n += 10 // \U000e0001
		}
	}
	return n
}
