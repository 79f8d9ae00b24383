// Package nb is the notebook-support package of fisens: what every GoNB notebook in notebooks/ needs
// besides the experiment it shows, so that its cells are prose plus calls.
//
//   - Setup: the run's scale and backend from the environment the kernel was started with
//     (FISENS_SCALE, GOMLX_BACKEND; `make lab` and `make notebooks` set them from FISENS_BACKEND),
//     checked with errors that say what to do, and where the run's files go.
//   - Display: figures inline (Show, ShowRef), tables (Table), captions and notes (Caption, HTML).
//   - Findings: every GoNB cell is a new program, so the computed findings of a cell pass to the
//     last cell through a file (Findings, AddFindings); the last cell prints it.
//
// A notebook's parameters cell declares the run once; later cells use it:
//
//	import "github.com/fisens/fisens/notebooks/nb"
//
//	var Run = nb.Setup("03-setup1-training-outliers") // FISENS_SCALE, GOMLX_BACKEND
//
//	%%
//	Run.Check() // prints scale and backend, or stops saying what to do
//
// and a run cell:
//
//	%%
//	Run.Fresh()
//	res := nb.Must(experiments.RunSetup1(Run.Ctx, Run.Common(), cfg))
//	for _, f := range nb.Must(res.Figures()) {
//		nb.ShowRef(f)
//	}
//	Run.Findings(res.Findings()...)
//
// Outside a GoNB kernel the display functions do nothing, so the same code runs in tests and tools.
package nb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/experiments"
	"github.com/fisens/fisens/figures"
	"github.com/janpfeifer/gonb/gonbui"
)

// Scales are the values FISENS_SCALE may take.
const (
	Quick = "quick" // small models and reduced sizes: minutes on 2 cores
	Paper = "paper" // the papers' models and data: hours per model on a CPU
)

// Seed is the seed of every random choice in the notebooks: the default of `fisens reproduce`.
const Seed = 1

// Notebook is one notebook's run: its name, scale and backend, and where its files go.
type Notebook struct {
	Name    string          // the notebook's file name without .ipynb; names its output folder
	Scale   string          // Quick or Paper ($FISENS_SCALE, default Quick)
	Backend string          // GoMLX backend configuration ($GOMLX_BACKEND, default "go")
	Dir     string          // the notebook's folder ($GONB_DIR, else the working directory)
	Ctx     context.Context // for the experiments' Run functions

	err error // what Setup found wrong; Check reports it
}

// Setup reads the run's settings from the environment. It never fails: a bad setting is kept and
// reported by Check (the parameters cell calls it), and by Common, so a later cell stops with the
// same message instead of running with a setting nobody asked for.
func Setup(name string) *Notebook {
	n := &Notebook{Name: name, Scale: os.Getenv("FISENS_SCALE"), Backend: backend.Name(""), Ctx: context.Background()}
	if n.Scale == "" {
		n.Scale = Quick
	}
	if n.Dir = os.Getenv("GONB_DIR"); n.Dir == "" {
		n.Dir, _ = os.Getwd()
	}
	if n.Scale != Quick && n.Scale != Paper {
		n.err = fmt.Errorf("FISENS_SCALE=%q: want %q or %q; set it in the environment Jupyter starts with "+
			"(`FISENS_SCALE=quick make lab`) or with `%%env FISENS_SCALE=quick` in the notebook, then rerun", n.Scale, Quick, Paper)
	}
	return n
}

// Check verifies the settings and that the backend starts, then prints them; on a problem it stops
// the cell (panics) with a message that says what to do.
func (n *Notebook) Check() {
	Check(n.CheckErr())
	fmt.Printf("%s: scale=%s backend=%s (compiled in: %s), outputs in %s\n",
		n.Name, n.Scale, n.Backend, strings.Join(backend.List(), ", "), n.rel(n.OutDir()))
}

