package monitoring

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/template"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"go.yaml.in/yaml/v3"
)

// This file evaluates alerting rules the way Prometheus does, on test files written in
// promtool's `test rules` format (tests, interval, input_series, alert_rule_test with
// exp_alerts), so that the suite runs without building promtool. Fields of that format
// that it does not implement are refused, not ignored.

// ruleTests is a promtool test file without rule_files: the rules come from the caller.
type ruleTests struct {
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	Tests              []ruleTest     `yaml:"tests"`
}

type ruleTest struct {
	Name        string          `yaml:"name"`
	Interval    model.Duration  `yaml:"interval"`
	InputSeries []inputSeries   `yaml:"input_series"`
	AlertTests  []alertRuleTest `yaml:"alert_rule_test"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTest struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []expAlert     `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// promParser parses as Prometheus does by default.
var promParser = parser.NewParser(parser.Options{})

// parseRuleGroups validates rule groups as Prometheus (and promtool check rules) does.
func parseRuleGroups(t *testing.T, content []byte) []rulefmt.RuleGroup {
	t.Helper()
	groups, errs := rulefmt.Parse(content, false, model.UTF8Validation, promParser, nil)
	if len(errs) > 0 {
		t.Fatalf("the rules do not load in Prometheus: %v", errs)
	}
	return groups.Groups
}

func readRuleTests(t *testing.T, path string) ruleTests {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var tests ruleTests
	if err := dec.Decode(&tests); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if tests.EvaluationInterval == 0 {
		tests.EvaluationInterval = model.Duration(time.Minute)
	}
	return tests
}

// runRuleTests runs every test of the file against the alerting rules, each as a subtest.
func runRuleTests(t *testing.T, groups []rulefmt.RuleGroup, tests ruleTests) {
	rules := map[string]rulefmt.Rule{}
	for _, group := range groups {
		for _, rule := range group.Rules {
			if rule.Alert != "" {
				rules[rule.Alert] = rule
			}
		}
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	for _, test := range tests.Tests {
		t.Run(test.Name, func(t *testing.T) {
			db := loadSeries(t, test)
			for _, at := range test.AlertTests {
				rule, ok := rules[at.Alertname]
				if !ok {
					t.Errorf("no alerting rule %s", at.Alertname)
					continue
				}
				got := evalAlert(t, engine, db, rule, time.Duration(tests.EvaluationInterval), time.Duration(at.EvalTime))
				want := make([]string, 0, len(at.ExpAlerts))
				for _, exp := range at.ExpAlerts {
					lbls := labels.FromMap(exp.ExpLabels)
					lbls = labels.NewBuilder(lbls).Set(labels.AlertName, at.Alertname).Labels()
					want = append(want, describeAlert(lbls, labels.FromMap(exp.ExpAnnotations), exp.ExpAnnotations != nil))
				}
				// Annotations are compared only where the test gives them, as promtool does.
				gotDescribed := make([]string, 0, len(got))
				for _, a := range got {
					compareAnnotations := slices.ContainsFunc(at.ExpAlerts, func(e expAlert) bool {
						return e.ExpAnnotations != nil && labels.Equal(withAlertname(e.ExpLabels, at.Alertname), a.labels)
					})
					gotDescribed = append(gotDescribed, describeAlert(a.labels, a.annotations, compareAnnotations))
				}
				slices.Sort(want)
				slices.Sort(gotDescribed)
				if !slices.Equal(gotDescribed, want) {
					t.Errorf("%s at %s: firing\n  %s\nwant\n  %s", at.Alertname, at.EvalTime,
						orNone(gotDescribed), orNone(want))
				}
			}
		})
	}
}

func withAlertname(m map[string]string, alertname string) labels.Labels {
	return labels.NewBuilder(labels.FromMap(m)).Set(labels.AlertName, alertname).Labels()
}

func describeAlert(lbls, annotations labels.Labels, withAnnotations bool) string {
	if !withAnnotations {
		return lbls.String()
	}
	return lbls.String() + " " + annotations.String()
}

func orNone(alerts []string) string {
	if len(alerts) == 0 {
		return "(none)"
	}
	return strings.Join(alerts, "\n  ")
}

// firingAlert is an alert that fires at the evaluation time.
type firingAlert struct {
	labels, annotations labels.Labels
}

// evalAlert evaluates the rule at every evaluation interval from 0 to at, as the rule
// manager does, and returns the alerts firing at the last evaluation: an alert is pending
// from the first evaluation that returns its label set, fires once it has been returned
// for the rule's `for`, and is gone at the first evaluation that does not return it.
func evalAlert(t *testing.T, engine *promql.Engine, db storage.Queryable, rule rulefmt.Rule, every, at time.Duration) []firingAlert {
	t.Helper()
	if rule.KeepFiringFor != 0 {
		t.Fatalf("%s: keep_firing_for is not implemented by this test", rule.Alert)
	}
	activeAt := map[uint64]time.Duration{}
	var last promql.Vector
	var lastTime time.Time
	for ts := time.Duration(0); ts <= at; ts += every {
		lastTime = time.Unix(0, 0).UTC().Add(ts)
		vector := instantQuery(t, engine, db, rule.Expr, lastTime)
		seen := map[uint64]bool{}
		for _, sample := range vector {
			h := sample.Metric.Hash()
			seen[h] = true
			if _, ok := activeAt[h]; !ok {
				activeAt[h] = ts
			}
		}
		for h := range activeAt {
			if !seen[h] {
				delete(activeAt, h)
			}
		}
		last = vector
	}
	var firing []firingAlert
	for _, sample := range last {
		if at-activeAt[sample.Metric.Hash()] < time.Duration(rule.For) {
			continue
		}
		expand := func(text string) string {
			return expandTemplate(t, engine, db, rule.Alert, text, sample, lastTime)
		}
		b := labels.NewBuilder(sample.Metric).Del(model.MetricNameLabel)
		for name, value := range rule.Labels {
			b.Set(name, expand(value))
		}
		b.Set(labels.AlertName, rule.Alert)
		annotations := labels.NewBuilder(labels.EmptyLabels())
		for name, value := range rule.Annotations {
			annotations.Set(name, expand(value))
		}
		firing = append(firing, firingAlert{labels: b.Labels(), annotations: annotations.Labels()})
	}
	return firing
}

func instantQuery(t *testing.T, engine *promql.Engine, db storage.Queryable, expr string, at time.Time) promql.Vector {
	t.Helper()
	q, err := engine.NewInstantQuery(context.Background(), db, nil, expr, at)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer q.Close()
	vector, err := q.Exec(context.Background()).Vector()
	if err != nil {
		t.Fatalf("%s at %s: %v", expr, at, err)
	}
	return vector
}

// expandTemplate expands a label or annotation as Prometheus does for an alert.
func expandTemplate(t *testing.T, engine *promql.Engine, db storage.Queryable, alert, text string, sample promql.Sample, at time.Time) string {
	t.Helper()
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	data := template.AlertTemplateData(sample.Metric.Map(), nil, "", sample)
	query := func(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
		return instantQuery(t, engine, db, q, ts), nil
	}
	out, err := template.NewTemplateExpander(context.Background(), defs+text, "__alert_"+alert, data,
		model.TimeFromUnixNano(at.UnixNano()), query, nil, nil).Expand()
	if err != nil {
		t.Fatalf("%s: expanding %q: %v", alert, text, err)
	}
	return out
}

// loadSeries holds the test's input series in memory, sample i at i intervals.
func loadSeries(t *testing.T, test ruleTest) storage.Queryable {
	t.Helper()
	interval := time.Duration(test.Interval)
	if interval == 0 {
		interval = time.Minute
	}
	var all []storage.Series
	for _, in := range test.InputSeries {
		lbls, values, err := promParser.ParseSeriesDesc(in.Series + " " + in.Values)
		if err != nil {
			t.Fatalf("input series %s %s: %v", in.Series, in.Values, err)
		}
		var samples []chunks.Sample
		for i, v := range values {
			if v.Omitted {
				continue
			}
			if v.Histogram != nil {
				t.Fatalf("input series %s: histogram samples are not implemented by this test", in.Series)
			}
			samples = append(samples, floatSample{t: int64(time.Duration(i) * interval / time.Millisecond), f: v.Value})
		}
		all = append(all, storage.NewListSeries(lbls, samples))
	}
	slices.SortFunc(all, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return &storage.MockQueryable{MockQuerier: &storage.MockQuerier{
		SelectMockFunction: func(_ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
			var selected []storage.Series
			for _, s := range all {
				if matchesAll(s.Labels(), matchers) {
					selected = append(selected, s)
				}
			}
			return &seriesSet{series: selected, next: -1}
		},
	}}
}

func matchesAll(lbls labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lbls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// seriesSet iterates over series already sorted by their labels.
type seriesSet struct {
	series []storage.Series
	next   int
}

func (s *seriesSet) Next() bool                      { s.next++; return s.next < len(s.series) }
func (s *seriesSet) At() storage.Series              { return s.series[s.next] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is one float sample at t milliseconds.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                    { return s.t }
func (floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                  { return s.f }
func (floatSample) H() *histogram.Histogram       { return nil }
func (floatSample) FH() *histogram.FloatHistogram { return nil }
func (floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample         { return s }
