package results

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Spec describes a table: its columns, the columns that identify a row, the settings its rows
// were computed with, and which shard of the work this run does.
type Spec struct {
	Columns  []Column // in file order
	Key      []string // column names whose values identify a row (e.g. "index", or "index", "layer")
	Settings Settings // recorded in PATH.json; a resumed or merged table must have the same
	Shard    Shard    // the zero value and All mean the whole table
}

// Header returns the column names.
func (s Spec) Header() []string {
	h := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		h[i] = c.Name
	}
	return h
}

func (s Spec) kinds() []Kind {
	k := make([]Kind, len(s.Columns))
	for i, c := range s.Columns {
		k[i] = c.Kind
		if k[i] == "" {
			k[i] = Text
		}
	}
	return k
}

// Table is a results table open for appending. It holds an exclusive lock on its file until
// Close. It is not safe for concurrent use by several goroutines.
type Table struct {
	path   string
	f      *os.File
	schema schema
	rows   [][]string     // the base table's rows (a shard run), then this file's
	index  map[string]int // key → row
	own    int            // rows in this file
	size   int64          // bytes of complete lines in the file
	err    error          // first write error: the table takes no more rows
}

// Open opens the table of spec at spec.Shard.Path(base) for appending, creating it (with its
// settings file PATH.json) if it does not exist, or resuming it if it does:
//
//   - a file that is not a table with exactly this header (a text file, a binary, a CSV of
//     another kind, a directory or device) is an ErrNotTable error and is never modified;
//   - an existing table whose recorded settings differ from spec.Settings is an ErrSettings error
//     naming the differing fields, and nothing is written;
//   - a table being written by another process is an ErrLocked error;
//   - a torn last line (an interrupted write) is dropped, only once the file is known to be ours.
//
// For a shard (spec.Shard.N > 1) the base table, when it exists, is read too (it must have the
// same header and settings): its rows count as done, so a shard never recomputes them.
func Open(base string, spec Spec) (*Table, error) {
	path := spec.Shard.Path(base)
	header := spec.Header()
	sch, err := newSchema(header, spec.kinds(), spec.Key)
	if err != nil {
		return nil, fmt.Errorf("results: %s: %v", path, err)
	}
	if spec.Settings == nil {
		spec.Settings = Settings{}
	}
	want := meta{Header: header, Kinds: sch.kinds, Key: spec.Key, Settings: spec.Settings}
	if spec.Shard.N > 1 {
		want.Shard = spec.Shard.String()
	}
	t := &Table{path: path, schema: sch, index: map[string]int{}}
	if spec.Shard.N > 1 {
		if err := t.readBase(base, want); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		err := t.open(want)
		if errors.Is(err, errRetry) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}

var errRetry = errors.New("retry")

// open does one attempt of Open (errRetry: the file changed under us; try again).
func (t *Table) open(want meta) error {
	path := t.path
	st, err := os.Stat(path)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("results: %w", err)
	}
	if exists && !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is a %s, not a regular file; it was left untouched", ErrNotTable, path, kindOf(st.Mode()))
	}
	rec, hasMeta, err := readMeta(path)
	if err != nil {
		return err
	}
	if hasMeta {
		if err := checkMeta(path, rec, want); err != nil {
			return err
		}
	}
	if !exists {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("results: %w", err)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			return errRetry
		}
		if err != nil {
			return fmt.Errorf("results: %w", err)
		}
		if err := lock(f, true); err != nil {
			f.Close() // another Open created it a moment ago and holds it
			return err
		}
		t.f = f
		if err := t.start(want); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := lock(f, true); err != nil {
		f.Close()
		return err
	}
	// The file we locked must still be the one at path (a merge may have replaced it).
	fst, err1 := f.Stat()
	pst, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(fst, pst) {
		f.Close()
		return errRetry
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("results: reading %s: %w", path, err)
	}
	if len(data) == 0 {
		// An empty file (created and killed before its header): start it.
		t.f = f
		if err := t.start(want); err != nil {
			f.Close()
			return err
		}
		return nil
	}
	p, err := parse(data, t.schema, path, true)
	if err != nil {
		f.Close()
		return err
	}
	// Verified ours: only now repair.
	if p.torn {
		if err := f.Truncate(p.good); err != nil {
			f.Close()
			return fmt.Errorf("results: %s: dropping a torn last line: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("results: %s: %w", path, err)
		}
	}
	if !hasMeta || rec.legacy {
		if err := writeFileAtomic(SettingsPath(path), mustEncode(want)); err != nil {
			f.Close()
			return err
		}
	}
	t.f = f
	t.size = p.good
	for _, r := range p.rows {
		if i, ok := t.index[t.schema.keyOf(r)]; ok {
			// Also in the base table (a shard that ran before a merge): they must agree.
			if !slices.Equal(t.rows[i], r) {
				f.Close()
				t.f = nil
				return fmt.Errorf("%w: two different rows for %s: %v in %s, %v in its base table",
					ErrCorrupt, t.schema.showKey(r), r, path, t.rows[i])
			}
		} else {
			t.add(r)
		}
		t.own++
	}
	return nil
}

