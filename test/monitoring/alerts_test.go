package monitoring

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// rulesFile is the PrometheusRule of config/prometheus; the chart renders the same rules.
var rulesFile = filepath.Join(testenv.RepoRoot(), "config", "prometheus", "rules.yaml")

// loadAlertRules reads the PrometheusRule's groups as the Prometheus Operator hands them
// to Prometheus, checked as Prometheus loads them.
func loadAlertRules(t *testing.T) []byte {
	t.Helper()
	content, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(content, &rule); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if rule.Kind != "PrometheusRule" || len(rule.Spec.Groups) == 0 {
		t.Fatalf("%s holds a %s with %d groups, want a PrometheusRule with its rules", rulesFile, rule.Kind, len(rule.Spec.Groups))
	}
	groups, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	return groups
}

func TestAlertsFireOnTheSeriesTheyShouldAndStayQuietOtherwise(t *testing.T) {
	groups := parseRuleGroups(t, loadAlertRules(t))
	tests := readRuleTests(t, filepath.Join("testdata", "alerts.yaml"))
	runRuleTests(t, groups, tests)

	// Every alert is shown both firing and quiet.
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, test := range tests.Tests {
		for _, at := range test.AlertTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, group := range groups {
		for _, rule := range group.Rules {
			if !fires[rule.Alert] || !quiet[rule.Alert] {
				t.Errorf("alert %s: testdata/alerts.yaml shows it firing: %v, quiet: %v; want both", rule.Alert, fires[rule.Alert], quiet[rule.Alert])
			}
		}
	}
}

func TestAlertsReadOnlyMetricsTheOperatorExports(t *testing.T) {
	for _, group := range parseRuleGroups(t, loadAlertRules(t)) {
		for _, rule := range group.Rules {
			for _, name := range metricNames(t, rule.Expr) {
				// up is Prometheus' own, one series per scraped replica.
				if name != "up" && !exported(name) {
					t.Errorf("alert %s reads %s, which the operator does not export", rule.Alert, name)
				}
			}
			if rule.Labels["severity"] == "" || rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" {
				t.Errorf("alert %s: want a severity label and summary and description annotations, got %v %v", rule.Alert, rule.Labels, rule.Annotations)
			}
		}
	}
}

// metricNames lists the metrics an expression selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	node, err := promParser.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("%s selects series without naming a metric", expr)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names)
}

// The chart's values.schema.json names the alerts that metrics.prometheusRule.for and
// .disabled take; it must name exactly those of the rules.
func TestChartValuesNameEveryAlert(t *testing.T) {
	var alerts []string
	for _, group := range parseRuleGroups(t, loadAlertRules(t)) {
		for _, rule := range group.Rules {
			alerts = append(alerts, rule.Alert)
		}
	}
	slices.Sort(alerts)
	var schema struct {
		Properties struct {
			Metrics struct {
				Properties struct {
					PrometheusRule struct {
						Properties struct {
							For struct {
								Properties map[string]any `json:"properties"`
							} `json:"for"`
							Disabled struct {
								Items struct {
									Enum []string `json:"enum"`
								} `json:"items"`
							} `json:"disabled"`
						} `json:"properties"`
					} `json:"prometheusRule"`
				} `json:"properties"`
			} `json:"metrics"`
		} `json:"properties"`
	}
	content, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "charts", "associate-operator", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(content, &schema); err != nil {
		t.Fatal(err)
	}
	rule := schema.Properties.Metrics.Properties.PrometheusRule.Properties
	if got := slices.Sorted(maps.Keys(rule.For.Properties)); !slices.Equal(got, alerts) {
		t.Errorf("values.schema.json metrics.prometheusRule.for takes %v, want the alerts %v", got, alerts)
	}
	if got := slices.Sorted(slices.Values(rule.Disabled.Items.Enum)); !slices.Equal(got, alerts) {
		t.Errorf("values.schema.json metrics.prometheusRule.disabled takes %v, want the alerts %v", got, alerts)
	}
}
