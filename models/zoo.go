package models

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// The zoo: small trained checkpoints for the quick-scale experiments, embedded in the binary so
// that Load("zoo:NAME") works from any working directory (GoNB notebooks included). Each model is a
// model directory zoo/NAME/ (as written by (*Model).Save) with an entry in zoo/manifest.json.
//
//go:embed zoo
var zooFS embed.FS

// ZooModel is a zoo manifest entry: what a zoo checkpoint is and how it was made. The accuracies are
// those printed by `fisens eval` for the checkpoint (inference mode, the recorded split).
type ZooModel struct {
	Name         string  `json:"name"`          // reference it as "zoo:"+Name
	Arch         string  `json:"arch"`          // registry name of the architecture
	Dataset      string  `json:"dataset"`       // dataset name (datasets.Load), e.g. "mnist"
	SplitSeed    int64   `json:"split_seed"`    // seed of the stratified train/valid split
	InputScale   string  `json:"input_scale"`   // "raw255" or "unit"
	Epochs       int     `json:"epochs"`        // epochs trained
	BestEpoch    int     `json:"best_epoch"`    // epoch (1-based) of the kept best-validation checkpoint
	TrainAcc     float64 `json:"train_acc"`     // accuracy on the training split
	ValidAcc     float64 `json:"valid_acc"`     // accuracy on the validation split
	TestAcc      float64 `json:"test_acc"`      // accuracy on the test set
	Params       int     `json:"params"`        // number of trainable parameters
	Command      string  `json:"command"`       // exact command that produced the checkpoint
	EvalCommand  string  `json:"eval_command"`  // exact command that measured the accuracies
	Backend      string  `json:"backend"`       // backend used for training
	TrainSeconds float64 `json:"train_seconds"` // wall-clock training time (all epochs, incl. validation)
	// TrainCPUSeconds is the user+system CPU time of the whole training command (the machine was
	// shared, so it says more than the wall time about the cost).
	TrainCPUSeconds float64 `json:"train_cpu_seconds"`
	Dropout         float64 `json:"dropout"` // dropout rate used in training (inactive at inference)
	Machine         string  `json:"machine"` // where it was trained (cores, sharing)
	Note            string  `json:"note,omitempty"`
}

var (
	zooOnce sync.Once
	zooList []ZooModel
	zooErr  error
)

// Zoo returns the zoo's manifest entries, sorted by name.
func Zoo() ([]ZooModel, error) {
	zooOnce.Do(func() {
		data, err := zooFS.ReadFile("zoo/manifest.json")
		if err != nil {
			zooErr = fmt.Errorf("models: zoo manifest: %w", err)
			return
		}
		var list []ZooModel
		if err := json.Unmarshal(data, &list); err != nil {
			zooErr = fmt.Errorf("models: zoo manifest models/zoo/manifest.json is corrupt: %w", err)
			return
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		zooList = list
	})
	return append([]ZooModel(nil), zooList...), zooErr
}

// ZooEntry returns the manifest entry of zoo model name (without the "zoo:" prefix).
func ZooEntry(name string) (ZooModel, error) {
	list, err := Zoo()
	if err != nil {
		return ZooModel{}, err
	}
	names := make([]string, len(list))
	for i, e := range list {
		if e.Name == name {
			return e, nil
		}
		names[i] = e.Name
	}
	return ZooModel{}, fmt.Errorf("models: no zoo model %q (the zoo has: %s)", name, strings.Join(names, ", "))
}
