package v1alpha1

import "testing"

func TestAssociateNameFollowsTheContract(t *testing.T) {
	cases := []struct {
		tenant  string
		id      int64
		want    string
		wantErr bool
	}{
		{tenant: "Cust1234", id: 141424, want: "cust1234-141424"},
		{tenant: "Default", id: 4039840, want: "default-4039840"},
		{tenant: "  Acme__Corp.. ", id: 7, want: "acme-corp-7"},
		{tenant: "ÆØÅ-Nord", id: 1, want: "nord-1"},
		{tenant: "---", id: 1, wantErr: true},
		{tenant: "Cust1", id: 0, wantErr: true},
		{tenant: "a123456789b123456789c123456789d123456789e123456789f123456789", id: 12345, wantErr: true},
	}
	for _, tc := range cases {
		got, err := AssociateName(tc.tenant, tc.id)
		if tc.wantErr {
			if err == nil {
				t.Errorf("AssociateName(%q, %d) = %q, want an error", tc.tenant, tc.id, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("AssociateName(%q, %d) = %q, %v; want %q", tc.tenant, tc.id, got, err, tc.want)
		}
	}
}

func TestAssociateTypeFromCodeMapsDatabaseValues(t *testing.T) {
	want := map[int32]AssociateType{0: "Employee", 1: "Resource", 4: "ExternalPerson", 7: "Anonymous", 13: "System", 2: "Other", -1: "Other"}
	for code, name := range want {
		if got := AssociateTypeFromCode(code); got != name {
			t.Errorf("AssociateTypeFromCode(%d) = %s, want %s", code, got, name)
		}
	}
}
