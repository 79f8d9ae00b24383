package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Settings are the settings a table was computed with (model, data, objective, thresholds...):
// every row of a table shares them. They are recorded next to the table, and a run that resumes
// or merges the table must have the same ones.
type Settings map[string]string

// Diff returns the names of the settings whose values differ between s and o (a setting missing
// from one of them differs), sorted.
func (s Settings) Diff(o Settings) []string {
	var out []string
	for k, v := range s {
		if w, ok := o[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range o {
		if _, ok := s[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// SettingsPath returns the path of the settings file of the table at path: path + ".json".
func SettingsPath(path string) string { return path + ".json" }

// format marks the settings files written by this package.
const format = "fisens results table 1"

// meta is the content of a table's settings file.
type meta struct {
	Format   string   `json:"format"`
	Header   []string `json:"header"`
	Kinds    []Kind   `json:"kinds,omitempty"`
	Key      []string `json:"key"`
	Shard    string   `json:"shard,omitempty"`
	Settings Settings `json:"settings"`
	legacy   bool     // read from a flat settings map written before this package
}

// readMeta reads the settings file of the table at path; ok is false when there is none.
func readMeta(path string) (m meta, ok bool, err error) {
	p := SettingsPath(path)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, err
	}
	m, err = parseMeta(data)
	if err != nil {
		return meta{}, false, fmt.Errorf("results: %s: %w (move it and %s away to start over)", p, err, path)
	}
	return m, true, nil
}

// parseMeta parses a settings file: this package's format, or a flat JSON object of settings as
// written by earlier versions (string values, or numbers kept as their JSON text).
func parseMeta(data []byte) (meta, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return meta{}, fmt.Errorf("not a settings file: %v", err)
	}
	if _, ok := probe["format"]; ok {
		var m meta
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return meta{}, fmt.Errorf("not a settings file: %v", err)
		}
		if m.Format != format {
			return meta{}, fmt.Errorf("settings format %q, want %q", m.Format, format)
		}
		if err := checkColumns(m.Header, m.Kinds, m.Key); err != nil {
			return meta{}, err
		}
		if m.Shard != "" {
			if _, err := ParseShard(m.Shard); err != nil {
				return meta{}, fmt.Errorf("shard: %v", err)
			}
		}
		if m.Settings == nil {
			m.Settings = Settings{}
		}
		return m, nil
	}
	m := meta{Settings: Settings{}, legacy: true}
	for k, raw := range probe {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			m.Settings[k] = s
		} else {
			m.Settings[k] = string(bytes.TrimSpace(raw))
		}
	}
	return m, nil
}

// checkColumns checks a header, its kinds (nil: all Text) and key columns.
func checkColumns(header []string, kinds []Kind, key []string) error {
	if len(header) == 0 {
		return fmt.Errorf("no columns")
	}
	seen := map[string]bool{}
	for _, h := range header {
		if h == "" || strings.ContainsAny(h, "\r\n") {
			return fmt.Errorf("column name %q", h)
		}
		if seen[h] {
			return fmt.Errorf("column %q appears twice", h)
		}
		seen[h] = true
	}
	if kinds != nil && len(kinds) != len(header) {
		return fmt.Errorf("%d kinds for %d columns", len(kinds), len(header))
	}
	for _, k := range kinds {
		if k != Text && k != Int && k != Float {
			return fmt.Errorf("column kind %q: want text, int or float", k)
		}
	}
	if len(key) == 0 {
		return fmt.Errorf("no key columns")
	}
	ks := map[string]bool{}
	for _, k := range key {
		if !seen[k] {
			return fmt.Errorf("key column %q is not a column of %v", k, header)
		}
		if ks[k] {
			return fmt.Errorf("key column %q given twice", k)
		}
		ks[k] = true
	}
	return nil
}

// settingsError describes settings that differ.
func settingsError(path string, recorded, want Settings) error {
	return fmt.Errorf("%w: %s was computed with %s; nothing was written: use another output file, or move %s and %s away to start over",
		ErrSettings, path, DiffText(recorded, want), path, SettingsPath(path))
}

func quoteMissing(s Settings, k string) string {
	if v, ok := s[k]; ok {
		return fmt.Sprintf("%q", v)
	}
	return "(not set)"
}

// encodeMeta returns the settings file content of m.
func encodeMeta(m meta) ([]byte, error) {
	m.Format = format
	if m.Settings == nil {
		m.Settings = Settings{}
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(js, '\n'), nil
}

// SettingsOf flattens v (a struct, map or JSON-encoded value given as json.RawMessage) into
// settings: one entry per leaf of its JSON form, named by its dotted path ("Config.Draws"), with
// the leaf's JSON text as value (strings unquoted).
func SettingsOf(v any) (Settings, error) {
	data, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	out := Settings{}
	var walk func(prefix string, x any)
	walk = func(prefix string, x any) {
		join := func(k string) string {
			if prefix == "" {
				return k
			}
			return prefix + "." + k
		}
		switch t := x.(type) {
		case map[string]any:
			for k, e := range t {
				walk(join(k), e)
			}
		case []any:
			for i, e := range t {
				walk(join(fmt.Sprint(i)), e)
			}
			if len(t) == 0 {
				out[prefix] = "[]"
			}
		case string:
			out[prefix] = t
		case nil:
			out[prefix] = "null"
		default:
			out[prefix] = fmt.Sprint(t)
		}
	}
	walk("", tree)
	return out, nil
}

// DiffText describes the settings that differ between recorded and want:
// `name = "a" (this run: "b"), ...`.
func DiffText(recorded, want Settings) string {
	fields := recorded.Diff(want)
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf("%s = %s (this run: %s)", f, quoteMissing(recorded, f), quoteMissing(want, f))
	}
	return strings.Join(parts, ", ")
}
