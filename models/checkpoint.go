package models

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/fisens/fisens/backend"
)

// Files of a model directory written by (*Model).Save:
//
//	model.json              the models.Config (ConfigFile), enough to rebuild the network
//	checkpoint-*.json/.bin  the variables, in GoMLX's checkpoint format (ml/model/checkpoint)
//
// A training output directory (Train with TrainConfig.Dir) holds two such directories: best/ (the
// best-validation model, what Load returns for the training directory) and last/ (the latest state,
// with the optimizer's variables and train_state.json, used to resume).
const (
	// ConfigFile is the name of the JSON file holding the model's Config in a model directory.
	ConfigFile = "model.json"
	// BestDir is the sub-directory of a training directory holding the best-validation model.
	BestDir = "best"
	// LastDir is the sub-directory of a training directory holding the latest state (for resuming).
	LastDir = "last"
	// ZooPrefix prefixes the name of a zoo model in a model reference: "zoo:resnet-small-mnist".
	ZooPrefix = "zoo:"

	configFormat = 1
)

// modelFile is the content of ConfigFile.
type modelFile struct {
	Format int    `json:"format"` // version of this layout (1)
	Config Config `json:"config"`
}

// varSpec is one variable the architecture creates when building its inference graph.
type varSpec struct {
	path      string
	shape     shapes.Shape
	trainable bool
}

// trainingStatePrefixes are the variable paths that belong to training, not to the network: the
// optimizer's state, the trainer's metrics and step counter, the random-number state of dropout.
var trainingStatePrefixes = []string{"/global_step", "/optimizers/", "/AdamOptimizer/", "/metrics/", "/trainer/", "/#rngState"}

