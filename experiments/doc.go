// Package experiments reproduces the experiments of the three papers in SPEC.md: Shu & Zhu's
// Setups 0–4 (plus a one-pixel attack study, the FI-versus-odds identity and where FI is
// informative), Cheney et al.'s weight knockout and noise, and the condition-number estimator.
//
// Each experiment is one file (setup0.go … estimator.go): its Config with Quick and Paper defaults
// (DefaultXConfig), RunX returning plain result data, and the result's figures, findings and
// Report. Measures are computed by packages fisens, fisens/weights and fisens/condition; no
// plotting or printing happens inside the measures. The experiments share public building blocks:
//
//   - models.go: LoadModel (a model by reference, "zoo:NAME" or a directory, cached per process,
//     with the dataset and split seed it was trained on) and ModelName;
//   - data.go: ReadBatch (examples of a dataset as a fisens.Batch) and the input FI of a seeded
//     sample of a split (datasets.SampleIndices, the project's PCG32);
//   - the results package for every per-example table (create, resume, shard, merge, settings);
//   - overrides.go: Overrides, the settings `fisens reproduce --set` changes, passed as a value in
//     Common (never through the environment);
//   - report.go and experiment.go: the registry, the one Run every registered experiment has
//     (defaults, overrides, run, report), and the index `fisens reproduce` writes.
package experiments
