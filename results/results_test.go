package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// perLayer is the spec of a per-layer table like `fisens fi --perturb params`.
func perLayer(settings Settings) Spec {
	return Spec{
		Columns:  []Column{IntCol("index"), TextCol("layer"), FloatCol("fi"), IntCol("rank")},
		Key:      []string{"index", "layer"},
		Settings: settings,
	}
}

var layers = []string{"/conv1", "/conv2", "/dense1", "/dense2", "/out", "all"}

// unit returns the rows of one example of a per-layer table.
func unit(i int) [][]string {
	var out [][]string
	for k, l := range layers {
		out = append(out, []string{strconv.Itoa(i), l, FormatFloat(float64(i) + float64(k)/10), strconv.Itoa(k % 10)})
	}
	return out
}

func mustOpen(t *testing.T, base string, spec Spec) *Table {
	t.Helper()
	tb, err := Open(base, spec)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func mustAppend(t *testing.T, tb *Table, rows ...[]string) int {
	t.Helper()
	n, err := tb.Append(rows...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustClose(t *testing.T, tb *Table) {
	t.Helper()
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
}

func readBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Defect: resuming with other settings appended rows and rewrote the settings file. Now: an
// error naming each differing field, and neither file changes.
func TestResumeWithOtherSettingsWritesNothing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fi.csv")
	a := Settings{"model": "zoo:a", "objective": "log p(true)", "rel_tol": "1e-13", "split": "test"}
	tb := mustOpen(t, p, perLayer(a))
	mustAppend(t, tb, unit(0)...)
	mustClose(t, tb)
	csv0, js0 := readBytes(t, p), readBytes(t, SettingsPath(p))
	b := Settings{"model": "zoo:a", "objective": "log p(pred)", "rel_tol": "1e-10", "split": "test", "form": "scaling"}
	_, err := Open(p, perLayer(b))
	if !errors.Is(err, ErrSettings) {
		t.Fatalf("want ErrSettings, got %v", err)
	}
	for _, f := range []string{"objective", "rel_tol", "form"} {
		if !strings.Contains(err.Error(), f+" = ") {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
	if strings.Contains(err.Error(), "model =") || strings.Contains(err.Error(), "split =") {
		t.Errorf("error names a field that agrees: %v", err)
	}
	if !bytes.Equal(csv0, readBytes(t, p)) || !bytes.Equal(js0, readBytes(t, SettingsPath(p))) {
		t.Fatal("a refused resume modified the table or its settings")
	}
	// The same settings resume.
	tb = mustOpen(t, p, perLayer(a))
	if tb.Len() != len(layers) || !tb.Has("0", "all") {
		t.Fatalf("resumed table has %d rows", tb.Len())
	}
	mustClose(t, tb)
}

// Defect: the torn-line repair cut the last line of any file named as output, and a file without
// content lines was overwritten. Now nothing that is not one of its tables is modified.
func TestForeignFilesAreNeverModified(t *testing.T) {
	dir := t.TempDir()
	bin := make([]byte, 4096)
	for i := range bin {
		bin[i] = byte(i*7 + 3)
	}
	cases := map[string][]byte{
		"notes.txt":      []byte("my notes\nthe last line has no newline"),
		"model.bin":      bin,
		"other.csv":      []byte("a,b,c\n1,2,3\n4,5"),
		"header-ish.csv": []byte("index,layer"), // a prefix of the header, no newline
		"index-only.csv": []byte("index\n1\n2"),
	}
	for name, content := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(p, perLayer(Settings{"model": "x"}))
		if !errors.Is(err, ErrNotTable) {
			t.Errorf("%s: want ErrNotTable, got %v", name, err)
		}
		if !bytes.Equal(readBytes(t, p), content) {
			t.Errorf("%s was modified", name)
		}
		if _, err := os.Stat(SettingsPath(p)); err == nil {
			t.Errorf("%s: a settings file was written next to a foreign file", name)
		}
	}
	// A directory and a device.
	for _, p := range []string{dir, "/dev/null"} {
		if _, err := Open(p, perLayer(nil)); !errors.Is(err, ErrNotTable) {
			t.Errorf("%s: want ErrNotTable, got %v", p, err)
		}
	}
}

// A torn last line of one of its own tables (a write cut by a kill) is dropped on resume.
func TestTornLastLineRepairedOnOwnTable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fi.csv")
	spec := perLayer(Settings{"model": "x"})
	tb := mustOpen(t, p, spec)
	mustAppend(t, tb, unit(0)...)
	mustClose(t, tb)
	good := readBytes(t, p)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("1,/conv1,1.")
	f.Close()
	if _, err := Read(p); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a torn table: want ErrCorrupt, got %v", err)
	}
	tb = mustOpen(t, p, spec)
	if !bytes.Equal(readBytes(t, p), good) {
		t.Fatal("the torn line was not dropped")
	}
	if tb.Has("1", "/conv1") || tb.Len() != len(layers) {
		t.Fatal("the torn row counts as done")
	}
	mustClose(t, tb)
}

// Defect: `--perturb params` interrupted between the layer rows of one example resumed with
// duplicate (index, layer) rows. Now the unit's rows are written with one write, and a unit whose
// first rows made it to disk (an interruption of the old writer, or a cut write) resumes with
// only the rows it lacks.
func TestUnitInterruptedBetweenRowsResumesWithoutDuplicates(t *testing.T) {
	p := filepath.Join(t.TempDir(), "params.csv")
	spec := perLayer(Settings{"model": "x"})
	tb := mustOpen(t, p, spec)
	mustAppend(t, tb, unit(0)...)
	// Example 1 interrupted after two of its layer rows, and in the middle of the third.
	u := unit(1)
	mustAppend(t, tb, u[0])
	mustAppend(t, tb, u[1])
	mustClose(t, tb)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(encodeLine(u[2])[:5])
	f.Close()

	tb = mustOpen(t, p, spec)
	if tb.Has("1", "all") {
		t.Fatal("example 1 counts as done")
	}
	if n := mustAppend(t, tb, unit(1)...); n != len(layers)-2 {
		t.Fatalf("resumed unit wrote %d rows, want %d", n, len(layers)-2)
	}
	mustClose(t, tb)
	d, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rows) != 2*len(layers) {
		t.Fatalf("%d rows, want %d", len(d.Rows), 2*len(layers))
	}
	seen := map[string]bool{}
	for _, r := range d.Rows {
		k := r[0] + "/" + r[1]
		if seen[k] {
			t.Fatalf("duplicate row %s", k)
		}
		seen[k] = true
	}
	// A file that already holds conflicting rows of one key is corrupt (never silently kept).
	data := append(readBytes(t, p), encodeLine([]string{"0", "/conv1", "99", "0"})...)
	os.WriteFile(p, data, 0o644)
	if _, err := Open(p, spec); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "index=0, layer=/conv1") {
		t.Fatalf("want ErrCorrupt naming the key, got %v", err)
	}
}

