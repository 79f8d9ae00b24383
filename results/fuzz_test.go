package results

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds arbitrary table and settings bytes to the reader: it must return an error or a
// table whose rows all have the header's width, and never panic.
func FuzzRead(f *testing.F) {
	good, _ := encodeMeta(meta{Header: []string{"index", "layer", "fi"}, Kinds: []Kind{Int, Text, Float}, Key: []string{"index", "layer"}})
	f.Add([]byte("index,layer,fi\n0,a,1.5\n0,all,2\n"), good)
	f.Add([]byte("index,layer,fi\n0,a,1.5\n0,a,2\n"), good)
	f.Add([]byte("index,layer,fi\n0,\"a,b\",1e300\n1,x,NaN\n"), []byte(`{"model":"x"}`))
	f.Add([]byte("index,layer,fi\n0,a,1."), []byte(`{}`))
	f.Add([]byte("\x00\xff\n\"\n"), []byte(`{"format":"fisens results table 1","header":["a"],"key":["a"]}`))
	f.Add([]byte(""), []byte("null"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data, js []byte) {
		p := filepath.Join(dir, "t.csv")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(SettingsPath(p), js, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Read(p, "index")
		if err != nil {
			return
		}
		for _, r := range d.Rows {
			if len(r) != len(d.Header) {
				t.Fatalf("row %q has %d fields, header %d", r, len(r), len(d.Header))
			}
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Fatalf("a table without a final newline was accepted: %q", data)
		}
	})
}
