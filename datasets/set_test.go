package datasets

import (
	"slices"
	"strings"
	"testing"
)

func tinySet(t *testing.T) *Set {
	t.Helper()
	// 3 images of 2×2×2: image i has bytes 10*i + k.
	imgs := make([]uint8, 3*8)
	for i := range imgs {
		imgs[i] = uint8(10*(i/8) + i%8)
	}
	s, err := NewSet("tiny/all", 2, 2, 2, 3, imgs, []uint8{2, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSetBasics(t *testing.T) {
	s := tinySet(t)
	if s.Len() != 3 || s.NumClasses() != 3 || s.ImageSize() != 8 || s.Name() != "tiny/all" {
		t.Fatalf("%s: len %d", s.Name(), s.Len())
	}
	raw := s.Batch([]int{2, 0}, Raw255)
	want := []float32{20, 21, 22, 23, 24, 25, 26, 27, 0, 1, 2, 3, 4, 5, 6, 7}
	if !slices.Equal(raw, want) {
		t.Errorf("Raw255 batch %v", raw)
	}
	unit := s.Batch([]int{2}, Unit)
	for k, v := range unit {
		if d := v - want[k]/255; d > 1e-7 || d < -1e-7 {
			t.Errorf("Unit value %d = %v, want %v", k, v, want[k]/255)
		}
	}
	if got := s.Labels([]int{0, 1, 2, 0}); !slices.Equal(got, []int32{2, 0, 1, 2}) {
		t.Errorf("labels %v", got)
	}
	img := s.Image(1)
	img[0] = 99
	if s.Image(1)[0] != 10 {
		t.Error("Image does not return a copy")
	}
	sub := s.Subset([]int{2, 1})
	subsub := sub.Subset([]int{1})
	if sub.Name() != "tiny/all[subset]" || subsub.Name() != "tiny/all[subset]" {
		t.Errorf("names %q %q", sub.Name(), subsub.Name())
	}
	if subsub.Len() != 1 || subsub.SourceIndex(0) != 1 || subsub.Label(0) != 0 || !slices.Equal(subsub.Image(0), s.Image(1)) {
		t.Error("subset of subset lost provenance")
	}
	if !slices.Equal(s.Histogram(), []int{1, 1, 1}) || !slices.Equal(s.Range(1, 9), []int{1, 2}) {
		t.Error("histogram or range")
	}
}

func TestNewSetErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  func() error
		want string
	}{
		{"size", func() error { _, err := NewSet("x", 2, 2, 1, 10, make([]uint8, 7), make([]uint8, 2)); return err }, "want 8"},
		{"label", func() error { _, err := NewSet("x", 1, 1, 1, 3, make([]uint8, 1), []uint8{3}); return err }, "label 3 of example 0 out of range"},
		{"dims", func() error { _, err := NewSet("x", 0, 1, 1, 3, nil, nil); return err }, "want positive"},
	} {
		if err := c.err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestParseScale(t *testing.T) {
	for in, want := range map[string]Scale{"": Raw255, "raw255": Raw255, "unit": Unit, "0-1": Unit} {
		if got, err := ParseScale(in); err != nil || got != want {
			t.Errorf("ParseScale(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseScale("zscore"); err == nil {
		t.Error("unknown scale accepted")
	}
}

func TestStream(t *testing.T) {
	s := tinySet(t)
	var got [][]int
	var labels []int32
	err := s.Stream(2, Raw255, nil, func(b BatchData) error {
		got = append(got, b.Index)
		labels = append(labels, b.Y...)
		if len(b.X) != len(b.Index)*8 || b.X[0] != float32(10*b.Index[0]) {
			t.Errorf("batch %v: inputs %v", b.Index, b.X)
		}
		return nil
	})
	if err != nil || len(got) != 2 || !slices.Equal(got[1], []int{2}) || !slices.Equal(labels, []int32{2, 0, 1}) {
		t.Errorf("Stream batches %v labels %v err %v", got, labels, err)
	}
	if err := s.Stream(0, Raw255, nil, nil); err == nil {
		t.Error("batch size 0 accepted")
	}
}

func TestConcat(t *testing.T) {
	s := tinySet(t)
	sub := s.Subset([]int{2})
	all, err := Concat("tiny/both", s, sub)
	if err != nil {
		t.Fatal(err)
	}
	if all.Len() != 4 || all.Label(3) != 1 || all.SourceIndex(3) != 2 || !slices.Equal(all.Image(3), s.Image(2)) {
		t.Errorf("concat: len %d, label %d, source %d", all.Len(), all.Label(3), all.SourceIndex(3))
	}
	other, _ := NewSet("other", 1, 1, 1, 3, []uint8{0}, []uint8{0})
	if _, err := Concat("bad", s, other); err == nil || !strings.Contains(err.Error(), "want 2×2×2") {
		t.Errorf("mismatched dims: %v", err)
	}
}
