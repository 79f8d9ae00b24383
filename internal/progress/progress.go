package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar is a progress reporter for a pass over total items. Its methods are safe for concurrent use
// and do nothing on a nil *Bar.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int
	count    int
	start    time.Time
	terminal bool
	lastDraw time.Time
	nextPct  int // next percentage (multiple of 10) at which a plain line is written
	done     bool
	now      func() time.Time
}

// New returns a bar writing to w for a pass over total items (total <= 0: unknown total).
// A nil w or io.Discard gives a bar that writes nothing.
func New(w io.Writer, label string, total int) *Bar {
	b := &Bar{w: w, label: label, total: total, now: time.Now, nextPct: 10}
	if w == nil || w == io.Discard {
		b.w = nil
	}
	b.terminal = isTerminal(w)
	b.start = b.now()
	return b
}

// isTerminal reports whether w is a character device (a terminal), where the bar redraws in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}

// Add records n more items done and redraws the bar when due.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.count += n
	if b.w == nil {
		return
	}
	now := b.now()
	if b.terminal {
		if now.Sub(b.lastDraw) >= 100*time.Millisecond || (b.total > 0 && b.count >= b.total) {
			b.lastDraw = now
			fmt.Fprintf(b.w, "\r%s\x1b[K", b.line(now))
		}
		return
	}
	if b.total <= 0 {
		// Unknown total: a plain line every 10 s at most.
		if now.Sub(b.lastDraw) >= 10*time.Second {
			b.lastDraw = now
			fmt.Fprintln(b.w, b.line(now))
		}
		return
	}
	pct := int(int64(b.count) * 100 / int64(b.total))
	if pct >= b.nextPct && b.count < b.total {
		for b.nextPct <= pct {
			b.nextPct += 10
		}
		fmt.Fprintln(b.w, b.line(now))
	}
}

// Done finishes the bar: it writes the final line (with the total time) once.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if b.w == nil {
		return
	}
	now := b.now()
	el := now.Sub(b.start)
	s := fmt.Sprintf("%s %s in %s (%s)", b.label, b.counts(), fmtDuration(el), b.rate(el))
	if b.terminal {
		fmt.Fprintf(b.w, "\r%s\x1b[K\n", s)
	} else {
		fmt.Fprintln(b.w, s)
	}
}

// Count returns the number of items recorded so far.
func (b *Bar) Count() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count
}

func (b *Bar) counts() string {
	if b.total > 0 {
		return fmt.Sprintf("%d/%d", b.count, b.total)
	}
	return fmt.Sprintf("%d", b.count)
}

func (b *Bar) rate(el time.Duration) string {
	if el <= 0 {
		return "-/s"
	}
	r := float64(b.count) / el.Seconds()
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f/s", r)
	case r >= 1:
		return fmt.Sprintf("%.1f/s", r)
	case r > 0:
		return fmt.Sprintf("%.1fs each", 1/r)
	}
	return "-/s"
}

// line renders the bar: "label [#####.....] 50% 500/1000 12.3/s ETA 41s".
func (b *Bar) line(now time.Time) string {
	el := now.Sub(b.start)
	var sb strings.Builder
	sb.WriteString(b.label)
	if b.total > 0 {
		frac := float64(b.count) / float64(b.total)
		if frac > 1 {
			frac = 1
		}
		const width = 20
		n := int(frac * width)
		sb.WriteString(" [")
		sb.WriteString(strings.Repeat("#", n))
		sb.WriteString(strings.Repeat(".", width-n))
		fmt.Fprintf(&sb, "] %3d%% ", int(frac*100))
	} else {
		sb.WriteString(" ")
	}
	sb.WriteString(b.counts())
	sb.WriteString(" ")
	sb.WriteString(b.rate(el))
	if b.total > 0 && b.count > 0 && b.count < b.total && el > 0 {
		left := time.Duration(float64(el) * float64(b.total-b.count) / float64(b.count))
		sb.WriteString(" ETA ")
		sb.WriteString(fmtDuration(left))
	}
	return sb.String()
}

// fmtDuration prints a duration rounded for humans: 850ms, 12s, 3m05s, 2h07m.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	case d < time.Hour:
		m := int(d / time.Minute)
		return fmt.Sprintf("%dm%02ds", m, int((d-time.Duration(m)*time.Minute)/time.Second))
	}
	h := int(d / time.Hour)
	return fmt.Sprintf("%dh%02dm", h, int((d-time.Duration(h)*time.Hour)/time.Minute))
}
