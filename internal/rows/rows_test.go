package rows

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestResumeDropsTornLineAndSkipsDone(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.csv")
	h := []string{"index", "layer", "fi"}
	f, err := Open(p, h, "index", "layer")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]string{"0", "a", "1.5"})
	f.Write([]string{"1", "a", "2.5"})
	f.Close()
	// Simulate a kill in the middle of a row.
	fh, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("2,a,3.")
	fh.Close()
	f, err = Open(p, h, "index", "layer")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Done(Key("0", "a")) || !f.Done(Key("1", "a")) || f.Done(Key("2", "a")) || f.NumDone() != 2 {
		t.Fatalf("done set wrong: %v", f.done)
	}
	f.Write([]string{"2", "a", "3.5"})
	f.Close()
	hd, recs, err := Read(p)
	if err != nil || len(hd) != 3 || len(recs) != 3 || recs[2][2] != "3.5" {
		t.Fatalf("read back %v %v %v", hd, recs, err)
	}
	if _, err := Open(p, []string{"index", "other"}, "index"); err == nil {
		t.Fatal("header mismatch must be an error")
	}
}

func TestShardsAndMerge(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "fi.csv")
	var paths []string
	for i := 0; i < 3; i++ {
		s, err := ParseShard(Shard{i, 3}.String())
		if err != nil {
			t.Fatal(err)
		}
		p := s.Path(base)
		paths = append(paths, p)
		f, _ := Open(p, []string{"index", "v"}, "index")
		for idx := 0; idx < 10; idx++ {
			if s.Owns(idx) {
				f.Write([]string{itoa(idx), "x"})
			}
		}
		f.Close()
	}
	n, err := Merge(base, append(paths, paths[0]), "index")
	if err != nil || n != 10 {
		t.Fatalf("merged %d rows, err %v", n, err)
	}
	_, recs, _ := Read(base)
	for i, r := range recs {
		if r[0] != itoa(i) {
			t.Fatalf("row %d has index %s", i, r[0])
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "a/b", "1"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) should fail", bad)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
