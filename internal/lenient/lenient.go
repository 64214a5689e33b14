// Package lenient reads the numbers and booleans SuperOffice sends in more than one form:
// its webhook payloads and REST archives are not consistent (42, "42", "[I:42]"; true,
// 1, "1", "[B:1]"). The ingress's payloads and the REST client both read them here.
package lenient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Int reads 42, 42.0, "42" or "[I:42]"; absent, null and "" are not present.
func Int(raw []byte) (int64, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false, fmt.Errorf("expected an integer or a string, got %s", truncate(string(raw)))
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return 0, false, nil
		}
		if inner, ok := strings.CutPrefix(s, "[I:"); ok {
			s = strings.TrimSuffix(inner, "]")
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) {
		return 0, false, fmt.Errorf("expected an integer, got %q", truncate(s))
	}
	return int64(f), true, nil
}

// Bool reads true, 1, "true", "1", "[B:1]" and their false forms; absent, null and ""
// are not present.
func Bool(raw []byte) (bool, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return false, false, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return false, false, fmt.Errorf("expected a boolean, got %s", truncate(string(raw)))
		}
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "[b:1]", "[b:true]":
		return true, true, nil
	case "false", "0", "[b:0]", "[b:false]":
		return false, true, nil
	case "":
		return false, false, nil
	}
	return false, false, fmt.Errorf("expected a boolean (true, false, 0 or 1), got %s", truncate(string(raw)))
}

// quotedLength is how much of a value an error message quotes.
const quotedLength = 40

func truncate(s string) string {
	if len(s) <= quotedLength {
		return s
	}
	return s[:quotedLength] + "..."
}
