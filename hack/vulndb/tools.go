//go:build tools

// Package vulndb pins the tools that build the offline vulnerability database.
package vulndb

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	_ "golang.org/x/vulndb/cmd/indexdb"
)
