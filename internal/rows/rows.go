// Package rows writes results one CSV row per unit of work, so that long runs resume where they
// stopped and can be split into shards for cluster job arrays.
//
// A file starts with a header. Open reads what an earlier (possibly interrupted) run wrote, drops
// a torn last line, checks the header and reports which keys are done; Write appends and flushes
// each row, so an interruption loses at most the row being written.
package rows

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// File is an append-only CSV results file.
type File struct {
	path   string
	f      *os.File
	w      *csv.Writer
	header []string
	keyCol []int
	done   map[string]bool
}

// Open opens (creating if needed) the results file at path with the given header. keyCols are
// the columns that identify a unit of work (e.g. "index" or "index","layer"); rows already in the
// file mark their keys done.
func Open(path string, header []string, keyCols ...string) (*File, error) {
	if len(keyCols) == 0 {
		return nil, fmt.Errorf("rows: %s: no key columns", path)
	}
	kc := make([]int, len(keyCols))
	for i, k := range keyCols {
		kc[i] = -1
		for j, h := range header {
			if h == k {
				kc[i] = j
			}
		}
		if kc[i] < 0 {
			return nil, fmt.Errorf("rows: %s: key column %q not in header %v", path, k, header)
		}
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	r := &File{path: path, header: header, keyCol: kc, done: map[string]bool{}}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if len(data) > 0 {
		// A run killed mid-write leaves a torn last line: drop it.
		if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
			data = data[:i+1]
			if err := os.Truncate(path, int64(len(data))); err != nil {
				return nil, fmt.Errorf("rows: %s: dropping a torn last line: %w", path, err)
			}
		}
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("rows: %s is not a valid CSV results file: %w (move it away to start over)", path, err)
		}
		if len(recs) > 0 {
			if strings.Join(recs[0], ",") != strings.Join(header, ",") {
				return nil, fmt.Errorf("rows: %s has header %v, this run writes %v: use another output file or move it away", path, recs[0], header)
			}
			for _, rec := range recs[1:] {
				r.done[r.key(rec)] = true
			}
		}
	}
	r.f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r.w = csv.NewWriter(r.f)
	if len(data) == 0 {
		if err := r.w.Write(header); err != nil {
			return nil, err
		}
		r.w.Flush()
	}
	return r, r.w.Error()
}

func (r *File) key(rec []string) string {
	parts := make([]string, len(r.keyCol))
	for i, c := range r.keyCol {
		if c < len(rec) {
			parts[i] = rec[c]
		}
	}
	return strings.Join(parts, "\x00")
}

// Key builds the key of a unit of work from its key-column values, in Open's order.
func Key(values ...string) string { return strings.Join(values, "\x00") }

// Done reports whether the unit with this key (see Key) is already in the file.
func (r *File) Done(key string) bool { return r.done[key] }

// NumDone returns how many units are in the file.
func (r *File) NumDone() int { return len(r.done) }

// Write appends one row and flushes it to the file.
func (r *File) Write(rec []string) error {
	if len(rec) != len(r.header) {
		return fmt.Errorf("rows: %s: row has %d fields, header has %d", r.path, len(rec), len(r.header))
	}
	if err := r.w.Write(rec); err != nil {
		return err
	}
	r.w.Flush()
	if err := r.w.Error(); err != nil {
		return fmt.Errorf("rows: writing %s: %w", r.path, err)
	}
	r.done[r.key(rec)] = true
	return nil
}

// Close closes the file.
func (r *File) Close() error {
	r.w.Flush()
	return r.f.Close()
}

// Read returns the header and rows of a results file.
func Read(path string) ([]string, [][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("rows: reading %s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("rows: %s is empty", path)
	}
	return recs[0], recs[1:], nil
}

// Shard is one part of a job split n ways: it owns the units whose index i has i mod N == I.
type Shard struct{ I, N int }

// All is the shard that owns everything.
var All = Shard{0, 1}

// ParseShard parses "i/n" (0 ≤ i < n); "" means All.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return All, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("--shard %q: want i/n with 0 ≤ i < n, e.g. 3/10", s)
	}
	return Shard{i, n}, nil
}

// Owns reports whether unit index belongs to this shard.
func (s Shard) Owns(index int) bool { return s.N <= 1 || index%s.N == s.I }

// String returns "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// Path returns the shard's output path: base itself for All, else base with ".shard-i-of-n"
// before the extension.
func (s Shard) Path(base string) string {
	if s.N <= 1 {
		return base
	}
	ext := filepath.Ext(base)
	return fmt.Sprintf("%s.shard-%d-of-%d%s", strings.TrimSuffix(base, ext), s.I, s.N, ext)
}

// Merge combines shard files (same header) into out, dropping duplicate keys and sorting rows by
// the numeric value of the first key column (then the others as text).
func Merge(out string, inputs []string, keyCols ...string) (int, error) {
	if len(inputs) == 0 {
		return 0, fmt.Errorf("rows: nothing to merge into %s", out)
	}
	var header []string
	seen := map[string]bool{}
	var all [][]string
	var kc []int
	for _, in := range inputs {
		h, recs, err := Read(in)
		if err != nil {
			return 0, err
		}
		if header == nil {
			header = h
			for _, k := range keyCols {
				idx := -1
				for j, c := range h {
					if c == k {
						idx = j
					}
				}
				if idx < 0 {
					return 0, fmt.Errorf("rows: %s: key column %q not in header", in, k)
				}
				kc = append(kc, idx)
			}
		} else if strings.Join(h, ",") != strings.Join(header, ",") {
			return 0, fmt.Errorf("rows: %s has header %v, %s has %v", in, h, inputs[0], header)
		}
		for _, rec := range recs {
			parts := make([]string, len(kc))
			for i, c := range kc {
				parts[i] = rec[c]
			}
			k := strings.Join(parts, "\x00")
			if !seen[k] {
				seen[k] = true
				all = append(all, rec)
			}
		}
	}
	sort.SliceStable(all, func(a, b int) bool {
		x, ex := strconv.ParseFloat(all[a][kc[0]], 64)
		y, ey := strconv.ParseFloat(all[b][kc[0]], 64)
		if ex == nil && ey == nil && x != y {
			return x < y
		}
		for _, c := range kc {
			if all[a][c] != all[b][c] {
				return all[a][c] < all[b][c]
			}
		}
		return false
	})
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	w := csv.NewWriter(f)
	w.Write(header)
	w.WriteAll(all)
	if err := w.Error(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return len(all), os.Rename(tmp, out)
}
