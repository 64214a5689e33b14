package ingress

import "strings"

// scanEvent decodes the plain form of an event, the form SuperOffice sends, in one pass
// without reflection: encoding/json spent most of a delivery's CPU time here. It returns
// nil when the body holds anything else (escapes or non-ASCII in a decoded string, null,
// a string where a number goes, a known key in another case or repeated, invalid JSON,
// deep nesting); decodeEvent then uses encoding/json, whose result it would equal
// (FuzzScanEventAgreesWithEncodingJSON checks that).
func scanEvent(body []byte) *Event {
	st := &eventStorage{jsonScanner: jsonScanner{data: body}}
	if !st.object(st.eventField) {
		return nil
	}
	st.space()
	if st.pos != len(st.data) {
		return nil
	}
	st.materialize()
	return &st.ev
}

// eventStorage holds an event and everything its pointers point to, so that one
// allocation serves a whole delivery; its strings share one backing string.
type eventStorage struct {
	jsonScanner
	ev      Event
	fv      FieldValues
	values  Values
	ints    [8]flexInt
	nInts   int
	bools   [2]flexBool
	nBools  int
	updated string
	spans   [6]stringSpan
	nSpans  int
	seen    uint32 // keys already decoded: a repeated key is left to encoding/json
}

// stringSpan is a string of the body to copy into target once the scan succeeded.
type stringSpan struct {
	start, end int
	target     *string
}

// Bits of eventStorage.seen, one per key.
const (
	seenEventID uint32 = 1 << iota
	seenTimestamp
	seenEvent
	seenEntity
	seenPrimaryKey
	seenContextIdentifier
	seenChangedBy
	seenFieldValues
	seenValues
	seenDeleted
	seenGroupIdx
	seenFVPersonID
	seenRegistered
	seenType
	seenUpdated
	seenUpdatedBy
	seenWaiting
	seenAssociateID
	seenValuesPersonID
)

// The keys each object decodes; encoding/json also matches them in any case, which the
// scanner leaves to it.
var (
	eventKeys       = []string{"EventId", "Timestamp", "Event", "Entity", "PrimaryKey", "ContextIdentifier", "ChangedByAssociateId", "FieldValues", "Values"}
	fieldValuesKeys = []string{"deleted", "group_idx", "person_id", "registered_associate_id", "type", "updated", "updated_associate_id", "waiting_for_approval"}
	valuesKeys      = []string{"associate_id", "person_id"}
)

func (st *eventStorage) eventField(key []byte) bool {
	switch string(key) {
	case "EventId":
		return st.once(seenEventID) && st.str(&st.ev.EventID)
	case "Timestamp":
		return st.once(seenTimestamp) && st.str(&st.ev.Timestamp)
	case "Event":
		return st.once(seenEvent) && st.str(&st.ev.Event)
	case "Entity":
		return st.once(seenEntity) && st.str(&st.ev.Entity)
	case "ContextIdentifier":
		return st.once(seenContextIdentifier) && st.str(&st.ev.ContextIdentifier)
	case "PrimaryKey":
		return st.once(seenPrimaryKey) && st.intPtr(&st.ev.PrimaryKey)
	case "ChangedByAssociateId":
		v, ok := st.integer()
		st.ev.ChangedByAssociateID = flexInt(v)
		return ok && st.once(seenChangedBy)
	case "FieldValues":
		st.ev.FieldValues = &st.fv
		return st.once(seenFieldValues) && st.object(st.fieldValuesField)
	case "Values":
		st.ev.Values = &st.values
		return st.once(seenValues) && st.object(st.valuesField)
	}
	return !foldsToAny(key, eventKeys) && st.skipValue(0)
}

func (st *eventStorage) fieldValuesField(key []byte) bool {
	fv := &st.fv
	switch string(key) {
	case "deleted":
		return st.once(seenDeleted) && st.boolPtr(&fv.Deleted)
	case "group_idx":
		return st.once(seenGroupIdx) && st.intPtr(&fv.GroupIdx)
	case "person_id":
		return st.once(seenFVPersonID) && st.intPtr(&fv.PersonID)
	case "registered_associate_id":
		return st.once(seenRegistered) && st.intPtr(&fv.RegisteredAssociateID)
	case "type":
		return st.once(seenType) && st.intPtr(&fv.Type)
	case "updated":
		fv.Updated = &st.updated
		return st.once(seenUpdated) && st.str(&st.updated)
	case "updated_associate_id":
		return st.once(seenUpdatedBy) && st.intPtr(&fv.UpdatedAssociateID)
	case "waiting_for_approval":
		return st.once(seenWaiting) && st.boolPtr(&fv.WaitingForApproval)
	}
	return !foldsToAny(key, fieldValuesKeys) && st.skipValue(0)
}

func (st *eventStorage) valuesField(key []byte) bool {
	switch string(key) {
	case "associate_id":
		return st.once(seenAssociateID) && st.intPtr(&st.values.AssociateID)
	case "person_id":
		return st.once(seenValuesPersonID) && st.intPtr(&st.values.PersonID)
	}
	return !foldsToAny(key, valuesKeys) && st.skipValue(0)
}

// once marks a key as seen and reports whether it was new.
func (st *eventStorage) once(bit uint32) bool {
	if st.seen&bit != 0 {
		return false
	}
	st.seen |= bit
	return true
}

// str records a plain string for target.
func (st *eventStorage) str(target *string) bool {
	start, end, ok := st.plainString()
	if !ok {
		return false
	}
	st.spans[st.nSpans] = stringSpan{start: start, end: end, target: target}
	st.nSpans++
	return true
}

func (st *eventStorage) intPtr(target **flexInt) bool {
	v, ok := st.integer()
	if !ok {
		return false
	}
	p := &st.ints[st.nInts]
	st.nInts++
	*p = flexInt(v)
	*target = p
	return true
}

// boolPtr takes true, false, 0 or 1, as flexBool does.
func (st *eventStorage) boolPtr(target **flexBool) bool {
	var v bool
	switch {
	case st.literal("true"):
		v = true
	case st.literal("false"), st.literal("0"):
		v = false
	case st.literal("1"):
		v = true
	default:
		return false
	}
	p := &st.bools[st.nBools]
	st.nBools++
	*p = flexBool(v)
	*target = p
	return true
}

// materialize copies the recorded strings into one string and points the fields at it.
func (st *eventStorage) materialize() {
	total := 0
	for _, sp := range st.spans[:st.nSpans] {
		total += sp.end - sp.start
	}
	var b strings.Builder
	b.Grow(total)
	for _, sp := range st.spans[:st.nSpans] {
		b.Write(st.data[sp.start:sp.end])
	}
	all, at := b.String(), 0
	for _, sp := range st.spans[:st.nSpans] {
		n := sp.end - sp.start
		*sp.target = all[at : at+n]
		at += n
	}
	st.data = nil // the event must not keep the body alive
}

// foldsToAny: encoding/json would match key to one of names case-insensitively (keys
// reaching here are ASCII, so ASCII folding is the whole story).
func foldsToAny(key []byte, names []string) bool {
	for _, name := range names {
		if len(key) == len(name) && strings.EqualFold(string(key), name) {
			return true
		}
	}
	return false
}
