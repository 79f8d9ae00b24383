package datasets

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
)

// DefaultSplitSeed is the seed of the stratified validation split when WithSplitSeed is not given.
const DefaultSplitSeed int64 = 0

// Dataset names accepted by Load.
const (
	MNIST        = "mnist"
	FashionMNIST = "fashion-mnist"
	CIFAR10      = "cifar10"
)

// Split names accepted by Load.
const (
	SplitTrain     = "train"      // the training files minus the stratified validation set
	SplitValid     = "valid"      // the stratified validation set (600 per class for MNIST, 500 for CIFAR-10)
	SplitTest      = "test"       // the test file as given
	SplitTrainFull = "train-full" // every training image
)

// Info describes a dataset: image shape, classes and canonical sizes.
type Info struct {
	Name          string
	H, W, C       int
	Classes       int
	TrainCount    int      // records in the canonical training files
	TestCount     int      // records in the canonical test file
	ValidPerClass int      // the paper's validation images per class
	ClassNames    []string // human-readable class names
}

var infos = map[string]Info{
	MNIST: {Name: MNIST, H: 28, W: 28, C: 1, Classes: 10, TrainCount: 60000, TestCount: 10000, ValidPerClass: 600,
		ClassNames: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
	FashionMNIST: {Name: FashionMNIST, H: 28, W: 28, C: 1, Classes: 10, TrainCount: 60000, TestCount: 10000, ValidPerClass: 600,
		ClassNames: []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}},
	CIFAR10: {Name: CIFAR10, H: 32, W: 32, C: 3, Classes: 10, TrainCount: 50000, TestCount: 10000, ValidPerClass: 500,
		ClassNames: []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}},
}

// Datasets returns the names of the supported datasets.
func Datasets() []string { return []string{MNIST, FashionMNIST, CIFAR10} }

// Splits returns the names of the splits Load accepts.
func Splits() []string { return []string{SplitTrain, SplitValid, SplitTest, SplitTrainFull} }

// DatasetInfo returns the description of a dataset ("mnist", "fashion-mnist", "cifar10"; a few
// spellings such as "cifar-10" or "fashion" are accepted).
func DatasetInfo(dataset string) (Info, error) {
	name, err := canonicalName(dataset)
	if err != nil {
		return Info{}, err
	}
	info := infos[name]
	info.ClassNames = append([]string(nil), info.ClassNames...)
	return info, nil
}

func canonicalName(dataset string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(dataset)) {
	case "mnist":
		return MNIST, nil
	case "fashion-mnist", "fashion_mnist", "fashionmnist", "fashion":
		return FashionMNIST, nil
	case "cifar10", "cifar-10", "cifar_10":
		return CIFAR10, nil
	}
	return "", fmt.Errorf("datasets: unknown dataset %q (want one of %s)", dataset, strings.Join(Datasets(), ", "))
}

// options are the settings of Load and Locate.
type options struct {
	dir           string
	seed          int64
	validPerClass int // 0: the dataset's default
	cacheDir      string
	progress      io.Writer
}

// Option configures Load and Locate.
type Option func(*options)

// WithDir makes Load read the canonical files from dir (or from a dataset-named folder inside it)
// instead of discovering them; nothing else is searched when it is given.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// WithSplitSeed sets the seed of the stratified validation split (default DefaultSplitSeed = 0).
func WithSplitSeed(seed int64) Option { return func(o *options) { o.seed = seed } }

// WithValidPerClass overrides the number of validation images per class (default: 600 for MNIST
// and Fashion-MNIST, 500 for CIFAR-10, as in the paper). Meant for small or custom files.
func WithValidPerClass(n int) Option { return func(o *options) { o.validPerClass = n } }

// WithCacheDir sets where CIFAR-10 batches are extracted when only the .tar.gz is found and its
// folder is not writable (default: the user cache folder, e.g. ~/.cache/fisens/cifar10).
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// WithProgress reports long reads (extracting the CIFAR-10 archive) to w.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

func buildOptions(opts []Option) *options {
	o := &options{seed: DefaultSplitSeed}
	for _, f := range opts {
		if f != nil {
			f(o)
		}
	}
	return o
}

// rawData is the full training and test sets of a dataset, as read from one location.
type rawData struct {
	train, test *Set
	loc         *Location
}

// cache holds loaded datasets per location key, so repeated Loads are cheap.
var cache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	once sync.Once
	raw  *rawData
	err  error
}

