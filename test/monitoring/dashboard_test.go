package monitoring

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/assocsync/associate-operator/internal/testenv"
)

var dashboardFile = filepath.Join(testenv.RepoRoot(), "charts", "associate-operator", "files", "dashboard.json")

// dashboard is the part of Grafana's dashboard model that the test reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"` // a string, or {query, refId}
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row holds its panels
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
}

// grafanaVariables stand for what Grafana puts in before it sends a query.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"${receiver}", ".*", "$receiver", ".*",
)

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	content, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(content, &d); err != nil {
		t.Fatalf("%s is not JSON Grafana can import: %v", dashboardFile, err)
	}
	return d
}

// flatten lists every panel, rows and the panels of collapsed rows included, in order.
func flatten(panels []panel) []panel {
	var out []panel
	for _, p := range panels {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

func TestDashboardPanelsQueryOnlyMetricsTheOperatorExports(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" {
		t.Error("the dashboard has no uid: Grafana would import a copy on every install")
	}
	ids := map[int]string{}
	queries := 0
	for _, p := range flatten(d.Panels) {
		if other, ok := ids[p.ID]; ok || p.ID == 0 {
			t.Errorf("panel %q has id %d, as %q does: every panel needs its own", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			queries++
			for _, name := range metricNames(t, grafanaVariables.Replace(target.Expr)) {
				if !exported(name) {
					t.Errorf("panel %q queries %s, which the operator does not export: %s", p.Title, name, target.Expr)
				}
			}
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),\s*[a-zA-Z_]+\)$`)
	for _, variable := range d.Templating.List {
		if variable.Type != "query" {
			continue
		}
		query, _ := variable.Query.(string)
		if m, ok := variable.Query.(map[string]any); ok {
			query, _ = m["query"].(string)
		}
		match := labelValues.FindStringSubmatch(query)
		if match == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", variable.Name, query)
		} else if !exported(match[1]) {
			t.Errorf("variable %s reads %s, which the operator does not export", variable.Name, match[1])
		}
	}
}

func TestDashboardHasAResyncAndProvisioningRow(t *testing.T) {
	var row string
	read := map[string][]string{} // metric -> panels of the row that read it
	for _, p := range flatten(readDashboard(t).Panels) {
		if p.Type == "row" {
			row = p.Title
			continue
		}
		if row != "Resync and provisioning" {
			continue
		}
		for _, target := range p.Targets {
			for _, name := range metricNames(t, grafanaVariables.Replace(target.Expr)) {
				read[name] = append(read[name], p.Title)
			}
		}
	}
	for _, metric := range []string{
		"associate_operator_resync_total",         // resync results
		"associate_operator_resync_changes_total", // what they changed
		"associate_operator_actions_total",        // provisioning actions by result
		"associate_operator_deprovision_failures_total",
		"associate_operator_receiver_condition",
	} {
		if len(read[metric]) == 0 {
			t.Errorf("the row \"Resync and provisioning\" has no panel on %s; its panels read %v", metric, slices.Sorted(maps.Keys(read)))
		}
	}
}
