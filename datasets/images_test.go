package datasets

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func grayImage(h, w int, v func(y, x int) uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.SetGray(x, y, color.Gray{Y: v(y, x)})
		}
	}
	return g
}

func TestLoadImages(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "b.png"), grayImage(4, 5, func(y, x int) uint8 { return uint8(10*y + x) }))
	writePNG(t, filepath.Join(dir, "a.png"), grayImage(4, 5, func(y, x int) uint8 { return 200 }))
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644)

	// No labels: only as "unlabeled".
	if _, err := Load(dir, SplitAll); err == nil || !strings.Contains(err.Error(), LabelsFile) {
		t.Errorf("Load without labels: %v, want an error naming %s", err, LabelsFile)
	}
	s, err := Load(ImagesPrefix+dir, SplitUnlabeled)
	if err != nil {
		t.Fatal(err)
	}
	if h, w, c := s.Dims(); s.Len() != 2 || h != 4 || w != 5 || c != 1 || !strings.Contains(s.Name(), "unlabeled") {
		t.Fatalf("unlabeled set %s: %d images %dx%dx%d", s.Name(), s.Len(), h, w, c)
	}
	if img := s.Image(1); img[5*2+3] != 23 { // b.png is second (sorted), pixel (2, 3)
		t.Errorf("b.png pixel (2,3) = %d, want 23", img[5*2+3])
	}
	// Labels.
	os.WriteFile(filepath.Join(dir, LabelsFile), []byte("file,label\na.png,3\nb.png,1\n"), 0o644)
	s, err = Load(dir, SplitAll)
	if err != nil {
		t.Fatal(err)
	}
	if s.Label(0) != 3 || s.Label(1) != 1 || s.NumClasses() != 4 {
		t.Errorf("labels %d %d classes %d, want 3 1 4", s.Label(0), s.Label(1), s.NumClasses())
	}
	if _, err := Load(dir, "train"); err == nil || !strings.Contains(err.Error(), `"all"`) {
		t.Errorf("Load split train: %v, want an error naming the folder's splits", err)
	}
	// A missing label is an error naming the image.
	writePNG(t, filepath.Join(dir, "c.png"), grayImage(4, 5, func(y, x int) uint8 { return 0 }))
	if _, err := LoadImages(dir, ImageOptions{}); err == nil || !strings.Contains(err.Error(), "c.png") {
		t.Errorf("missing label: %v, want an error naming c.png", err)
	}
	// A different size is an error unless resizing is asked for; RGB on request.
	os.Remove(filepath.Join(dir, "c.png"))
	writePNG(t, filepath.Join(dir, "c.png"), grayImage(8, 10, func(y, x int) uint8 { return 50 }))
	os.WriteFile(filepath.Join(dir, LabelsFile), []byte("a.png,3\nb.png,1\nc.png,0\n"), 0o644)
	if _, err := LoadImages(dir, ImageOptions{}); err == nil || !strings.Contains(err.Error(), "8x10") || !strings.Contains(err.Error(), "4x5") {
		t.Errorf("mixed sizes: %v, want an error naming both sizes", err)
	}
	s, err = LoadImages(dir, ImageOptions{Height: 4, Width: 5, Resize: true, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if h, w, c := s.Dims(); h != 4 || w != 5 || c != 3 || s.Image(2)[0] != 50 {
		t.Errorf("resized: %dx%dx%d, pixel %d", h, w, c, s.Image(2)[0])
	}
	// Not an image.
	os.WriteFile(filepath.Join(dir, "d.png"), []byte("not a png"), 0o644)
	if _, err := LoadImages(dir, ImageOptions{Unlabeled: true, Height: 4, Width: 5, Resize: true}); err == nil || !strings.Contains(err.Error(), "d.png") {
		t.Errorf("corrupt image: %v, want an error naming d.png", err)
	}
}
