package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fisens/fisens/experiments"
)

// TestPaperSmokeSettingsParse checks, in milliseconds, that every entry of the paper smoke run's
// settings (testdata/paper-smoke.set, read by TestPaperScale and scripts/slurm-local.sh) names a
// field of its experiment and fits its type: a bad entry otherwise surfaces only in those minutes-long runs.
func TestPaperSmokeSettingsParse(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "paper-smoke.set"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, err := experiments.ParseOverrides(l); err != nil {
			t.Errorf("testdata/paper-smoke.set: %v", err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("testdata/paper-smoke.set has no entries")
	}
}
