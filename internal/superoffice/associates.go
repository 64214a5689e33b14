package superoffice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/assocsync/associate-operator/internal/lenient"
)

// The columns the listing selects, in the archive's camelCase.
const allUsersSelect = "associateDbId,personId,usergroupId,assocType,isActive"

// maxListPages bounds one listing (10 million rows at the documented page size).
const maxListPages = 10000

// AssociateRow is one row of the Archive/AllUsers listing.
type AssociateRow struct {
	AssociateID int64
	PersonID    int64
	GroupID     int64
	// TypeCode is the database type (0 Employee, 1 Resource, 4 ExternalPerson, 7 Anonymous,
	// 13 System); HasType is false when the listing did not carry it.
	TypeCode int32
	HasType  bool
	// Retired is !isActive; HasActive is false when the listing did not carry it.
	Retired   bool
	HasActive bool
}

// ListAssociates pages through every associate, ordered by id, until a short page. Any
// failure returns an error and no rows: a caller must never act on a partial listing.
func (c *Client) ListAssociates(ctx context.Context) ([]AssociateRow, error) {
	var rows []AssociateRow
	for page, skip := 0, 0; ; page++ {
		if page >= maxListPages {
			return nil, fmt.Errorf("superoffice tenant %s: list associates: expected a short page within %d pages of %d, got none", c.tenant, maxListPages, c.pageSize)
		}
		got, err := c.listAssociatesPage(ctx, skip)
		if err != nil {
			return nil, err
		}
		rows = append(rows, got...)
		if len(got) < c.pageSize {
			return rows, nil
		}
		skip += len(got)
	}
}

