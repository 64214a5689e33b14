package fake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/assocsync/associate-operator/internal/superoffice"
)

// Associate is a row of the fake's associate table.
type Associate struct {
	ID       int64
	PersonID int64
	GroupID  int64
	// TypeCode is the database type: 0 Employee, 1 Resource, 4 ExternalPerson, 7 Anonymous, 13 System.
	TypeCode           int32
	Retired            bool
	WaitingForApproval bool
	Name               string
	FullName           string
}

// PutAssociate adds or replaces an associate without sending any event (a lost delivery).
func (s *SuperOffice) PutAssociate(a Associate) {
	if a.Name == "" {
		a.Name = "U" + strconv.FormatInt(a.ID, 10)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.associates[a.ID] = a
	delete(s.removed, a.ID)
}

// RemoveAssociate deletes an associate without sending any event.
func (s *SuperOffice) RemoveAssociate(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.associates[id]; ok {
		s.removed[id] = a
		delete(s.associates, id)
	}
}

// Associate is the current row for id.
func (s *SuperOffice) Associate(id int64) (Associate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.associates[id]
	return a, ok
}

// Seed puts n employees with ids first..first+n-1 (person id = id+1000, group 1).
func (s *SuperOffice) Seed(first int64, n int) {
	for i := range int64(n) {
		s.PutAssociate(Associate{ID: first + i, PersonID: first + i + 1000, GroupID: 1})
	}
}

// SetStringPrimaryKeys makes AllUsers answer PrimaryKey (and associateDbId) as strings,
// as some documented samples do.
func (s *SuperOffice) SetStringPrimaryKeys(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stringKeys = on
}

// BeforeListingPage calls hook(skip) before each AllUsers page is read, so a test can
// change the table between two pages (a lower id deleted while a listing pages with
// $skip); nil removes it. The hook may call the fake's methods.
func (s *SuperOffice) BeforeListingPage(hook func(skip int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforePage = hook
}

// HideFromListing makes AllUsers leave these associates out while GetAssociate still
// finds them: a listing that keeps coming back short. No ids shows every row again.
func (s *SuperOffice) HideFromListing(ids ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.hidden)
	for _, id := range ids {
		s.hidden[id] = true
	}
}

func (s *SuperOffice) sortedAssociates() []Associate {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Associate, 0, len(s.associates))
	for _, a := range s.associates {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Associate) int { return int(a.ID - b.ID) })
	return out
}

// handleAllUsers pages with $top/$skip over rows ordered by associateDbId, with the
// $select'ed columns (all five when there is no $select).
func (s *SuperOffice) handleAllUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	top, err := queryInt(q.Get("$top"), 1000)
	if err != nil || top < 1 {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", "$top must be a positive integer")
		return
	}
	skip, err := queryInt(q.Get("$skip"), 0)
	if err != nil || skip < 0 {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", "$skip must be a non-negative integer")
		return
	}
	if ob := q.Get("$orderby"); ob != "" && ob != "associateDbId" {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", "the fake orders by associateDbId only")
		return
	}
	columns := []string{"associateDbId", "personId", "usergroupId", "assocType", "isActive"}
	if sel := q.Get("$select"); sel != "" {
		columns = strings.Split(sel, ",")
	}
	s.mu.Lock()
	stringKeys, hook := s.stringKeys, s.beforePage
	s.mu.Unlock()
	if hook != nil {
		hook(skip)
	}
	all := s.sortedAssociates()
	s.mu.Lock()
	all = slices.DeleteFunc(all, func(a Associate) bool { return s.hidden[a.ID] })
	s.mu.Unlock()
	page := all[min(skip, len(all)):min(skip+top, len(all))]
	rows := make([]map[string]any, 0, len(page))
	for _, a := range page {
		var key any = a.ID
		if stringKeys {
			key = strconv.FormatInt(a.ID, 10)
		}
		row := map[string]any{"PrimaryKey": key, "EntityName": "associate"}
		for _, col := range columns {
			switch strings.TrimSpace(col) {
			case "associateDbId":
				row["associateDbId"] = key
			case "personId":
				row["personId"] = a.PersonID
			case "usergroupId":
				row["usergroupId"] = a.GroupID
			case "assocType":
				row["assocType"] = a.TypeCode
			case "isActive":
				row["isActive"] = !a.Retired
			}
		}
		rows = append(rows, row)
	}
	answer := map[string]any{
		"odata.metadata": s.APIURL(s.baseURL(r)) + "/v1/Archive/$metadata",
		"value":          rows,
	}
	if len(page) == top {
		next := *r.URL
		nq := next.Query()
		nq.Set("$skip", strconv.Itoa(skip+top))
		next.RawQuery = nq.Encode()
		answer["odata.nextLink"] = s.baseURL(r) + next.String()
	}
	writeJSON(w, http.StatusOK, answer)
}

func (s *SuperOffice) handleGetAssociate(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.URL.Query().Get("associateId"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", "associateId must be an integer")
		return
	}
	a, ok := s.Associate(id)
	if !ok {
		writeError(w, http.StatusNotFound, "SoNotFoundException", "no associate "+strconv.FormatInt(id, 10))
		return
	}
	writeJSON(w, http.StatusOK, superoffice.Associate{
		AssociateID: a.ID,
		Name:        a.Name,
		PersonID:    a.PersonID,
		Tooltip:     a.FullName,
		Type:        superoffice.TypeNameFromCode(a.TypeCode),
		GroupIdx:    a.GroupID,
		FullName:    a.FullName,
		FormalName:  a.FullName,
		Deleted:     a.Retired,
		UserName:    strings.ToLower(a.Name),
	})
}

func queryInt(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}
