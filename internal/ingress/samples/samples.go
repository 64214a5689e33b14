// Package samples embeds SuperOffice's four documented webhook payloads, byte for byte as
// in ../shared/superoffice/events, for cmd/sendevent and the tests.
package samples

import (
	"embed"
	"fmt"
)

//go:embed events/*.json
var events embed.FS

// Names of the embedded payloads, as accepted by Payload.
var Names = []string{"created", "changed", "deleted", "test"}

// Payload returns the documented payload for "created", "changed", "deleted" or "test".
func Payload(name string) ([]byte, error) {
	file := map[string]string{
		"created": "associate.created.json",
		"changed": "associate.changed.json",
		"deleted": "associate.deleted.json",
		"test":    "test.json",
	}[name]
	if file == "" {
		return nil, fmt.Errorf("no documented payload %q: want one of %v", name, Names)
	}
	return events.ReadFile("events/" + file)
}

// MustPayload is Payload for tests and fixed names.
func MustPayload(name string) []byte {
	body, err := Payload(name)
	if err != nil {
		panic(err)
	}
	return body
}