// isTrainingState reports whether the variable path belongs to the training state.
func isTrainingState(p string) bool {
	for _, pre := range trainingStatePrefixes {
		if p == strings.TrimSuffix(pre, "/") || strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// catch runs fn and turns a panic (GoMLX reports many errors by panicking) into an error.
func catch(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	return fn()
}

// variableSpecs lists the variables (path, shape, trainable) the architecture creates for its
// inference graph, in creation order. It only builds a graph on a scratch store (the pure-Go
// backend's builder, no compilation, no values), so it is cheap and has no side effect on m.
func (m *Model) variableSpecs() ([]varSpec, error) {
	b, err := backend.New("go")
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	var specs []varSpec
	err = catch(func() error {
		g := graph.NewGraph(b, "fisens_variable_specs")
		defer g.Finalize()
		model.SetStore(g, store)
		x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 1, m.cfg.Height, m.cfg.Width, m.cfg.Channels))
		logits := m.build(m.cfg, store.RootScope(), x)
		if got := logits.Shape(); got.Rank() != 2 || got.Dimensions[1] != m.cfg.Classes {
			return fmt.Errorf("logits have shape %s, want [1, %d]", got, m.cfg.Classes)
		}
		for v := range store.IterVariables() {
			specs = append(specs, varSpec{path: v.Path(), shape: v.Shape(), trainable: v.Trainable})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("models: building %s for input %dx%dx%d: %w", m.cfg.Arch, m.cfg.Height, m.cfg.Width, m.cfg.Channels, err)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("models: architecture %s creates no variables", m.cfg.Arch)
	}
	return specs, nil
}

// Save writes the model (its Config and the current values of its network variables; no optimizer
// state) to dir, creating it if needed and replacing a model saved there before. The write goes to
// a temporary sibling directory first, so an interruption never leaves a half-written model.
func (m *Model) Save(dir string) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	if m.cfg.ONNX != nil {
		return fmt.Errorf("models: saving to %s: the model comes from the ONNX file %s, which is its saved form (fisens does not write ONNX)", dir, m.cfg.ONNX.File)
	}
	specs, err := m.variableSpecs()
	if err != nil {
		return err
	}
	tmp := model.NewStore()
	defer tmp.Finalize()
	for _, s := range specs {
		v := m.store.GetVariable(s.path)
		if v == nil || !v.HasValue() {
			return fmt.Errorf("models: saving %s to %s: variable %s has no value yet (train the model, load it, or run it once first)", m.cfg.Arch, dir, s.path)
		}
		if _, err := v.CloneToStore(tmp); err != nil {
			return fmt.Errorf("models: saving %s to %s: copying %s: %w", m.cfg.Arch, dir, s.path, err)
		}
	}
	return writeModelDir(dir, m.cfg, tmp, nil)
}

// writeModelDir writes a GoMLX checkpoint of every variable of store, ConfigFile and the extra
// files into dir, atomically replacing dir's previous content (write to dir.tmp, then swap).
func writeModelDir(dir string, cfg Config, store *model.Store, extra map[string][]byte) error {
	dir = filepath.Clean(dir)
	tmp, old := dir+".tmp", dir+".old"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("models: saving to %s: %w", dir, err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("models: saving to %s: %w", dir, err)
	}
	err := catch(func() error {
		h, err := checkpoint.Build(store).Dir(tmp).Keep(1).Done()
		if err != nil {
			return err
		}
		return h.Save()
	})
	if err != nil {
		return fmt.Errorf("models: writing checkpoint in %s: %w", tmp, err)
	}
	cfgJSON, err := json.MarshalIndent(modelFile{Format: configFormat, Config: cfg}, "", "  ")
	if err != nil {
		return fmt.Errorf("models: saving to %s: %w", dir, err)
	}
	files := map[string][]byte{ConfigFile: append(cfgJSON, '\n')}
	for name, data := range extra {
		files[name] = data
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return fmt.Errorf("models: saving to %s: %w", dir, err)
		}
	}
	// Swap: dir → dir.old, dir.tmp → dir, remove dir.old. openModelDir falls back to dir.old if an
	// interruption left no dir.
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("models: saving to %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("models: saving to %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("models: saving to %s: %w", dir, err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("models: saving to %s: removing the previous copy: %w", dir, err)
	}
	return nil
}

// Load loads a saved model. ref is "zoo:NAME" (a model of the embedded zoo, see Zoo), a model
// directory written by (*Model).Save, a training directory written by Train (its best-validation
// model, in DIR/best, is loaded), or an ONNX file (a path ending in .onnx: LoadONNX with the
// options of its sidecar PATH.json, if any).
//
// Loading checks that the checkpoint matches the architecture recorded in model.json: every
// variable present with the right shape and dtype, no foreign variable. A missing or corrupt file
// gives an error naming it.
func Load(ref string) (*Model, error) {
	if IsONNXRef(ref) {
		return LoadONNX(ref, ONNXOptions{})
	}
	fsys, dir, name, err := resolveRef(ref)
	if err != nil {
		return nil, err
	}
	cfg, err := readConfig(fsys, dir, name)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", name, err)
	}
	values, err := readCheckpoint(fsys, dir, name)
	if err != nil {
		return nil, err
	}
	if err := m.setValues(values, name, false); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadWeights replaces the model's variable values with those of a saved model (same reference forms
// as Load). The saved model must have the same architecture, input shape and number of classes.
func (m *Model) LoadWeights(ref string) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	if m.cfg.ONNX != nil || IsONNXRef(ref) {
		return fmt.Errorf("models: LoadWeights: ONNX models are loaded whole with Load/LoadONNX (%s)", ref)
	}
	fsys, dir, name, err := resolveRef(ref)
	if err != nil {
		return err
	}
	cfg, err := readConfig(fsys, dir, name)
	if err != nil {
		return err
	}
	if err := sameNetwork(cfg, m.cfg); err != nil {
		return fmt.Errorf("models: %s: %w", name, err)
	}
	values, err := readCheckpoint(fsys, dir, name)
	if err != nil {
		return err
	}
	return m.setValues(values, name, false)
}