// start writes the settings file and the header of a new table into the locked, empty t.f.
func (t *Table) start(want meta) error {
	if err := writeFileAtomic(SettingsPath(t.path), mustEncode(want)); err != nil {
		return err
	}
	head := encodeLine(want.Header)
	if _, err := t.f.WriteAt(head, 0); err != nil {
		return fmt.Errorf("results: writing %s: %w", t.path, err)
	}
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("results: writing %s: %w", t.path, err)
	}
	t.size = int64(len(head))
	return syncDir(filepath.Dir(t.path))
}

// readBase reads the base table of a shard (if any), whose rows count as done.
func (t *Table) readBase(base string, want meta) error {
	if _, err := os.Stat(base); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := checkTarget(base); err != nil {
		return err
	}
	data, err := os.ReadFile(base)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	m, ok, err := readMeta(base)
	if err != nil {
		return err
	}
	// A torn last line of the base (its run was interrupted) is ignored, not repaired: the base
	// is not this run's file.
	d, err := readData(base, data, m, ok, want.Key, true)
	if err != nil {
		return fmt.Errorf("%w (the base table of shard %s)", err, want.Shard)
	}
	w := want
	w.Shard = ""
	if err := checkMeta(base, meta{Header: d.Header, Kinds: d.Kinds, Key: d.Key, Settings: d.Settings, legacy: d.legacy}, w); err != nil {
		return err
	}
	for _, r := range d.Rows {
		t.add(r)
	}
	return nil
}

// checkMeta compares a table's recorded settings file with what a run wants.
func checkMeta(path string, rec, want meta) error {
	if len(rec.Settings.Diff(want.Settings)) > 0 {
		return settingsError(path, rec.Settings, want.Settings)
	}
	if rec.legacy {
		return nil
	}
	if !slices.Equal(rec.Header, want.Header) {
		return fmt.Errorf("%w: %s records columns %v, this run writes %v; nothing was written", ErrNotTable, SettingsPath(path), rec.Header, want.Header)
	}
	if !slices.Equal(rec.Key, want.Key) {
		return fmt.Errorf("%w: %s records key %v, this run uses %v; nothing was written", ErrNotTable, SettingsPath(path), rec.Key, want.Key)
	}
	if rec.Shard != want.Shard && !(rec.Shard == "" && want.Shard == All.String()) {
		return fmt.Errorf("%w: %s records shard %q, this run is shard %q; nothing was written", ErrNotTable, SettingsPath(path), rec.Shard, want.Shard)
	}
	return nil
}

func (t *Table) add(r []string) {
	t.index[t.schema.keyOf(r)] = len(t.rows)
	t.rows = append(t.rows, r)
}

// Path returns the file the table writes (the shard's file for a shard).
func (t *Table) Path() string { return t.path }

// Has reports whether a row with this key (the values of the key columns, in Spec.Key order) is
// in the table (or, for a shard, in its base table).
func (t *Table) Has(key ...string) bool {
	_, ok := t.index[joinKey(key)]
	return ok
}

// Row returns the row with this key, or nil.
func (t *Table) Row(key ...string) []string {
	if i, ok := t.index[joinKey(key)]; ok {
		return t.rows[i]
	}
	return nil
}

// Len returns the number of rows known (this file's, plus the base table's for a shard).
func (t *Table) Len() int { return len(t.rows) }

// Rows returns every row known (the base table's first for a shard, then this file's, each in
// file order). The slices must not be modified.
func (t *Table) Rows() [][]string { return t.rows }

func joinKey(key []string) string { return strings.Join(key, "\x00") }