// CheckErr is Check without printing or panicking.
func (n *Notebook) CheckErr() error {
	if n.err != nil {
		return n.err
	}
	if _, err := backend.New(n.Backend); err != nil {
		return fmt.Errorf("%w\n%s", err, backendHint(n.Backend))
	}
	return nil
}

// backendHint says how to get the named backend in a notebook.
func backendHint(cfg string) string {
	name, _, _ := strings.Cut(cfg, ":")
	switch name {
	case "onnx", "onnxruntime":
		if !backend.Available(name) {
			return "What to do: start Jupyter with `make lab` (FISENS_BACKEND=onnx), or run these lines in a cell, then rerun " +
				"the notebook: %goflags -tags=onnx / %env GOMLX_BACKEND=onnx:cpu / " +
				"%env ONNXRUNTIME_SHARED_LIBRARY_PATH=../.onnxruntime/libonnxruntime.so.1 / %env GOMLX_NO_AUTO_INSTALL=1"
		}
		return "What to do: run scripts/install-onnxruntime.sh in the clone and set ONNXRUNTIME_SHARED_LIBRARY_PATH to the " +
			"libonnxruntime.so.1 it prints (`make lab` does both), or use the pure-Go backend: %env GOMLX_BACKEND=go"
	case "xla":
		return "What to do: start Jupyter with `FISENS_BACKEND=xla make lab` (it installs XLA's CPU plugin with " +
			"scripts/install-xla.sh), or by hand: %goflags -tags=xla / %env PJRT_PLUGIN_LIBRARY_PATH=../.xla / " +
			"%env GOMLX_NO_AUTO_INSTALL=1; or use another backend: %env GOMLX_BACKEND=go"
	}
	return "What to do: use FISENS_BACKEND=go or onnx with `make lab` (see notebooks/README.md)"
}

// Quick reports whether this is a quick run.
func (n *Notebook) Quick() bool { return n.Scale == Quick }

// PureGo reports whether the run uses the (slow) pure-Go backend.
func (n *Notebook) PureGo() bool { return n.Backend == "go" || strings.HasPrefix(n.Backend, "go:") }

// Reduce returns v for a paper run and, for a quick run, at most fast (or at most pureGo on the
// pure-Go backend), so the notebook finishes in minutes; 0 (= "all") counts as larger than any limit.
func (n *Notebook) Reduce(v, fast, pureGo int) int {
	if !n.Quick() {
		return v
	}
	limit := fast
	if n.PureGo() {
		limit = pureGo
	}
	if v == 0 || v > limit {
		return limit
	}
	return v
}

// OutDir is the run's output folder, out/runs/NAME/ next to the notebook (git-ignored).
func (n *Notebook) OutDir() string { return filepath.Join(n.Dir, "out", "runs", n.Name) }

// Common is what every experiment shares: scale, output folder, backend and seed.
func (n *Notebook) Common() experiments.Common {
	Check(n.err)
	return experiments.Common{Scale: experiments.Scale(n.Scale), OutDir: n.OutDir(), Backend: n.Backend, Seed: Seed}
}

// Fresh prepares the output folder: a quick run empties it, a paper run keeps it (its resumable
// results continue where an interrupted run stopped).
func (n *Notebook) Fresh() {
	Check(n.err)
	if n.Quick() {
		Check(os.RemoveAll(n.OutDir()))
	}
	Check(os.MkdirAll(n.OutDir(), 0o755))
}

// SaveKey writes this run's key figure to out/img/NAME.{png,svg} next to the notebook (see
// notebooks/README.md for how the committed img/NAME.png is made).
func (n *Notebook) SaveKey(fig *figures.Figure, name string) {
	Check(fig.Save(filepath.Join(n.Dir, "out", "img", name)))
}

// FindingsFile is where Findings and AddFindings write, one "• line" per finding.
func (n *Notebook) FindingsFile() string { return filepath.Join(n.OutDir(), "findings.txt") }

// Findings (re)writes the findings file with lines; AddFindings appends to it.
func (n *Notebook) Findings(lines ...string)    { Check(n.writeFindings(lines, false)) }
func (n *Notebook) AddFindings(lines ...string) { Check(n.writeFindings(lines, true)) }

