package results

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrSettings: the table was computed with other settings than the run's.
	ErrSettings = errors.New("results: settings differ")
	// ErrNotTable: the file exists but is not a results table of the expected kind (wrong
	// header, not CSV, not a regular file); it was left untouched.
	ErrNotTable = errors.New("results: not a results table")
	// ErrLocked: another process (or another Table in this one) is writing the table.
	ErrLocked = errors.New("results: the table is being written by another process")
	// ErrCorrupt: the table's rows do not parse (wrong field count, a field of the wrong kind, a
	// cut last line, conflicting rows for one key).
	ErrCorrupt = errors.New("results: corrupt table")
)

// Kind is the type of a column's values; Append and every reader check it.
type Kind string

const (
	Text  Kind = "text"  // any text without line breaks
	Int   Kind = "int"   // a decimal integer
	Float Kind = "float" // a float64 as strconv.ParseFloat reads it (NaN and ±Inf included)
)

// Column is one column of a table.
type Column struct {
	Name string
	Kind Kind
}

// TextCol, IntCol and FloatCol make columns.
func TextCol(name string) Column  { return Column{name, Text} }
func IntCol(name string) Column   { return Column{name, Int} }
func FloatCol(name string) Column { return Column{name, Float} }

// FormatFloat formats a float for a table: the shortest text that reads back as the same float64.
func FormatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// checkField checks one value against its kind.
func checkField(k Kind, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("value %q contains a line break", v)
	}
	switch k {
	case Int:
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case Float:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			// ParseFloat returns ±Inf with ErrRange for huge values: they do parse.
			var ne *strconv.NumError
			if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
				return fmt.Errorf("%q is not a number", v)
			}
		}
	}
	return nil
}

// encodeLine returns the CSV line of rec, ending with "\n".
func encodeLine(rec []string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(rec) // writing to a bytes.Buffer cannot fail
	w.Flush()
	return b.Bytes()
}

// schema is what a reader needs to parse rows.
type schema struct {
	header []string
	kinds  []Kind // nil: all Text
	key    []int  // column numbers of the key
}

func newSchema(header []string, kinds []Kind, key []string) (schema, error) {
	if err := checkColumns(header, kinds, key); err != nil {
		return schema{}, err
	}
	s := schema{header: header, kinds: kinds}
	for _, k := range key {
		for j, h := range header {
			if h == k {
				s.key = append(s.key, j)
			}
		}
	}
	return s, nil
}

// keyOf returns the key of a row (its key columns joined by NUL).
func (s schema) keyOf(rec []string) string {
	parts := make([]string, len(s.key))
	for i, c := range s.key {
		parts[i] = rec[c]
	}
	return strings.Join(parts, "\x00")
}

// showKey formats a key for messages: "index=3, layer=all".
func (s schema) showKey(rec []string) string {
	parts := make([]string, len(s.key))
	for i, c := range s.key {
		parts[i] = s.header[c] + "=" + rec[c]
	}
	return strings.Join(parts, ", ")
}

// check checks a row's field count and kinds.
func (s schema) check(rec []string) error {
	if len(rec) != len(s.header) {
		return fmt.Errorf("%d fields, want %d (%s)", len(rec), len(s.header), strings.Join(s.header, ","))
	}
	for j, v := range rec {
		k := Text
		if s.kinds != nil {
			k = s.kinds[j]
		}
		if err := checkField(k, v); err != nil {
			return fmt.Errorf("column %s: %v", s.header[j], err)
		}
	}
	return nil
}

// parsed is the content of a table file.
type parsed struct {
	rows  [][]string
	index map[string]int // key → row
	lines []int          // line number of each row (1-based)
	good  int64          // length of the complete lines (the header and every whole row)
	torn  bool           // bytes after the last newline
}

// parse reads a table file's content. The first line must be exactly the header (as this package
// writes it): otherwise the error wraps ErrNotTable and nothing else is looked at. Every complete
// line must be a row of the schema; identical rows of one key are kept once, different ones are an
// error. A last line without a newline is reported as torn (allowTorn) or an error.
func parse(data []byte, s schema, name string, allowTorn bool) (*parsed, error) {
	head := encodeLine(s.header)
	if !bytes.HasPrefix(data, head) {
		first, _, _ := bytes.Cut(data, []byte("\n"))
		if len(first) > 80 {
			first = append(first[:80:80], "..."...)
		}
		return nil, fmt.Errorf("%w: %s starts with %q, a table of this kind with %q; it was left untouched",
			ErrNotTable, name, first, bytes.TrimSuffix(head, []byte("\n")))
	}
	p := &parsed{index: map[string]int{}}
	end := bytes.LastIndexByte(data, '\n') + 1
	p.good = int64(end)
	if end < len(data) {
		if !allowTorn {
			return nil, fmt.Errorf("%w: %s: the last line is cut (no newline at the end of the file)", ErrCorrupt, name)
		}
		p.torn = true
	}
	body := data[len(head):end]
	line := 1
	for len(body) > 0 {
		line++
		i := bytes.IndexByte(body, '\n')
		ln := body[:i]
		body = body[i+1:]
		r := csv.NewReader(bytes.NewReader(ln))
		r.FieldsPerRecord = -1
		rec, err := r.Read()
		if err == nil {
			if _, err2 := r.Read(); err2 == nil {
				err = fmt.Errorf("more than one record on the line")
			}
		}
		if err == nil && len(ln) > 0 && ln[len(ln)-1] == '\r' {
			err = fmt.Errorf("carriage return at the end of the line")
		}
		if err == nil {
			err = s.check(rec)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrCorrupt, name, line, err)
		}
		k := s.keyOf(rec)
		if j, ok := p.index[k]; ok {
			if !slices.Equal(p.rows[j], rec) {
				return nil, fmt.Errorf("%w: %s lines %d and %d: two different rows for %s", ErrCorrupt, name, p.lines[j], line, s.showKey(rec))
			}
			continue
		}
		p.index[k] = len(p.rows)
		p.rows = append(p.rows, rec)
		p.lines = append(p.lines, line)
	}
	return p, nil
}

// compareKeys orders rows by their key columns, each compared as numbers when both parse, else
// as text.
func (s schema) compareKeys(a, b []string) int {
	for _, c := range s.key {
		x, ex := strconv.ParseFloat(a[c], 64)
		y, ey := strconv.ParseFloat(b[c], 64)
		if ex == nil && ey == nil && !math.IsNaN(x) && !math.IsNaN(y) {
			if x < y {
				return -1
			}
			if x > y {
				return 1
			}
		}
		if a[c] != b[c] {
			return strings.Compare(a[c], b[c])
		}
	}
	return 0
}
