package datasets

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadImages feeds an image folder arbitrary image bytes and an arbitrary labels.csv: LoadImages
// must return a set whose examples can all be read, or an error, never panic.
func FuzzLoadImages(f *testing.F) {
	img := image.NewGray(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.Gray{Y: 200})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes(), []byte("file,label\na.png,3\n"))
	f.Add(buf.Bytes(), []byte("a.png,1\n"))
	f.Add(buf.Bytes()[:20], []byte(""))
	f.Add([]byte("\xff\xd8\xff"), []byte("file,label\na.png,-1\n"))
	f.Fuzz(func(t *testing.T, imgBytes, labels []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.png"), imgBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		if len(labels) > 0 {
			if err := os.WriteFile(filepath.Join(dir, LabelsFile), labels, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		set, err := LoadImages(dir, ImageOptions{})
		if err != nil {
			return
		}
		idx := make([]int, set.Len())
		for i := range idx {
			idx[i] = i
		}
		if _, err := set.ReadBatch(idx, Raw255); err != nil {
			t.Fatalf("loaded set cannot be read: %v", err)
		}
	})
}