// loadRaw returns the (cached) full training and test sets of a located dataset.
func loadRaw(loc *Location, o *options) (*rawData, error) {
	key := cacheKey(loc)
	cache.mu.Lock()
	if cache.entries == nil {
		cache.entries = map[string]*cacheEntry{}
	}
	e, ok := cache.entries[key]
	if !ok {
		e = &cacheEntry{}
		cache.entries[key] = e
	}
	cache.mu.Unlock()
	e.once.Do(func() {
		switch loc.Dataset {
		case CIFAR10:
			e.raw, e.err = loadCIFAR(loc, o)
		default:
			e.raw, e.err = loadMNISTLike(loc)
		}
	})
	if e.err != nil {
		// Do not cache failures: the user may fix the files and retry.
		cache.mu.Lock()
		if cache.entries[key] == e {
			delete(cache.entries, key)
		}
		cache.mu.Unlock()
	}
	return e.raw, e.err
}

// Load returns a split of a dataset: dataset "mnist" | "fashion-mnist" | "cifar10"; split "train"
// (the training files minus the stratified validation set), "valid", "test", or "train-full".
// The validation set depends only on the dataset's training labels and the split seed: for every
// class, ValidPerClass indices are drawn uniformly without replacement (a partial Fisher–Yates
// shuffle driven by a PCG generator seeded with the seed) and the union is sorted. Set names are
// "dataset/split"; SourceIndex gives each example's index in the training (or test) files.
//
// dataset may also be a folder of your own PNG/JPEG images ("images:DIR", or the path of an existing
// directory; see LoadImages): split "all" (labels from DIR/labels.csv, required) or "unlabeled".
func Load(dataset, split string, opts ...Option) (*Set, error) {
	if dir, ok := imageFolder(dataset); ok {
		return loadImageFolder(dir, split)
	}
	o := buildOptions(opts)
	name, err := canonicalName(dataset)
	if err != nil {
		return nil, err
	}
	switch split {
	case SplitTrain, SplitValid, SplitTest, SplitTrainFull:
	default:
		return nil, fmt.Errorf("datasets: unknown split %q of %s (want one of %s)", split, name, strings.Join(Splits(), ", "))
	}
	loc, err := locate(name, o)
	if err != nil {
		return nil, err
	}
	raw, err := loadRaw(loc, o)
	if err != nil {
		return nil, err
	}
	switch split {
	case SplitTest:
		return raw.test, nil
	case SplitTrainFull:
		return raw.train, nil
	}
	per := o.validPerClass
	if per == 0 {
		per = infos[name].ValidPerClass
	}
	trainIdx, validIdx, err := StratifiedSplit(raw.train.labels, raw.train.classes, per, o.seed)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s from %s: %w", name, loc.Dir, err)
	}
	if split == SplitValid {
		return raw.train.subset(name+"/"+SplitValid, validIdx), nil
	}
	return raw.train.subset(name+"/"+SplitTrain, trainIdx), nil
}

// StratifiedSplit draws perClass indices of every class (uniformly, without replacement, seeded)
// as the validation set and returns the remaining indices (train) and the chosen ones (valid),
// both sorted. It fails if a class has fewer than perClass examples.
func StratifiedSplit(labels []uint8, classes, perClass int, seed int64) (train, valid []int, err error) {
	if perClass < 0 {
		return nil, nil, fmt.Errorf("validation size %d per class, want >= 0", perClass)
	}
	byClass := make([][]int, classes)
	for i, l := range labels {
		if int(l) >= classes {
			return nil, nil, fmt.Errorf("label %d of example %d out of range [0, %d)", l, i, classes)
		}
		byClass[l] = append(byClass[l], i)
	}
	r := newRNG(seed, splitStream)
	inValid := make([]bool, len(labels))
	for k, idx := range byClass {
		if len(idx) < perClass {
			return nil, nil, fmt.Errorf("class %d has %d examples, fewer than the %d per class wanted for validation", k, len(idx), perClass)
		}
		for _, i := range r.choose(idx, perClass) {
			inValid[i] = true
		}
	}
	valid = make([]int, 0, perClass*classes)
	train = make([]int, 0, len(labels)-perClass*classes)
	for i, v := range inValid {
		if v {
			valid = append(valid, i)
		} else {
			train = append(train, i)
		}
	}
	sort.Ints(valid) // already sorted; kept explicit for the documented order
	return train, valid, nil
}

// splitStream is the generator stream of the validation split (outliers use another stream).
const splitStream = 0x5117_0001

// cacheKey identifies a location's files, including their sizes and modification times, so that
// replaced files are read again.
func cacheKey(loc *Location) string {
	var sb strings.Builder
	sb.WriteString(loc.Dataset)
	for _, p := range append(append([]string(nil), loc.Files...), loc.Archive) {
		sb.WriteString("\x00")
		sb.WriteString(p)
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&sb, "\x00%d\x00%d", st.Size(), st.ModTime().UnixNano())
		}
	}
	return sb.String()
}
