package ingress

// jsonScanner reads the JSON subset scanEvent accepts; every method reports false on
// anything outside it, and the caller then falls back to encoding/json.
type jsonScanner struct {
	data []byte
	pos  int
}

// maxSkipDepth bounds the nesting of values the scanner skips.
const maxSkipDepth = 32

func (s *jsonScanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(c byte) bool {
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// literal consumes word if it comes next; the caller's delimiter check refuses "truex".
func (s *jsonScanner) literal(word string) bool {
	s.space()
	if len(s.data)-s.pos >= len(word) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// object calls field for every key, positioned at the value, which field must consume.
func (s *jsonScanner) object(field func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		s.space()
		start, end, ok := s.plainString()
		if !ok || !s.consume(':') {
			return false
		}
		s.space()
		if !field(s.data[start:end]) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// plainString reads a string of printable ASCII without escapes and returns the bounds
// of its contents: exactly the bytes encoding/json would decode it to.
func (s *jsonScanner) plainString() (start, end int, ok bool) {
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return 0, 0, false
	}
	start = s.pos + 1
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			return start, i, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// integer reads -?(0|[1-9][0-9]*) of at most 18 digits, which int64 always holds; a
// fraction or exponent is left for the caller's delimiter check to refuse.
func (s *jsonScanner) integer() (int64, bool) {
	s.space()
	i, neg := s.pos, false
	if i < len(s.data) && s.data[i] == '-' {
		neg = true
		i++
	}
	first := i
	var v int64
	for i < len(s.data) && '0' <= s.data[i] && s.data[i] <= '9' {
		v = v*10 + int64(s.data[i]-'0')
		i++
	}
	digits := i - first
	if digits == 0 || digits > 18 || (digits > 1 && s.data[first] == '0') {
		return 0, false
	}
	s.pos = i
	if neg {
		v = -v
	}
	return v, true
}

// skipValue consumes any valid JSON value, refusing nesting deeper than maxSkipDepth.
func (s *jsonScanner) skipValue(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	s.space()
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		return s.skipString()
	case c == '{':
		return s.object(func([]byte) bool { return s.skipValue(depth + 1) })
	case c == '[':
		s.pos++
		if s.consume(']') {
			return true
		}
		for {
			if !s.skipValue(depth + 1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume(']')
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.skipNumber()
	}
	return false
}

// skipString consumes a string with any valid escapes; bytes from 0x20 up pass, as in
// encoding/json's validity check.
func (s *jsonScanner) skipString() bool {
	i := s.pos + 1
	for i < len(s.data) {
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if i+1 >= len(s.data) {
				return false
			}
			switch s.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s.data) {
					return false
				}
				for _, h := range s.data[i+2 : i+6] {
					if !isHex(h) {
						return false
					}
				}
				i += 6
			default:
				return false
			}
		default:
			i++
		}
	}
	return false
}

// skipNumber consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *jsonScanner) skipNumber() bool {
	i := s.pos
	if s.data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s.data) && '0' <= s.data[i] && s.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s.data) && s.data[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s.data) && s.data[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s.data) && (s.data[i] == 'e' || s.data[i] == 'E') {
		i++
		if i < len(s.data) && (s.data[i] == '+' || s.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.pos = i
	return true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
