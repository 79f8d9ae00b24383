package models

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadONNX feeds LoadONNX arbitrary bytes (seeded with real fixtures and mutations of them):
// it must return a model or an error, never panic.
func FuzzLoadONNX(f *testing.F) {
	for _, name := range []string{"ops-1x28.onnx", "ops-logsoftmax-1x28.onnx"} {
		if data, err := os.ReadFile(filepath.Join("testdata", "onnx", name)); err == nil {
			f.Add(data)
			f.Add(data[:len(data)/2])
		}
	}
	f.Add([]byte{})
	f.Add([]byte("not an onnx file"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "m.onnx")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := LoadONNX(p, ONNXOptions{NoSidecar: true})
		if err == nil && m == nil {
			t.Fatal("LoadONNX returned neither a model nor an error")
		}
	})
}
