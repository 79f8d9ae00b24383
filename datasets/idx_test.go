package datasets

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestParseIDXKnownAnswer decodes a 2×2×3 idx file written byte by byte.
func TestParseIDXKnownAnswer(t *testing.T) {
	file := []byte{
		0x00, 0x00, 0x08, 0x03, // magic: unsigned byte, 3 dimensions
		0x00, 0x00, 0x00, 0x02, // 2
		0x00, 0x00, 0x00, 0x02, // 2
		0x00, 0x00, 0x00, 0x03, // 3
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255,
	}
	for _, gz := range []bool{false, true} {
		in := file
		if gz {
			in = gzipBytes(file)
		}
		x, err := ParseIDX(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if !slices.Equal(x.Dims, []int{2, 2, 3}) {
			t.Errorf("gz=%v: dims %v, want [2 2 3]", gz, x.Dims)
		}
		if !slices.Equal(x.Data, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255}) {
			t.Errorf("gz=%v: data %v", gz, x.Data)
		}
	}
}

func TestParseIDXErrors(t *testing.T) {
	good := idxBytes([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated idx header"},
		{"wrong magic", append([]byte{0x12, 0x34}, good[2:]...), "wrong idx magic number"},
		{"float type", append([]byte{0, 0, 0x0d}, good[3:]...), "not supported"},
		{"zero dims", []byte{0, 0, 8, 0}, "0 dimensions"},
		{"short header", good[:6], "truncated idx header"},
		{"truncated data", good[:len(good)-1], "truncated idx data: 5 bytes, want 6"},
		{"trailing data", append(append([]byte{}, good...), 9), "longer than its header"},
		{"corrupt gzip", []byte{0x1f, 0x8b, 1, 2, 3}, "gzip"},
		{"truncated gzip", gzipBytes(good)[:20], "idx"},
	}
	for _, c := range cases {
		_, err := ParseIDX(bytes.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestLoadMNISTFormatErrors checks that file-level problems are reported with the file name.
func TestLoadMNISTFormatErrors(t *testing.T) {
	dir := t.TempDir()
	fakeMNIST(t, dir, 30, 10, false, false)
	lbl := filepath.Join(dir, "train-labels-idx1-ubyte")
	// Out-of-range label.
	writeFile(t, lbl, idxBytes([]int{30}, append(bytes.Repeat([]byte{1}, 29), 10)))
	_, err := Load(MNIST, SplitTrainFull, WithDir(dir))
	if err == nil || !strings.Contains(err.Error(), lbl) || !strings.Contains(err.Error(), "label 10 of record 29 out of range") {
		t.Errorf("out-of-range label: %v", err)
	}
	// Count mismatch.
	writeFile(t, lbl, idxBytes([]int{29}, bytes.Repeat([]byte{1}, 29)))
	_, err = Load(MNIST, SplitTrainFull, WithDir(dir))
	if err == nil || !strings.Contains(err.Error(), "29 labels") || !strings.Contains(err.Error(), "30 images") {
		t.Errorf("count mismatch: %v", err)
	}
	// Wrong magic in the image file.
	img := filepath.Join(dir, "train-images-idx3-ubyte")
	writeFile(t, lbl, idxBytes([]int{30}, bytes.Repeat([]byte{1}, 30)))
	writeFile(t, img, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	_, err = Load(MNIST, SplitTrainFull, WithDir(dir))
	if err == nil || !strings.Contains(err.Error(), img) || !strings.Contains(err.Error(), "magic") {
		t.Errorf("wrong magic: %v", err)
	}
	// Truncated image file.
	writeFile(t, img, idxBytes([]int{30, 28, 28}, make([]byte, 30*784-5)))
	_, err = Load(MNIST, SplitTrainFull, WithDir(dir))
	if err == nil || !strings.Contains(err.Error(), img) || !strings.Contains(err.Error(), "want 23520") {
		t.Errorf("truncated: %v", err)
	}
	// Wrong image size.
	writeFile(t, img, idxBytes([]int{30, 14, 56}, make([]byte, 30*784)))
	_, err = Load(MNIST, SplitTrainFull, WithDir(dir))
	if err == nil || !strings.Contains(err.Error(), "want 28×28×1") {
		t.Errorf("wrong size: %v", err)
	}
}

// TestLoadMNISTFileVariants loads small files in every accepted naming and compression variant.
func TestLoadMNISTFileVariants(t *testing.T) {
	for _, gz := range []bool{false, true} {
		for _, dot := range []bool{false, true} {
			dir := t.TempDir()
			fakeMNIST(t, dir, 50, 20, gz, dot)
			s, err := Load(MNIST, SplitTrainFull, WithDir(dir))
			if err != nil {
				t.Fatalf("gz=%v dot=%v: %v", gz, dot, err)
			}
			if s.Len() != 50 || s.Name() != "mnist/train-full" {
				t.Fatalf("gz=%v dot=%v: %s with %d examples", gz, dot, s.Name(), s.Len())
			}
			img := s.Image(13)
			if s.Label(13) != 3 || img[0] != 13 || img[783] != byte((13+783)%256) {
				t.Errorf("gz=%v dot=%v: example 13: label %d, pixels %d..%d", gz, dot, s.Label(13), img[0], img[783])
			}
			test, err := Load(MNIST, SplitTest, WithDir(dir))
			if err != nil || test.Len() != 20 {
				t.Fatalf("test split: %v", err)
			}
		}
	}
}

func FuzzParseIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}))
	f.Add(idxBytes([]int{3}, []byte{0, 9, 5}))
	f.Add(gzipBytes(idxBytes([]int{1, 28, 28}, make([]byte, 784))))
	f.Add([]byte{0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ParseIDX(bytes.NewReader(in))
		if err != nil {
			return
		}
		n := 1
		for _, d := range x.Dims {
			n *= d
		}
		if len(x.Dims) == 0 || n != len(x.Data) {
			t.Fatalf("dims %v but %d data bytes", x.Dims, len(x.Data))
		}
		// Round trip: re-encoding gives the same decoded values.
		y, err := ParseIDX(bytes.NewReader(idxBytes(x.Dims, x.Data)))
		if err != nil || !slices.Equal(x.Dims, y.Dims) || !bytes.Equal(x.Data, y.Data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