// Rows are checked before anything is written.
func TestAppendChecksRows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.csv")
	tb := mustOpen(t, p, perLayer(nil))
	defer tb.Close()
	for _, bad := range [][][]string{
		{{"0", "a", "1"}},
		{{"x", "a", "1", "2"}},
		{{"0", "a", "one", "2"}},
		{{"0", "a\nb", "1", "2"}},
		{{"0", "a", "1", "2"}, {"0", "a", "1", "2"}},
	} {
		if _, err := tb.Append(bad...); err == nil {
			t.Errorf("Append(%q): want an error", bad)
		}
	}
	if tb.Len() != 0 {
		t.Fatal("a refused Append wrote rows")
	}
	if d, err := Read(p); err != nil || len(d.Rows) != 0 {
		t.Fatalf("after refused appends: %v, %v", d, err)
	}
}

// Defect: two processes writing the same --out produced every row twice. Now the second is
// refused.
func TestSecondWriterIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fi.csv")
	spec := perLayer(nil)
	tb := mustOpen(t, p, spec)
	if _, err := Open(p, spec); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: want ErrLocked, got %v", err)
	}
	// Merging a table that is being written is refused too.
	if _, err := Merge(filepath.Join(filepath.Dir(p), "m.csv"), []string{p}, MergeOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("merge of a table being written: want ErrLocked, got %v", err)
	}
	mustClose(t, tb)
	mustClose(t, mustOpen(t, p, spec))
}

