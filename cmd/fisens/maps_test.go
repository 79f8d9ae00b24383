package main

import (
	"encoding/csv"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeTestPNG(t *testing.T, path string, h, w int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(7 * x), uint8(5 * y), uint8((x * y) % 256), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestMapsCommand runs `fisens maps` on an imported ONNX model (the NHWC fixture: its gradients
// work on the pure-Go backend without the backend decorator) and a PNG image.
func TestMapsCommand(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "cat.png")
	writeTestPNG(t, img, 32, 32)
	model := filepath.Join("..", "..", "models", "testdata", "onnx", "nhwc-3x32.onnx")
	out := filepath.Join(dir, "out")
	if err := runMaps([]string{"--model", model, "--image", img, "--out", out, "--backend", "go"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cat-maps.csv", "cat-maps.json", "cat-image.png", "cat-fi.png", "cat-fi.svg", "cat-rank.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	f, err := os.Open(filepath.Join(out, "cat-maps.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 4*3*32*32; len(rows) != want {
		t.Fatalf("%d CSV rows, want %d (header + 4 scales × 3 channels × 32 × 32)", len(rows), want)
	}
	for _, r := range rows[1:] {
		k, _ := strconv.Atoi(r[0])
		rank, _ := strconv.Atoi(r[5])
		fi, _ := strconv.ParseFloat(r[4], 64)
		bound, _ := strconv.ParseFloat(r[6], 64)
		if rank > min(k*k, 9) || fi < 0 || fi > bound*(1+1e-9) {
			t.Fatalf("row %v: rank ≤ min(k², K−1) and 0 ≤ FI ≤ bound violated", r)
		}
	}
	var s mapsSettings
	data, _ := os.ReadFile(filepath.Join(out, "cat-maps.json"))
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.ModelConfig.ONNX == nil || s.ModelConfig.ONNX.Preprocessing.Scale == 0 || s.Whole.Rank != 9 {
		t.Errorf("settings lack the ONNX preprocessing or the whole-image rank: %+v", s)
	}
	// A wrong image size is an error naming both sizes, unless --resize.
	small := filepath.Join(dir, "small.png")
	writeTestPNG(t, small, 20, 24)
	err = runMaps([]string{"--model", model, "--image", small, "--out", out, "--backend", "go"})
	if err == nil || !strings.Contains(err.Error(), "20x24") || !strings.Contains(err.Error(), "32x32") {
		t.Errorf("wrong size: %v, want an error naming 20x24 and 32x32", err)
	}
	if err := runMaps([]string{"--model", model, "--image", small, "--resize", "--scales", "1,3", "--out", out, "--backend", "go"}); err != nil {
		t.Errorf("--resize: %v", err)
	}
}
