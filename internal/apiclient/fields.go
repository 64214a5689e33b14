package apiclient

import (
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

// The one mapping of SuperOffice's records to the columns an Associate mirrors: a
// listing row (resync), a GetAssociate record (resync and deliveries without FieldValues).

// RowFields are the columns a listing row carries.
func RowFields(row superoffice.AssociateRow) mirror.Fields {
	person, group := row.PersonID, int32(row.GroupID)
	f := mirror.Fields{PersonID: &person, GroupIdx: &group}
	if row.HasType {
		code := row.TypeCode
		f.TypeCode = &code
	}
	if row.HasActive {
		retired := row.Retired
		f.Retired = &retired
	}
	return f
}

// RecordFields are the columns of a GetAssociate record.
func RecordFields(record superoffice.Associate) mirror.Fields {
	person, group, retired := record.PersonID, int32(record.GroupIdx), record.Deleted
	f := mirror.Fields{PersonID: &person, GroupIdx: &group, Retired: &retired}
	if record.HasType {
		code := record.TypeCode
		f.TypeCode = &code
	}
	return f
}

// CompleteFields fills what a listing row lacked (type, retired) from the record.
func CompleteFields(f mirror.Fields, record superoffice.Associate) mirror.Fields {
	full := RecordFields(record)
	if f.TypeCode == nil {
		f.TypeCode = full.TypeCode
	}
	if f.Retired == nil {
		f.Retired = full.Retired
	}
	return f
}
