package results

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// readCSVLine parses one CSV line (without its newline).
func readCSVLine(b []byte) ([]string, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	if err != nil {
		return nil, err
	}
	if _, err := r.Read(); err == nil {
		return nil, fmt.Errorf("more than one record on the line")
	}
	return rec, nil
}

func mustEncode(m meta) []byte {
	b, err := encodeMeta(m)
	if err != nil {
		panic(err) // a struct of strings always encodes
	}
	return b
}

// checkTarget refuses to replace anything but a regular file (or nothing).
func checkTarget(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is a %s; only a regular file or a new path can be written", ErrNotTable, path, kindOf(st.Mode()))
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file in the same directory, synced and
// renamed into place, so that path holds either its old or its new content. path must be a
// regular file or not exist. Every error is returned.
func writeFileAtomic(path string, data []byte) error {
	return replaceFile(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// replaceFile is writeFileAtomic with the content written by fill.
func replaceFile(path string, fill func(*os.File) error) (err error) {
	if err := checkTarget(path); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	if err := checkTarget(path); err != nil { // it may have changed meanwhile
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return syncDir(dir)
}

// syncDir syncs a directory so that a rename or a new file in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("results: syncing %s: %w", dir, err)
	}
	return nil
}
