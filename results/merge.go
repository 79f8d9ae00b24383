package results

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// MergeOptions tune Merge.
type MergeOptions struct {
	// Key names the key columns of inputs that record none (tables written before this package,
	// without a settings file). When the inputs record their key, Key must be nil or the same.
	Key []string
	// Partial accepts an incomplete set of shards (MergeShards uses it: the run that merges
	// computes what the missing shards would have).
	Partial bool
}

// Merge combines the tables inputs (typically the shards BASE.shard-i-of-n.csv of a run, and
// BASE.csv itself) into out, sorted by key, and writes out's settings file. It checks that
//
//   - every shard i/n of each n among the inputs is present (from the shard recorded in each
//     settings file, else from the file name);
//   - the inputs have the same columns, key and settings (differences are named);
//   - every line of every input parses, with values of the recorded kinds; a cut last line is an
//     error;
//   - rows with the same key agree (a conflict is an error naming the key and both files);
//   - no input is being written (each is locked while it is read);
//   - out is a regular file or a new path, and is one of the inputs if it exists (its rows are
//     never dropped silently).
//
// out and its settings file are replaced atomically (temporary file, sync, rename); every write,
// sync and close error is returned. Merge returns the number of rows written.
func Merge(out string, inputs []string, opt MergeOptions) (int, error) {
	if len(inputs) == 0 {
		return 0, fmt.Errorf("results: nothing to merge into %s", out)
	}
	if err := checkTarget(out); err != nil {
		return 0, err
	}
	if err := checkTarget(SettingsPath(out)); err != nil {
		return 0, err
	}
	// Distinct inputs, each opened and locked (shared) while it is read.
	type input struct {
		path string
		st   os.FileInfo
		d    *Data
	}
	var ins []*input
	outSt, outErr := os.Stat(out)
	outIsInput := false
	for _, p := range inputs {
		st, err := os.Stat(p)
		if err != nil {
			return 0, fmt.Errorf("results: %w", err)
		}
		dup := false
		for _, in := range ins {
			if os.SameFile(in.st, st) {
				dup = true
			}
		}
		if dup {
			continue
		}
		if outErr == nil && os.SameFile(outSt, st) {
			outIsInput = true
		}
		ins = append(ins, &input{path: p, st: st})
	}
	if outErr == nil && !outIsInput {
		return 0, fmt.Errorf("results: %s exists and is not among the inputs: name it as an input to merge into it, or remove it", out)
	}
	for _, in := range ins {
		f, err := os.Open(in.path)
		if err != nil {
			return 0, fmt.Errorf("results: %w", err)
		}
		defer f.Close()
		if err := lock(f, false); err != nil {
			return 0, err
		}
		st, err := f.Stat()
		if err != nil {
			return 0, fmt.Errorf("results: %w", err)
		}
		if !st.Mode().IsRegular() {
			return 0, fmt.Errorf("%w: %s is a %s", ErrNotTable, in.path, kindOf(st.Mode()))
		}
		data, err := io.ReadAll(f)
		if err != nil {
			return 0, fmt.Errorf("results: reading %s: %w", in.path, err)
		}
		m, ok, err := readMeta(in.path)
		if err != nil {
			return 0, err
		}
		if in.d, err = readData(in.path, data, m, ok, opt.Key, false); err != nil {
			return 0, err
		}
	}

	// Columns, key, settings.
	first := ins[0].d
	var kinds []Kind
	var key []string
	var settings Settings
	var from string // the input that recorded key and settings
	for _, in := range ins {
		d := in.d
		if !slices.Equal(d.Header, first.Header) {
			return 0, fmt.Errorf("%w: %s has columns %v, %s has %v", ErrCorrupt, in.path, d.Header, ins[0].path, first.Header)
		}
		if d.Kinds != nil {
			if kinds != nil && !slices.Equal(kinds, d.Kinds) {
				return 0, fmt.Errorf("%w: %s and %s record different column kinds", ErrCorrupt, from, in.path)
			}
			kinds = d.Kinds
		}
		if d.Settings != nil {
			if settings != nil {
				if diff := settings.Diff(d.Settings); len(diff) > 0 {
					return 0, fmt.Errorf("%w: %s and %s were computed with different settings: %s", ErrSettings, from, in.path, showDiff(settings, d.Settings, diff))
				}
			} else {
				settings, from = d.Settings, in.path
			}
		}
		if d.Key != nil && !d.legacy {
			if key != nil && !slices.Equal(key, d.Key) {
				return 0, fmt.Errorf("%w: %s has key %v, another input %v", ErrCorrupt, in.path, d.Key, key)
			}
			key = d.Key
		}
	}
	for _, in := range ins {
		if settings != nil && in.d.Settings == nil {
			return 0, fmt.Errorf("%w: %s has no settings file (%s), %s has: cannot check it was computed the same way",
				ErrSettings, in.path, SettingsPath(in.path), from)
		}
	}
	if key == nil {
		key = opt.Key
	} else if opt.Key != nil && !slices.Equal(opt.Key, key) {
		return 0, fmt.Errorf("results: key %v given, but the tables record key %v (leave the key out)", opt.Key, key)
	}
	if len(key) == 0 {
		return 0, fmt.Errorf("results: %s records no key columns (no settings file): name them (fisens merge --keys index,layer)", ins[0].path)
	}
	s, err := newSchema(first.Header, kinds, key)
	if err != nil {
		return 0, fmt.Errorf("results: %v", err)
	}

	// Shards: every i of each n.
	have := map[int]map[int]bool{}
	for _, in := range ins {
		if sh := in.d.Shard; sh.N > 1 {
			if have[sh.N] == nil {
				have[sh.N] = map[int]bool{}
			}
			have[sh.N][sh.I] = true
		}
	}
	for n, is := range have {
		var missing []string
		for i := 0; i < n; i++ {
			if !is[i] {
				missing = append(missing, fmt.Sprintf("%d/%d", i, n))
			}
		}
		if len(missing) > 0 && !opt.Partial {
			return 0, fmt.Errorf("results: merging into %s: shard(s) %s missing (a job of the array has not run, or its file was not named)",
				out, strings.Join(missing, ", "))
		}
	}

	// Rows: checked against the kinds, each key once, duplicates must agree.
	type origin struct {
		path string
		row  []string
	}
	seen := map[string]origin{}
	var all [][]string
	for _, in := range ins {
		for _, r := range in.d.Rows {
			if err := s.check(r); err != nil {
				return 0, fmt.Errorf("%w: %s: row %v: %v", ErrCorrupt, in.path, r, err)
			}
			k := s.keyOf(r)
			if o, ok := seen[k]; ok {
				if !slices.Equal(o.row, r) {
					return 0, fmt.Errorf("%w: two different rows for %s: %s has %v, %s has %v",
						ErrCorrupt, s.showKey(r), o.path, o.row, in.path, r)
				}
				continue
			}
			seen[k] = origin{in.path, r}
			all = append(all, r)
		}
	}
	sort.SliceStable(all, func(a, b int) bool { return s.compareKeys(all[a], all[b]) < 0 })

	// Write: the settings file first (it describes the inputs' rows as well as the merged ones),
	// then the table.
	m := meta{Header: first.Header, Kinds: kinds, Key: key, Settings: settings}
	if err := writeFileAtomic(SettingsPath(out), mustEncode(m)); err != nil {
		return 0, err
	}
	err = replaceFile(out, func(f *os.File) error {
		w := bufio.NewWriter(f)
		if _, err := w.Write(encodeLine(first.Header)); err != nil {
			return err
		}
		for _, r := range all {
			if _, err := w.Write(encodeLine(r)); err != nil {
				return err
			}
		}
		return w.Flush()
	})
	if err != nil {
		return 0, err
	}
	return len(all), nil
}