func (n *Notebook) writeFindings(lines []string, add bool) error {
	if err := os.MkdirAll(n.OutDir(), 0o755); err != nil {
		return err
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if add {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(n.FindingsFile(), flag, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		fmt.Fprintf(w, "• %s\n", strings.ReplaceAll(strings.TrimSpace(l), "\n", " "))
	}
	return errors.Join(w.Flush(), f.Close())
}

// ReadFindings returns the findings written so far (without the bullets).
func (n *Notebook) ReadFindings() ([]string, error) {
	b, err := os.ReadFile(n.FindingsFile())
	if err != nil {
		return nil, fmt.Errorf("no findings yet (%w): run the cells above first", err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l = strings.TrimPrefix(l, "• "); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// ShowFindings displays the findings written so far as a list.
func (n *Notebook) ShowFindings() {
	lines := Must(n.ReadFindings())
	var b strings.Builder
	b.WriteString("<ul>")
	for _, l := range lines {
		b.WriteString("<li>" + html.EscapeString(l) + "</li>")
	}
	b.WriteString("</ul>")
	HTML(b.String())
	if !gonbui.IsNotebook {
		for _, l := range lines {
			fmt.Println("•", l)
		}
	}
}

func (n *Notebook) rel(path string) string {
	if r, err := filepath.Rel(n.Dir, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// ---- errors ----------------------------------------------------------------------------------

// Check stops the cell (panics) if err is not nil: a notebook cell has no caller to return it to,
// and GoNB shows the panic under the cell.
func Check(err error) {
	if err != nil {
		panic(err)
	}
}

// Must returns v, or stops the cell if err is not nil: nb.Must(experiments.RunSetup1(...)).
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Must2 is Must for functions with two results besides the error.
func Must2[T, U any](t T, u U, err error) (T, U) {
	Check(err)
	return t, u
}

// ---- display ---------------------------------------------------------------------------------

// Show displays a figure inline (PNG).
func Show(fig *figures.Figure) { Check(figures.Show(fig)) }

// ShowRef displays an experiment's figure with the caption the experiment wrote for it.
func ShowRef(rf experiments.ResultFigure) {
	Show(rf.Figure)
	Caption(rf.Ref.Caption)
}

// ShowAll displays each figure with its caption.
func ShowAll(figs []experiments.ResultFigure) {
	for _, f := range figs {
		ShowRef(f)
	}
}

// Caption displays text in italics under the output above it (nothing for empty text).
func Caption(text string) {
	if text != "" {
		HTML("<p><em>" + html.EscapeString(text) + "</em></p>")
	}
}

// HTML displays a piece of HTML.
func HTML(s string) {
	gonbui.DisplayHTML(s)
	gonbui.Sync()
}

// Table displays a table with a header row; cells are plain text.
func Table(header []string, rows [][]string) { HTML(TableHTML(header, rows)) }

// ShowTable displays an experiment's table with its title and caption.
func ShowTable(t experiments.ResultTable) {
	if t.Ref.Title != "" {
		HTML("<p><strong>" + html.EscapeString(t.Ref.Title) + "</strong></p>")
	}
	Table(t.Header, t.Rows)
	Caption(t.Ref.Caption)
}

// TableHTML renders a table: numbers right-aligned, everything escaped.
func TableHTML(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString(`<table class="fisens-table"><thead><tr>`)
	for _, h := range header {
		b.WriteString("<th>" + html.EscapeString(h) + "</th>")
	}
	b.WriteString("</tr></thead><tbody>")
	for _, r := range rows {
		b.WriteString("<tr>")
		for _, c := range r {
			align := ""
			if isNumber(c) {
				align = ` style="text-align:right"`
			}
			b.WriteString("<td" + align + ">" + html.EscapeString(c) + "</td>")
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table>")
	return b.String()
}

func isNumber(s string) bool {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if s == "" {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
