package results_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/fisens/fisens/results"
)

// A resumable per-example table: rows already present are skipped on the second run.
func Example() {
	dir, _ := os.MkdirTemp("", "results-example")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "fi.csv")
	spec := results.Spec{
		Columns:  []results.Column{results.IntCol("index"), results.FloatCol("fi")},
		Key:      []string{"index"},
		Settings: results.Settings{"model": "zoo:resnet-small-mnist", "objective": "log p(true)"},
	}
	for run := 1; run <= 2; run++ {
		t, err := results.Open(out, spec)
		if err != nil {
			fmt.Println(err)
			return
		}
		written := 0
		for i := 0; i < 2*run; i++ {
			if t.Has(strconv.Itoa(i)) {
				continue // done by an earlier run
			}
			n, err := t.Append([]string{strconv.Itoa(i), results.FormatFloat(0.5 * float64(i))})
			if err != nil {
				fmt.Println(err)
				return
			}
			written += n
		}
		if err := t.Close(); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("run %d wrote %d rows\n", run, written)
	}
	d, err := results.Read(out)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Header, d.Key, len(d.Rows), "rows, settings:", d.Settings["model"])

	// Resuming with other settings is refused, and nothing is written.
	spec.Settings = results.Settings{"model": "zoo:vgg-small-mnist", "objective": "log p(true)"}
	_, err = results.Open(out, spec)
	fmt.Println(err != nil)
	// Output:
	// run 1 wrote 2 rows
	// run 2 wrote 2 rows
	// [index fi] [index] 4 rows, settings: zoo:resnet-small-mnist
	// true
}