// sameNetwork reports whether a checkpoint saved with config got fits a model with config want.
func sameNetwork(got, want Config) error {
	if got.Arch != want.Arch {
		return fmt.Errorf("checkpoint is for architecture %q, the model is %q", got.Arch, want.Arch)
	}
	if got.Height != want.Height || got.Width != want.Width || got.Channels != want.Channels {
		return fmt.Errorf("checkpoint is for %dx%dx%d inputs, the model takes %dx%dx%d",
			got.Height, got.Width, got.Channels, want.Height, want.Width, want.Channels)
	}
	if got.Classes != want.Classes {
		return fmt.Errorf("checkpoint has %d classes, the model %d", got.Classes, want.Classes)
	}
	return nil
}

// Clone returns a deep copy of the model: same configuration, independent copies of every variable
// value (perturbing the clone's weights leaves the original untouched).
func (m *Model) Clone() (*Model, error) {
	if err := m.checkOpen(); err != nil {
		return nil, err
	}
	var st *model.Store
	err := catch(func() error {
		var err error
		st, err = m.store.Clone()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("models: cloning %s: %w", m.cfg.Arch, err)
	}
	return &Model{cfg: m.cfg, store: st, build: m.build}, nil
}

// resolveRef maps a model reference to a file system, a directory in it and a display name.
func resolveRef(ref string) (fsys fs.FS, dir, name string, err error) {
	if zname, ok := strings.CutPrefix(ref, ZooPrefix); ok {
		e, err := ZooEntry(zname)
		if err != nil {
			return nil, "", "", err
		}
		return zooFS, path.Join("zoo", e.Name), ref, nil
	}
	if ref == "" {
		return nil, "", "", errors.New("models: empty model reference (want zoo:NAME or a directory)")
	}
	d, err := openModelDir(ref)
	if err != nil {
		return nil, "", "", err
	}
	return os.DirFS(d), ".", d, nil
}

// openModelDir finds the model directory for a path: the path itself if it holds ConfigFile, else
// its best/ sub-directory (a training directory), else a .old copy left by an interrupted save.
func openModelDir(p string) (string, error) {
	for _, d := range []string{p, filepath.Join(p, BestDir), p + ".old", filepath.Join(p, BestDir) + ".old"} {
		if _, err := os.Stat(filepath.Join(d, ConfigFile)); err == nil {
			return d, nil
		}
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("models: model %s: %w (want zoo:NAME or a directory written by `fisens train` or Model.Save)", p, err)
	}
	return "", fmt.Errorf("models: %s is not a model directory: no %s in it nor in %s/ (want a directory written by `fisens train` or Model.Save)", p, ConfigFile, BestDir)
}

// readConfig reads and checks ConfigFile.
func readConfig(fsys fs.FS, dir, name string) (Config, error) {
	file := path.Join(dir, ConfigFile)
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return Config{}, fmt.Errorf("models: %s: reading %s: %w", name, ConfigFile, err)
	}
	var mf modelFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mf); err != nil {
		return Config{}, fmt.Errorf("models: %s: %s is corrupt: %w", name, ConfigFile, err)
	}
	if mf.Format != configFormat {
		return Config{}, fmt.Errorf("models: %s: %s has format %d, this version reads format %d", name, ConfigFile, mf.Format, configFormat)
	}
	if mf.Config.Arch == "" {
		return Config{}, fmt.Errorf("models: %s: %s names no architecture", name, ConfigFile)
	}
	return mf.Config, nil
}

// ckptVar is a variable's entry in a GoMLX checkpoint's JSON file.
type ckptVar struct {
	ParameterName string
	Dimensions    []int
	DType         dtypes.DType
	Pos, Length   int
}

// ckptJSON is the part of a GoMLX checkpoint's JSON file that readCheckpoint checks.
type ckptJSON struct {
	Variables []ckptVar
	BinFormat string
}

// gomlxBinHeader starts a gzip-compressed GoMLX checkpoint data file ("gomlx_checkpointss", length
// byte, "gzip"); an uncompressed one is the raw bytes.
const gomlxBinHeader = "gomlx_checkpointss\x04gzip"

