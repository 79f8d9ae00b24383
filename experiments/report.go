package experiments

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/figures"
)

// The plumbing every experiment shares between its result and its report: registration with the
// one Run every experiment has, the settings a report records, and saving figures and tables.

// register adds experiment e with the Run that every experiment shares: the scale's default
// configuration, c.Overrides for e.Name, the run (unless e.OneShard and c is another shard than
// the first), and the result's report.
func register[C any, R interface{ Report(Common) (*Report, error) }](e Experiment,
	defaults func(Scale, string) C, run func(context.Context, Common, C) (R, error)) {
	e.Run = func(ctx context.Context, c Common) (*Report, error) {
		cfg := defaults(c.Scale, backend.Name(c.Backend))
		if err := c.Overrides.Apply(e.Name, &cfg); err != nil {
			return nil, err
		}
		if e.OneShard && c.Shard.N > 1 && c.Shard.I != 0 {
			rep := newReport(c, e.Name, e.Title, cfg)
			rep.Findings = append(rep.Findings, fmt.Sprintf("shard %s: nothing to do (%s shows a few images; shard 0 computes them)", c.Shard, e.Name))
			return rep, nil
		}
		res, err := run(ctx, c, cfg)
		if err != nil {
			return nil, err
		}
		return res.Report(c)
	}
	e.checkOverrides = func(o Overrides) error {
		cfg := defaults(Quick, "go")
		return o.Apply(e.Name, &cfg)
	}
	Register(e)
}

// ResultFigure is a figure built from an experiment's result, with its index entry.
type ResultFigure struct {
	Figure *figures.Figure
	Ref    FigureRef
}

// ResultTable is a table built from an experiment's result, with its index entry.
type ResultTable struct {
	Header []string
	Rows   [][]string
	Ref    TableRef
}

// saveAll writes figures and tables into the report.
func saveAll(c Common, r *Report, figs []ResultFigure, tabs []ResultTable) error {
	for _, t := range tabs {
		if err := r.SaveTable(c, t.Header, t.Rows, t.Ref); err != nil {
			return err
		}
	}
	for _, f := range figs {
		if err := r.SaveFigure(c, f.Figure, f.Ref); err != nil {
			return err
		}
	}
	return nil
}

// ConfigSettings lists the exported fields of a config struct as report settings
// ("prefix.Field" → value).
func ConfigSettings(prefix string, cfg any) map[string]string {
	out := map[string]string{}
	v := reflect.Indirect(reflect.ValueOf(cfg))
	if v.Kind() != reflect.Struct {
		return out
	}
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		val := v.Field(i).Interface()
		var s string
		switch x := val.(type) {
		case []string:
			s = strings.Join(x, ", ")
			if len(x) == 0 {
				s = "(none)"
			}
		case []int:
			parts := make([]string, len(x))
			for j, n := range x {
				parts[j] = strconv.Itoa(n)
			}
			s = strings.Join(parts, ", ")
			if len(x) == 0 {
				s = "(none)"
			}
		default:
			s = fmt.Sprint(x)
		}
		out[prefix+f.Name] = s
	}
	return out
}

// newReport starts a report with the settings every experiment records.
func newReport(c Common, name, title string, cfg any) *Report {
	r := &Report{Experiment: name, Title: title, Settings: ConfigSettings("", cfg)}
	r.Settings["scale"] = string(c.Scale)
	r.Settings["backend"] = backend.Name(c.Backend)
	r.Settings["seed"] = strconv.FormatInt(c.Seed, 10)
	r.Settings["shard"] = c.Shard.String()
	if s := c.Overrides.String(); s != "" {
		r.Settings["overrides (--set)"] = s
	}
	return r
}

// pureGoBackend reports whether the backend flag selects the (slow) pure-Go backend.
func pureGoBackend(backendFlag string) bool {
	name, _, _ := strings.Cut(backend.Name(backendFlag), ":")
	return name == "go"
}

// shardNote is the finding of a run that computed one shard only.
func shardNote(c Common, files ...string) string {
	return fmt.Sprintf("shard %s only: per-example results appended to %s; figures are made by a run without --shard, "+
		"which merges the shard files first (or merge them with `fisens merge --out FILE FILE.shard-*`)",
		c.Shard, strings.Join(files, ", "))
}

// checkCommon checks the settings most experiments share: at least one model, batches of at least
// one example, and a known FI convention.
func checkCommon(exp string, models []string, batch int, convention string) error {
	switch {
	case len(models) == 0:
		return fmt.Errorf("%s: Models is empty, want at least one model reference", exp)
	case batch < 1:
		return fmt.Errorf("%s: Batch = %d, want ≥ 1", exp, batch)
	}
	if _, err := ParseConvention(convention); err != nil {
		return fmt.Errorf("%s: %w", exp, err)
	}
	return nil
}

// figureResult is a result that draws its own figures and states its findings.
type figureResult interface {
	Figures() ([]ResultFigure, error)
	Findings() []string
}

// saveResult adds res's findings to rep and saves its figures and the tables under c.OutDir.
func saveResult(c Common, rep *Report, res figureResult, tables ...ResultTable) (*Report, error) {
	figs, err := res.Figures()
	if err != nil {
		return nil, err
	}
	rep.Findings = append(rep.Findings, res.Findings()...)
	return rep, saveAll(c, rep, figs, tables)
}
