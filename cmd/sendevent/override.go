package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"
)

// overrides are the fields of an event that flags replace; nil leaves a field as sent.
type overrides struct {
	tenant     *string // ContextIdentifier
	primaryKey *int64  // PrimaryKey, and Values.associate_id where the payload carries it
	eventID    *string // EventId
	timestamp  *string // Timestamp
}

// overrideFlags are the flags that replace fields of the event.
type overrideFlags struct {
	tenant, eventID, timestamp *string
	primaryKey                 *int64
}

func addOverrideFlags(fs *flag.FlagSet) overrideFlags {
	return overrideFlags{
		tenant:     fs.String("tenant", "", "replace the event's ContextIdentifier (the tenant, e.g. Cust1234)"),
		primaryKey: fs.Int64("primary-key", 0, "replace the event's PrimaryKey (the associate id; also Values.associate_id of associate.deleted)"),
		eventID:    fs.String("event-id", "", "replace the event's EventId (a resend with the same EventId is a duplicate)"),
		timestamp:  fs.String("timestamp", "", "replace the event's Timestamp: an RFC 3339 time, or now (an event older than the last one applied is stale)"),
	}
}

// overrides reads the flags that were set on the command line, and only those.
func (f overrideFlags) overrides(fs *flag.FlagSet, now time.Time) (overrides, error) {
	var o overrides
	var errs []error
	fs.Visit(func(set *flag.Flag) {
		switch set.Name {
		case "tenant":
			o.tenant = f.tenant
		case "primary-key":
			if *f.primaryKey < 1 {
				errs = append(errs, fmt.Errorf("--primary-key %d: an associate id is at least 1", *f.primaryKey))
			}
			o.primaryKey = f.primaryKey
		case "event-id":
			if *f.eventID == "" {
				errs = append(errs, errors.New("--event-id is empty: the ingress refuses an event without EventId"))
			}
			o.eventID = f.eventID
		case "timestamp":
			ts, err := parseTimestamp(*f.timestamp, now)
			if err != nil {
				errs = append(errs, err)
			}
			o.timestamp = &ts
		}
	})
	return o, errors.Join(errs...)
}

// superOfficeTimestamp is how SuperOffice writes Timestamp: UTC, seven fractional digits.
const superOfficeTimestamp = "2006-01-02T15:04:05.0000000Z"

// parseTimestamp accepts "now" or an RFC 3339 time and returns it as the payload will say it.
func parseTimestamp(value string, now time.Time) (string, error) {
	if value == "now" {
		return now.UTC().Format(superOfficeTimestamp), nil
	}
	if _, err := time.Parse(time.RFC3339Nano, value); err != nil {
		return "", fmt.Errorf("--timestamp %q is neither now nor an RFC 3339 time such as 2026-11-26T12:00:00Z", value)
	}
	return value, nil
}

// apply returns body with the overridden fields' values replaced in place: every other
// byte, key order and spacing included, stays as it was. A field the body lacks is added
// at the end of the object.
func (o overrides) apply(body []byte) ([]byte, error) {
	top := map[string]any{}
	if o.tenant != nil {
		top["ContextIdentifier"] = *o.tenant
	}
	if o.eventID != nil {
		top["EventId"] = *o.eventID
	}
	if o.timestamp != nil {
		top["Timestamp"] = *o.timestamp
	}
	if o.primaryKey != nil {
		top["PrimaryKey"] = *o.primaryKey
	}
	out, err := setMembers(body, top, true)
	if err != nil || o.primaryKey == nil {
		return out, err
	}
	// associate.deleted repeats the id in Values.associate_id; SuperOffice never sends two
	// ids that disagree.
	spans, _, err := memberSpans(out)
	if err != nil {
		return nil, err
	}
	for _, m := range spans {
		if m.key != "Values" || out[m.start] != '{' {
			continue
		}
		values, err := setMembers(out[m.start:m.end], map[string]any{"associate_id": *o.primaryKey}, false)
		if err != nil {
			return nil, err
		}
		return slices.Concat(out[:m.start], values, out[m.end:]), nil
	}
	return out, nil
}

// member is where one member's value lies in the bytes of its object.
type member struct {
	key        string
	start, end int
}

// memberSpans lists the members of a JSON object and the offset of its closing brace.
func memberSpans(object []byte) ([]member, int, error) {
	dec := json.NewDecoder(bytes.NewReader(object))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, 0, errors.New("the event is not a JSON object")
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, fmt.Errorf("the event is not valid JSON: %w", err)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, 0, fmt.Errorf("the event is not valid JSON: %w", err)
		}
		end := int(dec.InputOffset())
		members = append(members, member{key: tok.(string), start: end - len(value), end: end})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, 0, errors.New("the event is not a complete JSON object")
	}
	closing := int(dec.InputOffset()) - 1
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, errors.New("the event holds more than one JSON value")
	}
	return members, closing, nil
}

// setMembers replaces the values of the object's members named in values; with add, a
// member the object lacks is appended before its closing brace.
func setMembers(object []byte, values map[string]any, add bool) ([]byte, error) {
	members, closing, err := memberSpans(object)
	if err != nil {
		return nil, err
	}
	var out []byte
	last, seen := 0, map[string]bool{}
	for _, m := range members {
		value, ok := values[m.key]
		if !ok {
			continue
		}
		encoded, err := json.Marshal(value)
		if err != nil {
			return nil, err
		}
		out = slices.Concat(out, object[last:m.start], encoded)
		last, seen[m.key] = m.end, true
	}
	out = append(out, object[last:closing]...)
	if add {
		keys := make([]string, 0, len(values))
		for key := range values {
			if !seen[key] {
				keys = append(keys, key)
			}
		}
		slices.Sort(keys)
		for i, key := range keys {
			encoded, err := json.Marshal(values[key])
			if err != nil {
				return nil, err
			}
			if len(members) > 0 || i > 0 {
				out = append(out, ',')
			}
			name, _ := json.Marshal(key)
			out = slices.Concat(out, name, []byte(":"), encoded)
		}
	}
	return append(out, object[closing:]...), nil
}