// readCheckpoint reads the latest GoMLX checkpoint in dir and returns its variables by path. It
// checks the files' structure first (so a corrupt or truncated file gives an error naming it, not a
// panic deep in GoMLX), then loads them with GoMLX's checkpoint package.
func readCheckpoint(fsys fs.FS, dir, name string) (map[string]*tensors.Tensor, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", name, err)
	}
	var bases []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && strings.HasPrefix(n, "checkpoint-") && strings.HasSuffix(n, checkpoint.JsonNameSuffix) {
			bases = append(bases, strings.TrimSuffix(n, checkpoint.JsonNameSuffix))
		}
	}
	if len(bases) == 0 {
		return nil, fmt.Errorf("models: %s: no checkpoint (checkpoint-*.json and .bin) found", name)
	}
	sort.Strings(bases)
	base := bases[len(bases)-1]
	jsonName, binName := base+checkpoint.JsonNameSuffix, base+checkpoint.BinDataSuffix
	jsonData, err := fs.ReadFile(fsys, path.Join(dir, jsonName))
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", name, err)
	}
	binData, err := fs.ReadFile(fsys, path.Join(dir, binName))
	if err != nil {
		return nil, fmt.Errorf("models: %s: reading checkpoint data: %w", name, err)
	}

	// Structure checks.
	var meta ckptJSON
	if err := json.Unmarshal(jsonData, &meta); err != nil {
		return nil, fmt.Errorf("models: %s: checkpoint file %s is corrupt: %w", name, jsonName, err)
	}
	raw := binData
	if bytes.HasPrefix(binData, []byte(gomlxBinHeader)) {
		zr, err := gzip.NewReader(bytes.NewReader(binData[len(gomlxBinHeader):]))
		if err == nil {
			raw, err = io.ReadAll(zr)
		}
		if err != nil {
			return nil, fmt.Errorf("models: %s: checkpoint file %s is corrupt: %w", name, binName, err)
		}
	}
	pos := 0
	for _, v := range meta.Variables {
		size := 1
		for _, d := range v.Dimensions {
			if d < 0 || (d > 0 && size > math.MaxInt32/d) {
				return nil, fmt.Errorf("models: %s: checkpoint file %s is corrupt: variable %s has dimensions %v", name, jsonName, v.ParameterName, v.Dimensions)
			}
			size *= d
		}
		if !v.DType.IsFloat() && !v.DType.IsInt() && v.DType != dtypes.Bool {
			return nil, fmt.Errorf("models: %s: checkpoint file %s is corrupt: variable %s has dtype %s", name, jsonName, v.ParameterName, v.DType)
		}
		if want := size * v.DType.Size(); v.Length != want || v.Pos != pos {
			return nil, fmt.Errorf("models: %s: checkpoint file %s is corrupt: variable %s at byte %d with %d bytes, want byte %d with %d bytes",
				name, jsonName, v.ParameterName, v.Pos, v.Length, pos, want)
		}
		pos += v.Length
	}
	if pos != len(raw) {
		return nil, fmt.Errorf("models: %s: checkpoint data %s has %d bytes, %s describes %d (truncated or mismatched files)", name, binName, len(raw), jsonName, pos)
	}

	// Load with GoMLX (from memory: FromEmbed) into a scratch store; take the loaded tensors.
	values := make(map[string]*tensors.Tensor, len(meta.Variables))
	err = catch(func() error {
		scratch := model.NewStore()
		h, err := checkpoint.Build(scratch).FromEmbed(string(jsonData), raw).ExcludeAllParams().Done()
		if err != nil {
			return err
		}
		for key, t := range h.LoadedVariables() {
			values[strings.TrimPrefix(key, "var:")] = t
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("models: %s: loading checkpoint %s: %w", name, jsonName, err)
	}
	return values, nil
}

// setValues puts checkpoint values into the model's store, checking them against the architecture:
// every network variable present with the right shape, no foreign variable. Training-state
// variables (optimizer, metrics, step counter) are ignored unless withState, in which case they are
// loaded as non-trainable variables after the network's.
func (m *Model) setValues(values map[string]*tensors.Tensor, name string, withState bool) error {
	specs, err := m.variableSpecs()
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(specs))
	var missing []string
	for _, s := range specs {
		known[s.path] = true
		if _, ok := values[s.path]; !ok {
			missing = append(missing, s.path)
		}
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 5 {
			more = fmt.Sprintf(" and %d more", len(missing)-5)
			missing = missing[:5]
		}
		return fmt.Errorf("models: %s: checkpoint lacks variable(s) %s%s that architecture %s needs (a checkpoint of another architecture?)",
			name, strings.Join(missing, ", "), more, m.cfg.Arch)
	}
	var foreign, state []string
	for p := range values {
		switch {
		case known[p]:
		case isTrainingState(p):
			state = append(state, p)
		default:
			foreign = append(foreign, p)
		}
	}
	if len(foreign) > 0 {
		sort.Strings(foreign)
		return fmt.Errorf("models: %s: checkpoint has variable(s) %s that architecture %s does not create (a checkpoint of another architecture?)",
			name, strings.Join(foreign, ", "), m.cfg.Arch)
	}
	for _, s := range specs {
		if t := values[s.path]; !t.Shape().Equal(s.shape) {
			return fmt.Errorf("models: %s: variable %s has shape %s in the checkpoint, architecture %s (input %dx%dx%d, %d classes) wants %s",
				name, s.path, t.Shape(), m.cfg.Arch, m.cfg.Height, m.cfg.Width, m.cfg.Channels, m.cfg.Classes, s.shape)
		}
	}
	sort.Strings(state)
	return catch(func() error {
		set := func(p string, t *tensors.Tensor, trainable bool) error {
			if v := m.store.GetVariable(p); v != nil {
				if !v.Shape().Equal(t.Shape()) {
					return fmt.Errorf("models: %s: variable %s: checkpoint shape %s, model shape %s", name, p, t.Shape(), v.Shape())
				}
				return v.SetValue(t)
			}
			m.store.VariableWithValue(p, t).SetTrainable(trainable)
			return nil
		}
		for _, s := range specs {
			if err := set(s.path, values[s.path], s.trainable); err != nil {
				return err
			}
		}
		if withState {
			for _, p := range state {
				if err := set(p, values[p], false); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// LoadConfig returns the Config of a saved model (same reference forms as Load) without loading its
// variables.
func LoadConfig(ref string) (Config, error) {
	if IsONNXRef(ref) {
		m, err := LoadONNX(ref, ONNXOptions{})
		if err != nil {
			return Config{}, err
		}
		return m.Config(), nil
	}
	fsys, dir, name, err := resolveRef(ref)
	if err != nil {
		return Config{}, err
	}
	return readConfig(fsys, dir, name)
}

// TrainedOn returns the dataset and split seed a saved model was trained on, from the zoo manifest
// or the training directory's best/training.json; ok is false when the model does not record them.
func TrainedOn(ref string) (dataset string, splitSeed int64, ok bool) {
	if IsONNXRef(ref) {
		if s := onnxSidecar(ref); s != nil && s.Dataset != "" {
			return s.Dataset, s.SplitSeed, true
		}
		return "", 0, false
	}
	if zname, isZoo := strings.CutPrefix(ref, ZooPrefix); isZoo {
		e, err := ZooEntry(zname)
		if err != nil || e.Dataset == "" {
			return "", 0, false
		}
		return e.Dataset, e.SplitSeed, true
	}
	d, err := openModelDir(ref)
	if err != nil {
		return "", 0, false
	}
	data, err := os.ReadFile(filepath.Join(d, trainInfoFile))
	if err != nil {
		return "", 0, false
	}
	var info trainInfo
	if json.Unmarshal(data, &info) != nil || info.Dataset == "" {
		return "", 0, false
	}
	return info.Dataset, info.SplitSeed, true
}
