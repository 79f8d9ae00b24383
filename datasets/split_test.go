package datasets

import (
	"os"
	"slices"
	"testing"
)

// loadRealMNIST loads a split of the real MNIST, skipping the test if it cannot be found.
func loadRealMNIST(t *testing.T, split string, opts ...Option) *Set {
	t.Helper()
	s, err := Load(MNIST, split, opts...)
	if IsNotFound(err) {
		t.Skipf("real MNIST not available: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRealMNIST(t *testing.T) {
	full := loadRealMNIST(t, SplitTrainFull)
	test := loadRealMNIST(t, SplitTest)
	if full.Len() != 60000 || test.Len() != 10000 {
		t.Fatalf("counts %d / %d, want 60000 / 10000", full.Len(), test.Len())
	}
	if h, w, c := full.Dims(); h != 28 || w != 28 || c != 1 || full.NumClasses() != 10 {
		t.Fatalf("dims %d×%d×%d, %d classes", h, w, c, full.NumClasses())
	}
	if got := full.Histogram(); !slices.Equal(got, canonicalHist[MNIST][0]) {
		t.Errorf("train histogram %v, want %v", got, canonicalHist[MNIST][0])
	}
	if got := test.Histogram(); !slices.Equal(got, canonicalHist[MNIST][1]) {
		t.Errorf("test histogram %v, want %v", got, canonicalHist[MNIST][1])
	}
	// The first training image is a 5, the first test image a 7 (well-known).
	if full.Label(0) != 5 || test.Label(0) != 7 {
		t.Errorf("first labels %d, %d; want 5, 7", full.Label(0), test.Label(0))
	}
	train := loadRealMNIST(t, SplitTrain)
	valid := loadRealMNIST(t, SplitValid)
	if train.Len() != 54000 || valid.Len() != 6000 {
		t.Fatalf("split sizes %d / %d, want 54000 / 6000", train.Len(), valid.Len())
	}
	for k, n := range valid.Histogram() {
		if n != 600 {
			t.Errorf("validation class %d has %d images, want 600", k, n)
		}
	}
	if train.Name() != "mnist/train" || valid.Name() != "mnist/valid" || test.Name() != "mnist/test" {
		t.Errorf("names %q %q %q", train.Name(), valid.Name(), test.Name())
	}
	// Disjoint, covering, sorted, and consistent with the full set.
	seen := make([]int, 60000)
	for _, s := range []*Set{train, valid} {
		prev := -1
		for i := 0; i < s.Len(); i++ {
			src := s.SourceIndex(i)
			seen[src]++
			if src <= prev {
				t.Fatalf("%s: source indices not increasing at %d", s.Name(), i)
			}
			prev = src
			if s.Label(i) != full.Label(src) {
				t.Fatalf("%s: label of %d differs from source %d", s.Name(), i, src)
			}
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("training image %d is in %d of train/valid", i, n)
		}
	}
	if !slices.Equal(valid.Image(17), full.Image(valid.SourceIndex(17))) {
		t.Error("validation image differs from its source image")
	}
}

func TestSplitDeterminism(t *testing.T) {
	v0 := loadRealMNIST(t, SplitValid)
	v0b := loadRealMNIST(t, SplitValid, WithSplitSeed(DefaultSplitSeed))
	v1 := loadRealMNIST(t, SplitValid, WithSplitSeed(1))
	same, diff := true, 0
	for i := 0; i < v0.Len(); i++ {
		same = same && v0.SourceIndex(i) == v0b.SourceIndex(i)
		if v0.SourceIndex(i) != v1.SourceIndex(i) {
			diff++
		}
	}
	if !same {
		t.Error("same seed, different split")
	}
	if diff < 1000 {
		t.Errorf("seeds 0 and 1 differ at only %d of 6000 positions", diff)
	}
	// Pinned values: the split must never change for a seed (it defines the paper's sets).
	got := []int{v0.SourceIndex(0), v0.SourceIndex(1), v0.SourceIndex(2), v0.SourceIndex(5999)}
	t.Logf("seed 0 validation source indices start %v", got)
	if !slices.Equal(got, pinnedMNISTValid) {
		t.Errorf("seed-0 validation indices %v, pinned %v", got, pinnedMNISTValid)
	}
}

// pinnedMNISTValid are source indices 0, 1, 2 and 5999 of the seed-0 MNIST validation set.
var pinnedMNISTValid = []int{6, 19, 20, 59993}

func TestStratifiedSplitSmall(t *testing.T) {
	labels := []uint8{0, 1, 0, 1, 0, 1, 2, 2, 2, 2}
	train, valid, err := StratifiedSplit(labels, 3, 2, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(valid) != 6 || len(train) != 4 {
		t.Fatalf("sizes %d / %d", len(train), len(valid))
	}
	count := make([]int, 3)
	for _, i := range valid {
		count[labels[i]]++
	}
	if !slices.Equal(count, []int{2, 2, 2}) || !slices.IsSorted(valid) || !slices.IsSorted(train) {
		t.Errorf("valid %v per class %v", valid, count)
	}
	if _, _, err := StratifiedSplit(labels, 3, 4, 0); err == nil {
		t.Error("4 per class from 3-example classes accepted")
	}
}

func TestVerifyRealMNIST(t *testing.T) {
	loadRealMNIST(t, SplitTest)
	rep, err := Verify(MNIST)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.TrainCount != 60000 || rep.TestCount != 10000 {
		t.Errorf("report %+v", rep)
	}
}

// TestRealFashionMNIST runs where Debian's dataset-fashion-mnist is installed.
func TestRealFashionMNIST(t *testing.T) {
	if _, err := os.Stat(DebianFashionMNISTDir); err != nil {
		t.Skipf("%s absent (apt-get install dataset-fashion-mnist)", DebianFashionMNISTDir)
	}
	v, err := Load(FashionMNIST, SplitValid, WithDir(DebianFashionMNISTDir))
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 6000 || v.Name() != "fashion-mnist/valid" {
		t.Errorf("%s: %d examples", v.Name(), v.Len())
	}
	rep, err := Verify(FashionMNIST, WithDir(DebianFashionMNISTDir))
	if err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
}