// The lock of a process that dies is released by the kernel.
func TestLockReleasedWhenTheWriterDies(t *testing.T) {
	if p := os.Getenv("RESULTS_TEST_HOLD"); p != "" {
		if _, err := Open(p, perLayer(nil)); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	p := filepath.Join(t.TempDir(), "fi.csv")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLockReleasedWhenTheWriterDies$")
	cmd.Env = append(os.Environ(), "RESULTS_TEST_HOLD="+p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "locked") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", buf[:n])
	}
	if _, err := Open(p, perLayer(nil)); !errors.Is(err, ErrLocked) {
		t.Errorf("while the child holds it: want ErrLocked, got %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	mustClose(t, mustOpen(t, p, perLayer(nil)))
}

// shardRun writes examples owned by shard sh of n examples into base's shard file.
func shardRun(t *testing.T, base string, sh Shard, n int, settings Settings) string {
	t.Helper()
	spec := perLayer(settings)
	spec.Shard = sh
	tb := mustOpen(t, base, spec)
	for i := 0; i < n; i++ {
		if sh.Owns(i) && !tb.Has(strconv.Itoa(i), "all") {
			mustAppend(t, tb, unit(i)...)
		}
	}
	mustClose(t, tb)
	return tb.Path()
}

// Defect: merge with its default key kept 2 of 18 per-layer rows, and wrote no settings. Now the
// key comes from the tables' settings files.
func TestMergeKeepsEveryRowAndWritesSettings(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "params.csv")
	s := Settings{"model": "x", "perturb": "params"}
	a := shardRun(t, base, Shard{0, 2}, 3, s)
	b := shardRun(t, base, Shard{1, 2}, 3, s)
	out := filepath.Join(dir, "merged.csv")
	n, err := Merge(out, []string{a, b}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 18 {
		t.Fatalf("merged %d rows, want 18", n)
	}
	d, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rows) != 18 || d.Settings["model"] != "x" || strings.Join(d.Key, ",") != "index,layer" || d.Shard != All {
		t.Fatalf("merged table: %d rows, settings %v, key %v, shard %v", len(d.Rows), d.Settings, d.Key, d.Shard)
	}
	if d.Rows[0][0] != "0" || d.Rows[17][0] != "2" {
		t.Fatalf("not sorted by index: first %v, last %v", d.Rows[0], d.Rows[17])
	}
	// An explicit key that disagrees with the recorded one is refused (the old default "index").
	if _, err := Merge(filepath.Join(dir, "m2.csv"), []string{a, b}, MergeOptions{Key: []string{"index"}}); err == nil {
		t.Fatal("merge with a key other than the recorded one: want an error")
	}
	// Merging again into the merged table (it is an input) is harmless.
	if n, err := Merge(out, []string{out, a, b}, MergeOptions{}); err != nil || n != 18 {
		t.Fatalf("re-merge: %d, %v", n, err)
	}
	// MergeShards merges into the base and a shard run then sees the base's rows as done.
	if _, n, err := MergeShards(base, perLayer(s)); err != nil || n != 18 {
		t.Fatalf("MergeShards: %d, %v", n, err)
	}
	spec := perLayer(s)
	spec.Shard = Shard{0, 2}
	tb := mustOpen(t, base, spec)
	if !tb.Has("1", "all") || tb.Len() != 18 {
		t.Fatalf("shard run after a merge: has(1, all) = %v, %d rows known", tb.Has("1", "all"), tb.Len())
	}
	mustClose(t, tb)
}

// Defects: merge kept the first of two conflicting rows, accepted a missing shard and a cut last
// field, accepted shards computed with other settings.
func TestMergeRefusesBadInputs(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "params.csv")
	s := Settings{"model": "x"}
	a := shardRun(t, base, Shard{0, 3}, 6, s)
	b := shardRun(t, base, Shard{1, 3}, 6, s)
	c := shardRun(t, base, Shard{2, 3}, 6, s)
	out := filepath.Join(dir, "out.csv")
	check := func(name string, inputs []string, want error, mention ...string) {
		t.Helper()
		_, err := Merge(out, inputs, MergeOptions{})
		if err == nil || (want != nil && !errors.Is(err, want)) {
			t.Errorf("%s: got %v, want %v", name, err, want)
			return
		}
		for _, m := range mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error does not mention %q: %v", name, m, err)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: a refused merge wrote %s", name, out)
		}
	}
	check("missing shard", []string{a, c}, nil, "1/3")

	// A conflicting row: the same key with another value, in a copy of shard 1 named as shard 1 of
	// another table.
	cp := filepath.Join(dir, "copy.shard-1-of-3.csv")
	data := readBytes(t, b)
	data = bytes.Replace(data, []byte("1,/conv1,1,0\n"), []byte("1,/conv1,1.5,0\n"), 1)
	os.WriteFile(cp, data, 0o644)
	os.WriteFile(SettingsPath(cp), readBytes(t, SettingsPath(b)), 0o644)
	check("conflicting rows", []string{a, b, c, cp}, ErrCorrupt, "index=1, layer=/conv1", b, cp)

	// A cut last field.
	cut := readBytes(t, c)
	os.WriteFile(c, cut[:len(cut)-3], 0o644)
	check("cut last field", []string{a, b, c}, ErrCorrupt, "cut")
	os.WriteFile(c, cut, 0o644)

	// A field that does not parse.
	os.WriteFile(c, bytes.Replace(cut, []byte(",0\n"), []byte(",zero\n"), 1), 0o644)
	check("unparsable field", []string{a, b, c}, ErrCorrupt, "rank")
	os.WriteFile(c, cut, 0o644)

	// Other settings.
	d := shardRun(t, filepath.Join(dir, "other.csv"), Shard{1, 3}, 6, Settings{"model": "y"})
	check("other settings", []string{a, d, c}, ErrSettings, "model")

	// An existing output that is not an input would lose its rows.
	os.WriteFile(out, []byte("precious\n"), 0o644)
	if _, err := Merge(out, []string{a, b, c}, MergeOptions{}); err == nil || string(readBytes(t, out)) != "precious\n" {
		t.Errorf("merge onto an unrelated file: %v", err)
	}
	os.Remove(out)
	if n, err := Merge(out, []string{a, b, c}, MergeOptions{}); err != nil || n != 36 {
		t.Fatalf("good merge: %d, %v", n, err)
	}
}