// MergeShards merges the shard tables of base (BASE.shard-i-of-n.csv) and base itself (if it
// exists) into base, for a run of the whole table after (some) shard runs. Each shard file is
// first opened as a table of spec (which checks its settings and drops a torn last line), then
// all are merged (missing shards are allowed: the run computes their rows). It does nothing when
// there are no shard files. Shard files are kept; merging again is harmless. It returns the
// number of shard files and of rows merged.
func MergeShards(base string, spec Spec) (shards, rows int, err error) {
	paths, err := ShardPaths(base)
	if err != nil || len(paths) == 0 {
		return 0, 0, err
	}
	shards = len(paths)
	if _, err := os.Stat(base); err == nil {
		paths = append([]string{base}, paths...)
	}
	for _, p := range paths {
		_, sh, _ := ShardOfPath(p)
		sp := spec
		sp.Shard = sh
		t, err := Open(base, sp)
		if err != nil {
			return 0, 0, err
		}
		if err := t.Close(); err != nil {
			return 0, 0, err
		}
	}
	n, err := Merge(base, paths, MergeOptions{Key: spec.Key, Partial: true})
	if err != nil {
		return 0, 0, fmt.Errorf("merging the shard files of %s: %w", base, err)
	}
	return shards, n, nil
}

func showDiff(a, b Settings, fields []string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf("%s = %s vs %s", f, quoteMissing(a, f), quoteMissing(b, f))
	}
	return strings.Join(parts, ", ")
}
