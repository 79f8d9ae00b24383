package experiments

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
	"github.com/gomlx/compute"
)

// Which models the experiments use, and loading one by reference: the one loader every experiment
// goes through.

// LoadedModel is a model loaded by reference, with what is needed to feed it data and analyse it.
type LoadedModel struct {
	Ref       string           // as given: "zoo:NAME" or a model / training directory
	Name      string           // short, file-safe name for files, legends and captions (see ModelName)
	Dataset   string           // dataset the model was trained on (or the one the caller asked for)
	SplitSeed int64            // seed of the train / valid split it was trained with (datasets.WithSplitSeed)
	Scale     datasets.Scale   // input scale the model expects (raw255 or unit)
	Model     *models.Model    // the network, on the backend of the run
	Analyzer  *fisens.Analyzer // its analyzer on the backend of the run

	mu    sync.Mutex
	preds map[string][]float32 // logits of example lists, by set name and indices
}

var (
	modelCacheMu sync.Mutex
	modelCache   = map[string]*LoadedModel{}
)

// LoadModel loads the model ref ("zoo:NAME" or a directory) on the backend of c. dataset names the
// data to analyse: "" means the dataset the model records; a model that records another dataset is
// an error (names compare loosely: "MNIST" = "mnist"); a model that records none uses dataset,
// which must then be given, and the default split seed.
//
// Loaded models are cached per (ref, dataset, backend) until ReleaseModels, so the parts of an
// experiment share them and their compiled graphs: never change the weights of lm.Model, Clone it
// first. `fisens reproduce --scale paper` releases them after each experiment.
func LoadModel(c Common, ref, dataset string) (*LoadedModel, error) {
	if ref == "" {
		return nil, fmt.Errorf("model reference is empty: want zoo:NAME or a model directory")
	}
	b, err := backend.New(c.Backend)
	if err != nil {
		return nil, err
	}
	key := ref + "\x00" + dataset + "\x00" + backend.Name(c.Backend)
	modelCacheMu.Lock()
	defer modelCacheMu.Unlock()
	if lm, ok := modelCache[key]; ok {
		return lm, nil
	}
	m, err := models.Load(ref)
	if err != nil {
		if !strings.HasPrefix(ref, models.ZooPrefix) {
			if _, serr := os.Stat(ref); serr != nil {
				return nil, fmt.Errorf("%w: no model at %s — train it (e.g. `fisens train --arch resnet50 --data mnist --out %s`) "+
					"or name other models with `fisens reproduce --set EXPERIMENT.Models=REF,REF`", err, ref, ref)
			}
		}
		return nil, err
	}
	ds, splitSeed, ok := models.TrainedOn(ref)
	switch {
	case !ok && dataset == "":
		return nil, fmt.Errorf("model %s does not record the dataset it was trained on: set the experiment's Dataset", ref)
	case !ok:
		splitSeed = datasets.DefaultSplitSeed
	case dataset != "" && !sameDataset(ds, dataset):
		return nil, fmt.Errorf("model %s was trained on %s, the configuration asks for %s", ref, ds, dataset)
	}
	if dataset == "" {
		dataset = ds
	}
	if err := m.UseBackend(b); err != nil {
		return nil, err
	}
	lm, err := newLoadedModel(b, ref, dataset, m)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", ref, err)
	}
	lm.SplitSeed = splitSeed
	modelCache[key] = lm
	return lm, nil
}

// Close frees the model's and its analyzer's compiled graphs and device buffers (Analyzer.Close,
// models.Model.Close); later uses fail with an error wrapping models.ErrClosed or fisens.ErrClosed.
// Models from LoadModel are shared: release them with ReleaseModels rather than closing one.
func (lm *LoadedModel) Close() error {
	if lm == nil {
		return nil
	}
	return errors.Join(lm.Analyzer.Close(), lm.Model.Close())
}

// ReleaseModels closes every model LoadModel has cached and empties the cache, so that the next
// LoadModel loads afresh. A process that runs several experiments calls it between them: nothing
// else frees a model's compiled graphs on ONNX Runtime (one process running every paper-scale
// experiment grew to 19–22 GB). Models and analyzers obtained before the call must not be used
// after it.
func ReleaseModels() error {
	modelCacheMu.Lock()
	defer modelCacheMu.Unlock()
	var errs []error
	for key, lm := range modelCache {
		errs = append(errs, lm.Close())
		delete(modelCache, key)
	}
	return errors.Join(errs...)
}

// NewLoadedModel wraps an in-memory model (e.g. an untrained one in tests) like LoadModel does;
// name is used for files and legends, and the split seed is the default. It is not cached.
func NewLoadedModel(c Common, name, dataset string, m *models.Model) (*LoadedModel, error) {
	b, err := backend.New(c.Backend)
	if err != nil {
		return nil, err
	}
	return newLoadedModel(b, name, dataset, m)
}

func newLoadedModel(b compute.Backend, ref, dataset string, m *models.Model) (*LoadedModel, error) {
	scale, err := m.InputScale()
	if err != nil {
		return nil, err
	}
	an, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		return nil, err
	}
	return &LoadedModel{Ref: ref, Name: ModelName(ref), Dataset: dataset, SplitSeed: datasets.DefaultSplitSeed,
		Scale: scale, Model: m, Analyzer: an}, nil
}