func (c *Client) listAssociatesPage(ctx context.Context, skip int) ([]AssociateRow, error) {
	var page struct {
		Value []map[string]json.RawMessage `json:"value"`
	}
	r := request{
		call:   fmt.Sprintf("list associates (skip %d)", skip),
		method: http.MethodGet,
		path:   "/v1/Archive/AllUsers",
		query: fmt.Sprintf("$select=%s&$orderby=associateDbId&$top=%d&$skip=%d",
			allUsersSelect, c.pageSize, skip),
	}
	if err := c.apiCall(ctx, r, &page); err != nil {
		return nil, err
	}
	rows := make([]AssociateRow, 0, len(page.Value))
	for i, raw := range page.Value {
		row, err := decodeAssociateRow(raw)
		if err != nil {
			return nil, fmt.Errorf("superoffice tenant %s: %s: row %d: %w", c.tenant, r.call, i, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// decodeAssociateRow reads a flat archive row. Numbers may come as JSON numbers or strings
// (PrimaryKey is documented both ways); associateDbId falls back to PrimaryKey.
func decodeAssociateRow(raw map[string]json.RawMessage) (AssociateRow, error) {
	var row AssociateRow
	id, ok, err := flexInt(raw["associateDbId"])
	if err != nil {
		return row, fmt.Errorf("associateDbId: %w", err)
	}
	if !ok {
		if id, ok, err = flexInt(raw["PrimaryKey"]); err != nil {
			return row, fmt.Errorf("PrimaryKey: %w", err)
		}
	}
	if !ok || id < 1 {
		return row, fmt.Errorf("expected a positive associateDbId or PrimaryKey, got %s", describe(raw["associateDbId"], raw["PrimaryKey"]))
	}
	row.AssociateID = id
	if row.PersonID, _, err = flexInt(raw["personId"]); err != nil {
		return row, fmt.Errorf("associate %d: personId: %w", id, err)
	}
	if row.GroupID, _, err = flexInt(raw["usergroupId"]); err != nil {
		return row, fmt.Errorf("associate %d: usergroupId: %w", id, err)
	}
	if row.TypeCode, row.HasType, err = flexType(raw["assocType"]); err != nil {
		return row, fmt.Errorf("associate %d: assocType: %w", id, err)
	}
	active, hasActive, err := flexBool(raw["isActive"])
	if err != nil {
		return row, fmt.Errorf("associate %d: isActive: %w", id, err)
	}
	row.Retired, row.HasActive = hasActive && !active, hasActive
	return row, nil
}

// flexInt and flexBool read the archive's lenient forms (internal/lenient).
func flexInt(raw json.RawMessage) (int64, bool, error) { return lenient.Int(raw) }

func flexBool(raw json.RawMessage) (bool, bool, error) { return lenient.Bool(raw) }

// flexType reads the database code (0, "0") or a type name (InternalAssociate, Employee, …).
func flexType(raw json.RawMessage) (int32, bool, error) {
	if code, ok, err := flexInt(raw); err == nil {
		return int32(code), ok, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, false, fmt.Errorf("expected a type code or name, got %s", truncate(string(raw), 40))
	}
	code, ok := TypeCodeFromName(s)
	if !ok {
		return 0, false, fmt.Errorf("expected a known associate type, got %q", truncate(s, 40))
	}
	return code, true, nil
}

func describe(values ...json.RawMessage) string {
	parts := make([]string, 0, len(values))
	for _, v := range values {
		if len(v) == 0 {
			parts = append(parts, "nothing")
			continue
		}
		parts = append(parts, truncate(string(v), 40))
	}
	return strings.Join(parts, " and ")
}

// Associate is the record of Agents/Associate/GetAssociate.
type Associate struct {
	AssociateID int64  `json:"AssociateId"`
	Name        string `json:"Name"`
	PersonID    int64  `json:"PersonId"`
	Rank        int64  `json:"Rank"`
	Tooltip     string `json:"Tooltip"`
	// Type is the REST name (InternalAssociate, ResourceAssociate, …); TypeCode its database value.
	Type       string `json:"Type"`
	GroupIdx   int64  `json:"GroupIdx"`
	FullName   string `json:"FullName"`
	FormalName string `json:"FormalName"`
	Deleted    bool   `json:"Deleted"`
	EjUserID   int64  `json:"EjUserId"`
	UserName   string `json:"UserName"`

	TypeCode int32 `json:"-"`
	// HasType is false when Type was empty or a name this client does not know.
	HasType bool `json:"-"`
}

// Associate type names as the REST API spells them, and their database values.
var typeCodes = map[string]int32{
	"InternalAssociate":  0,
	"ResourceAssociate":  1,
	"ExternalAssociate":  4,
	"AnonymousAssociate": 7,
	"SystemAssociate":    13,
	// The database names, as an archive column might show them.
	"Employee":       0,
	"Resource":       1,
	"ExternalPerson": 4,
	"Anonymous":      7,
	"System":         13,
}

// TypeCodeFromName maps a REST type name (InternalAssociate …) or a database type name
// (Employee …) to the database code.
func TypeCodeFromName(name string) (int32, bool) {
	code, ok := typeCodes[strings.TrimSpace(name)]
	return code, ok
}

// TypeNameFromCode is the REST name of a database type code ("" when unknown).
func TypeNameFromCode(code int32) string {
	for name, c := range typeCodes {
		if c == code && strings.HasSuffix(name, "Associate") {
			return name
		}
	}
	return ""
}

// GetAssociate fetches one associate's full record.
func (c *Client) GetAssociate(ctx context.Context, associateID int64) (Associate, error) {
	var a Associate
	r := request{
		call:   fmt.Sprintf("get associate %d", associateID),
		method: http.MethodPost,
		path:   "/v1/Agents/Associate/GetAssociate",
		query:  "associateId=" + strconv.FormatInt(associateID, 10),
	}
	if err := c.apiCall(ctx, r, &a); err != nil {
		return Associate{}, err
	}
	if a.AssociateID == 0 {
		// SuperOffice answers null for an unknown id: report it as the 404 it means.
		return Associate{}, &APIError{Tenant: c.tenant, Call: r.call, StatusCode: http.StatusNotFound, Message: "expected an associate record, got none"}
	}
	a.TypeCode, a.HasType = TypeCodeFromName(a.Type)
	return a, nil
}
