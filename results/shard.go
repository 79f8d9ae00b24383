package results

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Shard is one part of a job split N ways: it owns the units of work whose number u has
// u mod N == I. Its table lives in BASE.shard-I-of-N.csv next to the base table BASE.csv.
type Shard struct{ I, N int }

// All is the shard that owns everything (no sharding).
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

// Owns reports whether unit u belongs to this shard.
func (s Shard) Owns(u int) bool { return s.N <= 1 || u%s.N == s.I }

// String returns "i/n".
func (s Shard) String() string {
	if s.N < 1 {
		return All.String()
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Path returns the shard's table path: base itself for All, else base with ".shard-i-of-n"
// before the extension.
func (s Shard) Path(base string) string {
	if s.N <= 1 {
		return base
	}
	ext := filepath.Ext(base)
	return fmt.Sprintf("%s.shard-%d-of-%d%s", strings.TrimSuffix(base, ext), s.I, s.N, ext)
}

var shardName = regexp.MustCompile(`^(.*)\.shard-(\d+)-of-(\d+)(\.[^./]*)?$`)

// ShardOfPath reads the shard from a path named by Shard.Path: it returns the base path, the
// shard and true, or (path, All, false) for a name without a valid shard suffix.
func ShardOfPath(path string) (string, Shard, bool) {
	m := shardName.FindStringSubmatch(path)
	if m == nil {
		return path, All, false
	}
	i, err1 := strconv.Atoi(m[2])
	n, err2 := strconv.Atoi(m[3])
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return path, All, false
	}
	return m[1] + m[4], Shard{i, n}, true
}

// ShardPaths returns the shard tables of base that exist (BASE.shard-*-of-*.EXT), sorted.
func ShardPaths(base string) ([]string, error) {
	ext := filepath.Ext(base)
	found, err := filepath.Glob(globEscape(strings.TrimSuffix(base, ext)) + ".shard-*-of-*" + globEscape(ext))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range found {
		if b, _, ok := ShardOfPath(p); ok && b == base {
			out = append(out, p)
		}
	}
	return out, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