// Set loads split of the model's dataset, with the model's split seed and opts, and checks that
// it fits the model.
func (lm *LoadedModel) Set(split string, opts ...datasets.Option) (*datasets.Set, error) {
	set, err := datasets.Load(lm.Dataset, split, append([]datasets.Option{datasets.WithSplitSeed(lm.SplitSeed)}, opts...)...)
	if err != nil {
		return nil, err
	}
	if err := lm.Model.CheckData(set); err != nil {
		return nil, err
	}
	return set, nil
}

// Predict returns the logits [len(idx)·K] of examples idx of set (computed once per set and index
// list, and cached).
func (lm *LoadedModel) Predict(c Common, set *datasets.Set, idx []int, batch int) ([]float32, error) {
	h := fnv.New64a()
	for _, i := range idx {
		fmt.Fprintf(h, "%d,", i)
	}
	key := fmt.Sprintf("%s/%d/%x", set.Name(), len(idx), h.Sum64())
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if z, ok := lm.preds[key]; ok {
		return z, nil
	}
	z, err := models.Predict(lm.Analyzer.Backend(), lm.Model, set.Subset(idx), batch,
		models.WithProgress(c.Progress), models.WithLabel("predict "+lm.Name+" "+set.Name()))
	if err != nil {
		return nil, err
	}
	if lm.preds == nil {
		lm.preds = map[string][]float32{}
	}
	lm.preds[key] = z
	return z, nil
}

// K returns the number of classes.
func (lm *LoadedModel) K() int { return lm.Model.NumClasses() }

// ModelName returns a short, file-name-safe name for a model reference: the zoo name, or the
// directory's base name (the training directory's for DIR/best and DIR/last); characters other
// than letters, digits, '-', '_' and '.' become '-'.
func ModelName(ref string) string {
	name, isZoo := strings.CutPrefix(ref, models.ZooPrefix)
	if !isZoo {
		name = filepath.Clean(name)
		if base := filepath.Base(name); base == models.BestDir || base == models.LastDir {
			name = filepath.Dir(name)
		}
		name = filepath.Base(name)
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "model"
	}
	return b.String()
}

// modelNames returns the ModelName of every reference, or an error if two references of experiment
// exp would share one (and so their output files).
func modelNames(exp string, refs []string) ([]string, error) {
	names := make([]string, len(refs))
	seen := map[string]string{}
	for i, ref := range refs {
		n := ModelName(ref)
		if prev, dup := seen[n]; dup {
			return nil, fmt.Errorf("%s: models %q and %q would share the output name %q; rename one directory", exp, prev, ref, n)
		}
		seen[n], names[i] = ref, n
	}
	return names, nil
}

// sameDataset compares dataset names loosely ("mnist" = "MNIST"; "mnist (…)" = "mnist").
func sameDataset(a, b string) bool {
	norm := func(s string) string {
		s, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(s)), " ")
		return strings.ReplaceAll(s, "_", "-")
	}
	return norm(a) == norm(b)
}

// availableZooModels drops the zoo references the zoo does not hold (the zoo is built separately);
// other references are kept (a missing directory is an error later).
func availableZooModels(refs []string) (keep, skipped []string) {
	for _, ref := range refs {
		if name, ok := strings.CutPrefix(ref, models.ZooPrefix); ok {
			if _, err := models.ZooEntry(name); err != nil {
				skipped = append(skipped, ref)
				continue
			}
		}
		keep = append(keep, ref)
	}
	return keep, skipped
}

// quickPairRefs are the quick-scale zoo models of the two families the Shu & Zhu setups compare:
// the small ResNet and DenseNet (the paper's two families) when the zoo holds both, else the small
// AlexNet- and VGG-style nets, so that a quick run works with whatever the zoo was built with. The
// models used are recorded in every output.
var quickPairRefs = quickPair()

func quickPair() []string {
	want := []string{models.ZooPrefix + "resnet-small-mnist", models.ZooPrefix + "densenet-small-mnist"}
	if keep, _ := availableZooModels(want); len(keep) == len(want) {
		return want
	}
	return []string{models.ZooPrefix + "alexnet-small-mnist", models.ZooPrefix + "vgg-small-mnist"}
}

// PaperModelRef is where the paper-scale experiments look for a paper model trained on a dataset:
// the training directory "runs/<arch>-<dataset>" (relative to the working directory), e.g.
// `fisens train --arch resnet50 --data mnist --epochs 200 --out runs/resnet50-mnist`.
func PaperModelRef(arch, dataset string) string {
	return filepath.Join("runs", arch+"-"+dataset)
}

// paperPairRefs are the paper's two models trained on dataset.
func paperPairRefs(dataset string) []string {
	return []string{PaperModelRef("resnet50", dataset), PaperModelRef("densenet121", dataset)}
}

// paperModelsWithCIFAR returns the paper models trained on MNIST and, when the CIFAR-10 files are
// found, on CIFAR-10 (the paper-scale "train" step trains them first; see PaperDatasets).
func paperModelsWithCIFAR() []string {
	var refs []string
	for _, ds := range PaperDatasets() {
		refs = append(refs, paperPairRefs(ds)...)
	}
	return refs
}
