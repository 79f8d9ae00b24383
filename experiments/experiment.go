package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/results"
)

// Scale is the size of a run: Quick runs on a fresh 2-core machine in minutes (real MNIST, zoo
// models, subsets); Paper uses the paper's models and full datasets (a big machine or a GPU).
type Scale string

const (
	Quick Scale = "quick"
	Paper Scale = "paper"
)

// ParseScale checks a scale name.
func ParseScale(s string) (Scale, error) {
	switch Scale(s) {
	case Quick, Paper:
		return Scale(s), nil
	}
	return "", fmt.Errorf("scale %q: want quick or paper", s)
}

// Common holds the settings every experiment shares. Experiment-specific sizes live in each
// experiment's own Config, whose defaults depend on Scale.
type Common struct {
	Scale    Scale         // quick (default) or paper
	OutDir   string        // where figures (SVG + PNG), tables (CSV) and resumable results go
	Backend  string        // GoMLX backend flag ("" → $GOMLX_BACKEND → go)
	Seed     int64         // seed of every random choice
	Shard    results.Shard // for per-example work: compute only this shard (merge with `fisens merge`)
	Progress io.Writer     // progress bars and log lines (nil: silent)
	// Overrides change the registered experiments' default configurations (`fisens reproduce
	// --set`); RunX functions take their Config directly and ignore them.
	Overrides Overrides
}

// Logf writes a log line to c.Progress.
func (c Common) Logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// Path returns a path inside c.OutDir, creating the directory.
func (c Common) Path(name string) (string, error) {
	dir := c.OutDir
	if dir == "" {
		dir = "."
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, nil
}

// FigureRef is one figure written by a run, as listed in the index.
type FigureRef struct {
	Name    string // file name without extension, relative to OutDir (".svg" and ".png" exist)
	Title   string
	Caption string // what is plotted
	Claim   string // the paper's claim the figure tests
	Finding string // what this run found (computed from the results, not typed in)
}

// TableRef is one CSV table written by a run.
type TableRef struct {
	Name    string // file name relative to OutDir
	Title   string
	Caption string
}

// Report is what a run of one experiment produced.
type Report struct {
	Experiment string
	Title      string
	Settings   map[string]string // every size, flag, model, dataset, scale, backend used
	Figures    []FigureRef
	Tables     []TableRef
	Findings   []string // short computed statements ("FI = bound for 100 % of full-rank layers")
	Elapsed    time.Duration
}

// SaveFigure writes fig as SVG and PNG under c.OutDir and appends it to the report.
func (r *Report) SaveFigure(c Common, fig *figures.Figure, ref FigureRef) error {
	p, err := c.Path(ref.Name)
	if err != nil {
		return err
	}
	if err := fig.Save(p); err != nil {
		return fmt.Errorf("%s: saving figure %s: %w", r.Experiment, ref.Name, err)
	}
	r.Figures = append(r.Figures, ref)
	return nil
}

// SaveTable writes a CSV table under c.OutDir and appends it to the report.
func (r *Report) SaveTable(c Common, header []string, rowsData [][]string, ref TableRef) error {
	p, err := c.Path(ref.Name)
	if err != nil {
		return err
	}
	if err := figures.WriteCSV(p, header, rowsData); err != nil {
		return fmt.Errorf("%s: writing table %s: %w", r.Experiment, ref.Name, err)
	}
	r.Tables = append(r.Tables, ref)
	return nil
}

// Experiment is a registered experiment runnable by `fisens reproduce`.
type Experiment struct {
	Name    string // e.g. "setup1"
	Title   string
	Paper   string // "Shu & Zhu 2019", "Cheney et al. 2017", "Maheshwari et al."
	Order   int    // position in `fisens reproduce` and the index
	Run     func(ctx context.Context, c Common) (*Report, error)
	Summary string
	// OneShard marks an experiment that shows a few images: shard 0 of a sharded run computes
	// them, and the other shards have nothing to do.
	OneShard bool

	// checkOverrides applies overrides to a default configuration, so that ParseOverrides
	// reports a bad field or value before anything runs (nil: not checked).
	checkOverrides func(Overrides) error
}

var (
	regMu    sync.Mutex
	registry = map[string]Experiment{}
)

// Register adds an experiment (called from init() of each experiment's file).
func Register(e Experiment) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[e.Name]; dup {
		panic("experiments: registered twice: " + e.Name)
	}
	registry[e.Name] = e
}