// Defect: merge replaced /dev/full by a regular file (temp + rename onto a device).
func TestMergeRefusesNonRegularTargets(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "t.csv")
	a := shardRun(t, base, All, 2, nil)
	for _, target := range []string{"/dev/full", dir} {
		if _, err := Merge(target, []string{a}, MergeOptions{}); !errors.Is(err, ErrNotTable) {
			t.Errorf("merge into %s: want ErrNotTable, got %v", target, err)
		}
	}
	if st, err := os.Stat("/dev/full"); err != nil || st.Mode()&os.ModeDevice == 0 {
		t.Fatalf("/dev/full is no longer a device: %v %v", st, err)
	}
	// A settings path that is not a regular file is refused too, before the table is written.
	out := filepath.Join(dir, "m.csv")
	os.Mkdir(SettingsPath(out), 0o755)
	if _, err := Merge(out, []string{a}, MergeOptions{}); err == nil {
		t.Error("merge with a directory as settings path: want an error")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the table was written although its settings could not be")
	}
}

// Tables without a settings file (or with a flat one from before this package) still work.
func TestLegacyTables(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "old.csv")
	os.WriteFile(p, []byte("index,layer,fi,rank\n0,a,1,1\n0,all,2,1\n"), 0o644)
	os.WriteFile(SettingsPath(p), []byte(`{"model": "x", "rel_tol": 1e-13}`+"\n"), 0o644)
	if _, err := Open(p, perLayer(Settings{"model": "x", "rel_tol": "1e-10"})); !errors.Is(err, ErrSettings) {
		t.Fatalf("legacy settings that differ: %v", err)
	}
	tb := mustOpen(t, p, perLayer(Settings{"model": "x", "rel_tol": "1e-13"}))
	if !tb.Has("0", "all") {
		t.Fatal("legacy rows not read")
	}
	mustClose(t, tb)
	d, err := Read(p)
	if err != nil || strings.Join(d.Key, ",") != "index,layer" {
		t.Fatalf("upgraded settings: %v, %v", d, err)
	}
	// No settings file: Merge needs the key.
	q := filepath.Join(dir, "bare.csv")
	os.WriteFile(q, []byte("index,layer,fi,rank\n1,a,1,1\n"), 0o644)
	if _, err := Merge(filepath.Join(dir, "m.csv"), []string{q}, MergeOptions{}); err == nil {
		t.Fatal("merge without any key: want an error")
	}
	if n, err := Merge(filepath.Join(dir, "m.csv"), []string{q}, MergeOptions{Key: []string{"index", "layer"}}); err != nil || n != 1 {
		t.Fatalf("merge with a key: %d, %v", n, err)
	}
}

