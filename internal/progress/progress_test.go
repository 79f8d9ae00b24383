package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeClock advances by step on every call.
func fakeClock(step time.Duration) func() time.Time {
	t := time.Unix(0, 0)
	return func() time.Time { t = t.Add(step); return t }
}

func TestPlainLinesEveryTenPercent(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "fi", 100)
	b.now = fakeClock(time.Second)
	b.start = time.Unix(0, 0)
	for i := 0; i < 100; i++ {
		b.Add(1)
	}
	b.Done()
	b.Done() // idempotent
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// 10 %, 20 %, …, 90 % and the final line.
	if len(lines) != 10 {
		t.Fatalf("got %d lines, want 10:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "10/100") || !strings.Contains(lines[0], "ETA") {
		t.Errorf("first line %q: want count 10/100 and an ETA", lines[0])
	}
	if !strings.Contains(lines[9], "100/100") || strings.Contains(buf.String(), "\r") {
		t.Errorf("last line %q: want 100/100 and no carriage returns", lines[9])
	}
}

func TestLineContent(t *testing.T) {
	b := New(io.Discard, "x", 1000)
	b.start = time.Unix(0, 0)
	b.count = 250
	got := b.line(time.Unix(10, 0)) // 25 items/s, 750 left → 30 s
	for _, want := range []string{"25%", "250/1000", "25.0/s", "ETA 30s"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
}

func TestNilAndDiscard(t *testing.T) {
	var b *Bar
	b.Add(3)
	b.Done()
	if b.Count() != 0 {
		t.Error("nil bar counted")
	}
	d := New(io.Discard, "d", 10)
	d.Add(4)
	d.Done()
	if d.Count() != 4 {
		t.Errorf("count %d, want 4", d.Count())
	}
	n := New(nil, "n", 0)
	n.Add(1)
	n.Done()
}

func TestFmtDuration(t *testing.T) {
	cases := map[time.Duration]string{
		850 * time.Millisecond:                    "850ms",
		12 * time.Second:                          "12s",
		3*time.Minute + 5*time.Second:             "3m05s",
		2*time.Hour + 7*time.Minute + time.Second: "2h07m",
	}
	for d, want := range cases {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