// Append writes rows as one unit: the rows whose key is not yet in the table are appended with a
// single write and synced to disk before Append returns; rows whose key is already present are
// skipped (so a unit of several rows interrupted half-way resumes without duplicates). It returns
// how many rows it wrote. A row with the wrong number of fields or a value of the wrong kind, or
// two rows of one key in the call, is an error and nothing is written. After a write error the
// table takes no more rows.
func (t *Table) Append(rows ...[]string) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.f == nil {
		return 0, fmt.Errorf("results: %s: Append after Close", t.path)
	}
	var buf []byte
	var keys []string
	var fresh [][]string
	inCall := map[string]bool{}
	for _, r := range rows {
		if err := t.schema.check(r); err != nil {
			return 0, fmt.Errorf("results: %s: row %v: %v", t.path, r, err)
		}
		k := t.schema.keyOf(r)
		if inCall[k] {
			return 0, fmt.Errorf("results: %s: two rows for %s in one Append", t.path, t.schema.showKey(r))
		}
		inCall[k] = true
		if _, ok := t.index[k]; ok {
			continue
		}
		r = append([]string(nil), r...)
		buf = append(buf, encodeLine(r)...)
		keys = append(keys, k)
		fresh = append(fresh, r)
	}
	if len(buf) == 0 {
		return 0, nil
	}
	if _, err := t.f.WriteAt(buf, t.size); err != nil {
		t.f.Truncate(t.size) // best effort: do not leave a partial unit behind
		t.err = fmt.Errorf("results: writing %s: %w", t.path, err)
		return 0, t.err
	}
	if err := t.f.Sync(); err != nil {
		t.err = fmt.Errorf("results: writing %s: %w", t.path, err)
		return 0, t.err
	}
	t.size += int64(len(buf))
	for _, r := range fresh {
		t.add(r)
		t.own++
	}
	return len(fresh), nil
}

// Close releases the table (and its lock). It returns the first write error, if any, or the
// error of closing the file.
func (t *Table) Close() error {
	if t.f == nil {
		return t.err
	}
	err := t.f.Close()
	t.f = nil
	if t.err != nil {
		return t.err
	}
	if err != nil {
		return fmt.Errorf("results: closing %s: %w", t.path, err)
	}
	return nil
}

// Data is a table read back by Read.
type Data struct {
	Path     string
	Header   []string
	Kinds    []Kind   // nil for a table without a settings file, or an old one
	Key      []string // nil for a table without a settings file, or an old one
	Settings Settings // nil without a settings file
	Shard    Shard
	Rows     [][]string // in file order, each key once
	legacy   bool
}

// Col returns the index of column name, or -1.
func (d *Data) Col(name string) int {
	for i, h := range d.Header {
		if h == name {
			return i
		}
	}
	return -1
}

// Read reads a finished table and its settings file. Every line must parse (a cut last line is an
// error); rows are checked against the recorded column kinds, and rows of one key must agree.
// A table without a settings file (or with one from before this package) is read with key
// columns keyIfUnrecorded (nil: every row must merely parse).
func Read(path string, keyIfUnrecorded ...string) (*Data, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is a %s", ErrNotTable, path, kindOf(st.Mode()))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	m, ok, err := readMeta(path)
	if err != nil {
		return nil, err
	}
	return readData(path, data, m, ok, keyIfUnrecorded, false)
}

func readData(path string, data []byte, m meta, ok bool, keyIfUnrecorded []string, allowTorn bool) (*Data, error) {
	d := &Data{Path: path, Shard: All}
	if ok && !m.legacy {
		d.Header, d.Kinds, d.Key, d.Settings = m.Header, m.Kinds, m.Key, m.Settings
		if m.Shard != "" {
			d.Shard, _ = ParseShard(m.Shard)
		}
	} else {
		if ok {
			d.Settings, d.legacy = m.Settings, true
		}
		first, _, found := bytes.Cut(data, []byte("\n"))
		if !found {
			return nil, fmt.Errorf("%w: %s has no complete header line", ErrNotTable, path)
		}
		h, err := parseLine(first)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: header: %v", ErrNotTable, path, err)
		}
		d.Header = h
		d.Key = keyIfUnrecorded
		if _, sh, isShard := ShardOfPath(path); isShard {
			d.Shard = sh
		}
	}
	key := d.Key
	if len(key) == 0 {
		key = d.Header // no key known: a row is identified by all of it
	}
	s, err := newSchema(d.Header, d.Kinds, key)
	if err != nil {
		return nil, fmt.Errorf("results: %s: %v", path, err)
	}
	p, err := parse(data, s, path, allowTorn)
	if err != nil {
		return nil, err
	}
	d.Rows = p.rows
	return d, nil
}

func parseLine(b []byte) ([]string, error) { return readCSVLine(b) }

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeDevice != 0:
		return "device"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	}
	return "non-regular file"
}