func TestShardPaths(t *testing.T) {
	for _, c := range []struct {
		s    Shard
		base string
		want string
	}{{All, "a/fi.csv", "a/fi.csv"}, {Shard{2, 5}, "a/fi.csv", "a/fi.shard-2-of-5.csv"}, {Shard{0, 2}, "x", "x.shard-0-of-2"}} {
		got := c.s.Path(c.base)
		if got != c.want {
			t.Errorf("%v.Path(%s) = %s", c.s, c.base, got)
		}
		b, sh, ok := ShardOfPath(got)
		if ok != (c.s.N > 1) || (ok && (b != c.base || sh != c.s)) {
			t.Errorf("ShardOfPath(%s) = %s, %v, %v", got, b, sh, ok)
		}
	}
	for _, bad := range []string{"1", "2/2", "-1/3", "a/b", "1/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q): want an error", bad)
		}
	}
	if s, err := ParseShard("3/10"); err != nil || s != (Shard{3, 10}) || !s.Owns(13) || s.Owns(4) {
		t.Errorf("ParseShard(3/10) = %v, %v", s, err)
	}
}

func TestParser(t *testing.T) {
	p := Parser{Row: []string{"3", "x", "1.5", "NaN", "1e999"}}
	if p.Int(0) != 3 || p.Text(1) != "x" || p.Float(2) != 1.5 || p.Float(3) == p.Float(3) || p.Float(4) < 1e308 || p.Err != nil {
		t.Fatalf("parser: %v", p.Err)
	}
	p.Int(1)
	first := p.Err
	p.Float(9)
	if first == nil || p.Err != first {
		t.Fatalf("errors: %v, %v", first, p.Err)
	}
}

// A write error is returned, and the table takes no more rows (Close returns it too).
func TestWriteErrorsAreReturned(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.csv")
	tb := mustOpen(t, p, perLayer(nil))
	mustAppend(t, tb, unit(0)...)
	tb.f.Close() // the descriptor goes bad under the table, as a failing disk would
	if _, err := tb.Append(unit(1)...); err == nil {
		t.Fatal("Append on a failed file: no error")
	}
	if _, err := tb.Append(unit(2)...); err == nil {
		t.Fatal("Append after a write error: no error")
	}
	if err := tb.Close(); err == nil {
		t.Fatal("Close after a write error: no error")
	}
	if d, err := Read(p); err != nil || len(d.Rows) != len(layers) {
		t.Fatalf("after the error: %v, %v", d, err)
	}
}

func TestSettingsOf(t *testing.T) {
	type cfg struct {
		Draws  int
		Qs     []float64
		Name   string
		Nested struct{ On bool }
	}
	a, err := SettingsOf(struct {
		Config cfg
		Seed   int64
	}{cfg{Draws: 2, Qs: []float64{0.1, 0.5}, Name: "x"}, 7})
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{"Config.Draws": "2", "Config.Qs.0": "0.1", "Config.Qs.1": "0.5", "Config.Name": "x", "Config.Nested.On": "false", "Seed": "7"}
	if d := a.Diff(want); len(d) > 0 {
		t.Fatalf("SettingsOf: %v differ (%v)", d, a)
	}
	b, _ := SettingsOf(json.RawMessage(`{"Config": {"Draws": 3, "Qs": [0.1, 0.5], "Name": "x", "Nested": {"On": false}}, "Seed": 7}`))
	if txt := DiffText(a, b); txt != `Config.Draws = "2" (this run: "3")` {
		t.Fatalf("DiffText: %s", txt)
	}
}
