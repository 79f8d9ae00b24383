package nb

import (
	"encoding/base64"
	"fmt"
	"html"
	"os"
	"time"

	"github.com/fisens/fisens/figures"
	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/dom"
	"github.com/janpfeifer/gonb/gonbui/widgets"
)

// HeadlessEnv is set (to anything but "") by scripts/run-notebooks.sh: no browser runs the notebook, so
// interactive cells show their static fallback at once instead of waiting for a front end.
const HeadlessEnv = "FISENS_NB_HEADLESS"

// FrontEndWait is how long an interactive cell waits for the browser to answer before it decides no
// browser is there (a Jupyter that does not run GoNB's JavaScript, nbconvert by hand) and shows its
// static fallback.
var FrontEndWait = 20 * time.Second

// Headless reports whether the notebook runs without a browser (FISENS_NB_HEADLESS is set).
func Headless() bool { return os.Getenv(HeadlessEnv) != "" }

// SliderSpec describes an interactive cell: an integer slider from Min to Max, starting at Value, and
// what to draw for a position.
type SliderSpec struct {
	Label      string           // shown before the slider
	Min, Max   int              // the slider's range
	Value      int              // the starting position (and the static fallback's)
	Format     func(int) string // the value as shown next to the slider (nil: the integer)
	Draw       func(int) string // the HTML for a position (e.g. FigureHTML of a figure and a line of text)
	Idle       time.Duration    // the cell ends after this long without a move (0: 3 minutes)
	DoneButton string           // the label of the button that ends the cell (default "Done")
}

// Slider runs an interactive cell with GoNB's widgets (gonbui/widgets): a slider and, under it,
// what spec.Draw returns for the slider's position, redrawn at every move. The cell keeps running
// until the Done button is pressed or nothing moves for spec.Idle; then the last drawing stays in the
// notebook as ordinary output (what a saved notebook and its HTML export show).
//
// Static fallback: in a headless run (Headless) it shows spec.Draw(spec.Value) at once; in a front
// end that does not answer within FrontEndWait it shows it after that wait. It returns the last
// position and whether the slider was live.
func Slider(spec SliderSpec) (last int, live bool) {
	if spec.Format == nil {
		spec.Format = func(v int) string { return fmt.Sprint(v) }
	}
	if spec.Idle <= 0 {
		spec.Idle = 3 * time.Minute
	}
	if spec.DoneButton == "" {
		spec.DoneButton = "Done"
	}
	static := func(note string) {
		HTML(spec.Draw(spec.Value))
		Caption(note)
	}
	if !gonbui.IsNotebook || Headless() {
		static(fmt.Sprintf("Static view at %s = %s (headless run). In JupyterLab a slider moves it: run this cell there.",
			spec.Label, spec.Format(spec.Value)))
		return spec.Value, false
	}

	// The widgets wait for the browser's first message: build them in a goroutine and give up after
	// FrontEndWait (no GoNB JavaScript in the front end).
	div := dom.CreateTransientDiv()
	valueID := "fisens_slider_value_" + gonbui.UniqueId()
	type built struct {
		s *widgets.SliderBuilder
		b *widgets.ButtonBuilder
	}
	ready := make(chan built, 1)
	go func() {
		dom.Append(div, `<span style="font-family:sans-serif">`+html.EscapeString(spec.Label)+` </span>`)
		s := widgets.Slider(spec.Min, spec.Max, spec.Value).AppendTo(div).Done()
		dom.Append(div, `&nbsp;<span id="`+valueID+`" style="font-family:monospace">`+html.EscapeString(spec.Format(spec.Value))+`</span>&nbsp;`)
		b := widgets.Button(spec.DoneButton).AppendTo(div).Done()
		ready <- built{s, b}
	}()
	var w built
	select {
	case w = <-ready:
	case <-time.After(FrontEndWait):
		dom.SetInnerHtml(div, "")
		static(fmt.Sprintf("Static view at %s = %s: the front end did not answer GoNB's widgets within %s "+
			"(open the notebook in JupyterLab, `make lab`, for the slider).", spec.Label, spec.Format(spec.Value), FrontEndWait))
		return spec.Value, false
	}

	plotID := "fisens_slider_plot_" + gonbui.UniqueId()
	last = spec.Value
	gonbui.UpdateHtml(plotID, spec.Draw(last))
	moves := w.s.Listen().LatestOnly()
	clicks := w.b.Listen()
	timer := time.NewTimer(spec.Idle)
loop:
	for {
		select {
		case v := <-moves.C:
			last = v
			dom.SetInnerText(valueID, spec.Format(v))
			gonbui.UpdateHtml(plotID, spec.Draw(v))
			timer.Reset(spec.Idle)
		case <-clicks.C:
			break loop
		case <-timer.C:
			break loop
		}
	}
	moves.Close()
	clicks.Close()
	// Replace the live widgets by ordinary output, so the saved notebook keeps the last view.
	gonbui.UpdateHtml(plotID, "")
	dom.SetInnerHtml(div, "")
	HTML(spec.Draw(last))
	Caption(fmt.Sprintf("Last view, at %s = %s. Run the cell again to move the slider.", spec.Label, spec.Format(last)))
	return last, true
}

// FigureHTML renders a figure as an inline PNG <img> (for HTML outputs such as Slider's drawings);
// alt is the image's text for screen readers.
func FigureHTML(fig *figures.Figure, alt string) string {
	png := Must(fig.PNG())
	return `<img alt="` + html.EscapeString(alt) + `" src="data:image/png;base64,` + base64.StdEncoding.EncodeToString(png) + `"/>`
}

// Draw displays the figure a figures constructor returned (stopping the cell on its error) and
// returns it: nb.Draw(figures.Curves(...)).
func Draw(fig *figures.Figure, err error) *figures.Figure {
	Check(err)
	Show(fig)
	return fig
}