// List returns the registered experiments in order.
func List() []Experiment {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]Experiment, 0, len(registry))
	for _, e := range registry {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Lookup returns a registered experiment by name.
func Lookup(name string) (Experiment, error) {
	regMu.Lock()
	e, ok := registry[name]
	regMu.Unlock()
	if !ok {
		var names []string
		for _, e := range List() {
			names = append(names, e.Name)
		}
		return Experiment{}, fmt.Errorf("unknown experiment %q (known: %s)", name, strings.Join(names, ", "))
	}
	return e, nil
}

// savedReport is a report as kept in OutDir/reports/NAME.json, so that the index of a folder lists
// every experiment run into it, not only those of the latest `fisens reproduce --only ...`.
type savedReport struct {
	Scale   Scale
	Backend string
	Report  *Report
}

// SaveReport keeps r in OutDir/reports/<experiment>.json (see LoadReports).
func SaveReport(c Common, r *Report) error {
	p, err := c.Path(filepath.Join("reports", r.Experiment+".json"))
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(savedReport{Scale: c.Scale, Backend: c.Backend, Report: r}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p, data) // concurrent jobs of a cluster array read the reports
}

// LoadReports returns the reports kept in OutDir/reports by earlier runs at c.Scale, in the
// registry's order; reports of unknown experiments or of another scale are left out, and a
// corrupt file is an error that names it.
func LoadReports(c Common) ([]*Report, error) {
	var out []*Report
	for _, e := range List() {
		p := filepath.Join(c.OutDir, "reports", e.Name+".json")
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var sr savedReport
		if err := json.Unmarshal(data, &sr); err != nil || sr.Report == nil {
			return nil, fmt.Errorf("experiments: %s is not a saved report (delete it to rerun %s): %v", p, e.Name, err)
		}
		if sr.Scale != c.Scale {
			continue
		}
		out = append(out, sr.Report)
	}
	return out, nil
}

// WriteIndex writes OutDir/index.md: every figure with its caption, the claim it tests and what
// the run found, every table, and the settings of each experiment.
func WriteIndex(c Common, reports []*Report) (string, error) {
	p, err := c.Path("index.md")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# fisens reproduction (%s scale)\n\n", c.Scale)
	fmt.Fprintf(&b, "Generated %s by `fisens reproduce`. Backend: %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), c.Backend)
	for _, r := range reports {
		fmt.Fprintf(&b, "## %s — %s\n\n", r.Experiment, r.Title)
		if len(r.Findings) > 0 {
			b.WriteString("Findings of this run:\n\n")
			for _, f := range r.Findings {
				fmt.Fprintf(&b, "- %s\n", f)
			}
			b.WriteString("\n")
		}
		for _, f := range r.Figures {
			fmt.Fprintf(&b, "### %s\n\n![%s](%s.png)\n\n[SVG](%s.svg)\n\n", f.Title, f.Title, f.Name, f.Name)
			if f.Caption != "" {
				fmt.Fprintf(&b, "%s\n\n", f.Caption)
			}
			if f.Claim != "" {
				fmt.Fprintf(&b, "- Paper's claim: %s\n", f.Claim)
			}
			if f.Finding != "" {
				fmt.Fprintf(&b, "- This run: %s\n", f.Finding)
			}
			b.WriteString("\n")
		}
		for _, t := range r.Tables {
			fmt.Fprintf(&b, "- Table [%s](%s): %s\n", t.Title, t.Name, t.Caption)
		}
		if len(r.Settings) > 0 {
			keys := make([]string, 0, len(r.Settings))
			for k := range r.Settings {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteString("\n<details><summary>Settings</summary>\n\n")
			for _, k := range keys {
				fmt.Fprintf(&b, "- %s: %s\n", k, r.Settings[k])
			}
			fmt.Fprintf(&b, "- elapsed: %s\n\n</details>\n\n", r.Elapsed.Round(time.Second))
		}
	}
	return p, writeFileAtomic(p, []byte(b.String()))
}
