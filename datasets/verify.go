package datasets

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/fisens/fisens/internal/progress"
)

// canonicalHist holds the published label histograms of the canonical files (train, test).
var canonicalHist = map[string][2][]int{
	MNIST: {
		{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949},
		{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009},
	},
	FashionMNIST: {
		{6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000},
		{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000},
	},
	CIFAR10: {
		{5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000},
		{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000},
	},
}

// Report is the outcome of Verify.
type Report struct {
	Location   *Location
	TrainCount int
	TestCount  int
	TrainHist  []int    // label histogram of the training files
	TestHist   []int    // label histogram of the test file
	Problems   []string // differences from the canonical files; empty: the files are the canonical ones
}

// OK reports whether the files match the canonical record counts and label histograms.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify locates a dataset and checks its files: that they parse (magic numbers, sizes that are
// whole records, labels in range; any of these is an error) and that record counts and label
// histograms are the canonical ones (differences are listed in Report.Problems). A CIFAR-10 archive
// is checked by streaming it, without unpacking. Progress goes to WithProgress's writer.
func Verify(dataset string, opts ...Option) (*Report, error) {
	o := buildOptions(opts)
	name, err := canonicalName(dataset)
	if err != nil {
		return nil, err
	}
	loc, err := locate(name, o)
	if err != nil {
		return nil, err
	}
	info := infos[name]
	rep := &Report{Location: loc, TrainHist: make([]int, info.Classes), TestHist: make([]int, info.Classes)}
	switch {
	case name == CIFAR10 && len(loc.Files) == 0:
		if err := verifyCIFARArchive(loc.Archive, rep, o.progress); err != nil {
			return nil, err
		}
	case name == CIFAR10:
		bar := progress.New(o.progress, "verify "+name, 6*cifarPerBatch)
		for k, p := range loc.Files {
			f, err := os.Open(p)
			if err != nil {
				return nil, fmt.Errorf("datasets: %w", err)
			}
			n, err := ScanCIFAR(f, func(l uint8, _ []byte) error {
				if k < 5 {
					rep.TrainHist[l]++
				} else {
					rep.TestHist[l]++
				}
				bar.Add(1)
				return nil
			})
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("datasets: %s: %w", p, err)
			}
			if n != cifarPerBatch {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s has %d records, canonical: %d", p, n, cifarPerBatch))
			}
		}
		bar.Done()
	default:
		for k := 0; k < 2; k++ {
			_, labels, h, w, c, err := ReadMNISTPair(loc.Files[2*k], loc.Files[2*k+1], info.Classes)
			if err != nil {
				return nil, err
			}
			if h != info.H || w != info.W || c != info.C {
				return nil, fmt.Errorf("datasets: %s: images are %d×%d×%d, want %d×%d×%d for %s", loc.Files[2*k], h, w, c, info.H, info.W, info.C, name)
			}
			hist := rep.TrainHist
			if k == 1 {
				hist = rep.TestHist
			}
			for _, l := range labels {
				hist[l]++
			}
		}
	}
	for _, x := range rep.TrainHist {
		rep.TrainCount += x
	}
	for _, x := range rep.TestHist {
		rep.TestCount += x
	}
	if rep.TrainCount != info.TrainCount {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d training records, canonical: %d", rep.TrainCount, info.TrainCount))
	}
	if rep.TestCount != info.TestCount {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d test records, canonical: %d", rep.TestCount, info.TestCount))
	}
	want := canonicalHist[name]
	if !slices.Equal(rep.TrainHist, want[0]) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("training label histogram %v, canonical: %v", rep.TrainHist, want[0]))
	}
	if !slices.Equal(rep.TestHist, want[1]) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("test label histogram %v, canonical: %v", rep.TestHist, want[1]))
	}
	return rep, nil
}

func verifyCIFARArchive(archive string, rep *Report, w io.Writer) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	bar := progress.New(w, "verify "+filepath.Base(archive), 6*cifarPerBatch)
	defer bar.Done()
	err = WalkCIFARArchive(f, func(name string, _ int64, r io.Reader) error {
		hist := rep.TrainHist
		if name == "test_batch.bin" {
			hist = rep.TestHist
		}
		n, err := ScanCIFAR(r, func(l uint8, _ []byte) error {
			hist[l]++
			bar.Add(1)
			return nil
		})
		if err != nil {
			return err
		}
		if n != cifarPerBatch {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s in %s has %d records, canonical: %d", name, archive, n, cifarPerBatch))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("datasets: %s: %w", archive, err)
	}
	return nil
}
