package v1alpha1

import (
	"fmt"
	"strconv"
	"strings"
)

// TenantSlug turns a ContextIdentifier into a DNS-1123 label: lower-case, every run of
// characters outside [a-z0-9] becomes one '-', leading and trailing '-' dropped.
func TenantSlug(tenant string) string {
	var b strings.Builder
	b.Grow(len(tenant))
	dash := false
	for i := 0; i < len(tenant); i++ {
		c := tenant[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteByte(c)
			continue
		}
		dash = true
	}
	return b.String()
}

// AssociateName is the name of the Associate for an associate id of a tenant:
// `<tenant slug>-<associateId>` (`Cust1234`, 141424 -> `cust1234-141424`). It fails when
// the name would not be a valid DNS-1123 label of at most 63 characters.
func AssociateName(tenant string, associateID int64) (string, error) {
	if associateID < 1 {
		return "", fmt.Errorf("associate id must be at least 1, got %d", associateID)
	}
	slug := TenantSlug(tenant)
	if slug == "" {
		return "", fmt.Errorf("tenant %q has no letters or digits to name an Associate after", tenant)
	}
	name := slug + "-" + strconv.FormatInt(associateID, 10)
	if len(name) > 63 {
		return "", fmt.Errorf("associate name %q is %d characters, more than the 63 allowed", name, len(name))
	}
	return name, nil
}
