package datasets

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fisens/fisens/internal/progress"
)

// CIFAR10URL is the canonical download address of the CIFAR-10 binary archive.
const CIFAR10URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

// CIFAR-10 record layout: 1 label byte, then the 32×32 red, green and blue planes, row-major.
const (
	cifarSide       = 32
	cifarPixels     = cifarSide * cifarSide
	CIFARImageSize  = 3 * cifarPixels    // 3072 image bytes per record
	CIFARRecordSize = 1 + CIFARImageSize // 3073 bytes per record
	cifarClasses    = 10
	cifarPerBatch   = 10000 // records per canonical batch file
)

// cifarCHWToHWC converts one record's planar image (R plane, G plane, B plane) to HWC in dst.
func cifarCHWToHWC(dst, planar []uint8) {
	for p := 0; p < cifarPixels; p++ {
		dst[3*p] = planar[p]
		dst[3*p+1] = planar[cifarPixels+p]
		dst[3*p+2] = planar[2*cifarPixels+p]
	}
}

// ParseCIFAR decodes a CIFAR-10 binary batch: a whole number of 3073-byte records, each a label in
// 0..9 followed by the R, G and B planes. It returns the images in HWC order (32×32×3 each) and
// the labels. Memory grows with the data actually read.
func ParseCIFAR(r io.Reader) (images []uint8, labels []uint8, err error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, nil, fmt.Errorf("reading CIFAR batch: %w", err)
	}
	data := buf.Bytes()
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("empty CIFAR batch: want a multiple of %d bytes (records)", CIFARRecordSize)
	}
	if len(data)%CIFARRecordSize != 0 {
		return nil, nil, fmt.Errorf("size %d bytes is not a multiple of the record size %d (truncated or not a CIFAR-10 binary batch)",
			len(data), CIFARRecordSize)
	}
	n := len(data) / CIFARRecordSize
	images = make([]uint8, n*CIFARImageSize)
	labels = make([]uint8, n)
	for i := 0; i < n; i++ {
		rec := data[i*CIFARRecordSize : (i+1)*CIFARRecordSize]
		if rec[0] >= cifarClasses {
			return nil, nil, fmt.Errorf("record %d: label %d out of range: want 0..%d", i, rec[0], cifarClasses-1)
		}
		labels[i] = rec[0]
		cifarCHWToHWC(images[i*CIFARImageSize:(i+1)*CIFARImageSize], rec[1:])
	}
	return images, labels, nil
}

// ReadCIFARFile reads a whole CIFAR-10 batch file into memory; errors name the file.
func ReadCIFARFile(path string) (images []uint8, labels []uint8, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	images, labels, err = ParseCIFAR(f)
	if err != nil {
		return nil, nil, fmt.Errorf("datasets: %s: %w", path, err)
	}
	return images, labels, nil
}

// ScanCIFAR streams a CIFAR-10 batch record by record, calling fn (if not nil) with each label and
// the record's planar image bytes (valid only during the call); it checks labels and that the
// stream ends on a record boundary, and returns the number of records. Memory: one record.
func ScanCIFAR(r io.Reader, fn func(label uint8, planar []byte) error) (int, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	rec := make([]byte, CIFARRecordSize)
	n := 0
	for {
		k, err := io.ReadFull(br, rec)
		if err == io.EOF {
			break
		}
		if err == io.ErrUnexpectedEOF {
			return n, fmt.Errorf("size %d bytes is not a multiple of the record size %d (truncated after record %d)",
				n*CIFARRecordSize+k, CIFARRecordSize, n)
		}
		if err != nil {
			return n, err
		}
		if rec[0] >= cifarClasses {
			return n, fmt.Errorf("record %d: label %d out of range: want 0..%d", n, rec[0], cifarClasses-1)
		}
		if fn != nil {
			if err := fn(rec[0], rec[1:]); err != nil {
				return n, err
			}
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("empty CIFAR batch: want a multiple of %d bytes (records)", CIFARRecordSize)
	}
	return n, nil
}

// cifarFiles reads CIFAR-10 records on demand from batch files (os.File.ReadAt is safe for
// concurrent use); memory is one record per read.
type cifarFiles struct {
	files  []*os.File
	names  []string
	starts []int // first row of each file; len(files)+1 entries
}

func (c *cifarFiles) image(row int, dst []uint8) error {
	f := sort.SearchInts(c.starts, row+1) - 1
	rec := make([]byte, CIFARImageSize)
	off := int64(row-c.starts[f])*CIFARRecordSize + 1
	if _, err := c.files[f].ReadAt(rec, off); err != nil {
		return fmt.Errorf("%s: reading record %d: %w", c.names[f], row-c.starts[f], err)
	}
	cifarCHWToHWC(dst, rec)
	return nil
}

func (c *cifarFiles) desc() string { return strings.Join(c.names, ", ") }

// openCIFARSet opens batch files as one file-backed set: it checks each file's size, scans the
// labels (sequential read, one record of memory) and keeps the files open for on-demand reads.
func openCIFARSet(name string, paths []string) (*Set, error) {
	c := &cifarFiles{starts: []int{0}}
	var labels []uint8
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("datasets: %w", err)
		}
		c.files = append(c.files, f)
		c.names = append(c.names, p)
		st, err := f.Stat()
		if err != nil {
			c.close()
			return nil, fmt.Errorf("datasets: %w", err)
		}
		if st.Size() == 0 || st.Size()%CIFARRecordSize != 0 {
			c.close()
			return nil, fmt.Errorf("datasets: %s: size %d bytes is not a positive multiple of the record size %d (truncated or not a CIFAR-10 binary batch)",
				p, st.Size(), CIFARRecordSize)
		}
		n, err := ScanCIFAR(io.NewSectionReader(f, 0, st.Size()), func(l uint8, _ []byte) error {
			labels = append(labels, l)
			return nil
		})
		if err != nil {
			c.close()
			return nil, fmt.Errorf("datasets: %s: %w", p, err)
		}
		c.starts = append(c.starts, c.starts[len(c.starts)-1]+n)
	}
	return &Set{name: name, h: cifarSide, w: cifarSide, c: 3, classes: cifarClasses, store: c, labels: labels}, nil
}

func (c *cifarFiles) close() {
	for _, f := range c.files {
		f.Close()
	}
}

// loadCIFAR opens the located batches (extracting the archive first if only it was found).
func loadCIFAR(loc *Location, o *options) (*rawData, error) {
	files := loc.Files
	if len(files) == 0 && loc.Archive != "" {
		dir, err := extractedCIFARDir(loc.Archive, o)
		if err != nil {
			return nil, err
		}
		for _, n := range cifarBatchNames {
			files = append(files, filepath.Join(dir, n))
		}
		loc.Files, loc.Dir = files, dir
	}
	if len(files) != len(cifarBatchNames) {
		return nil, fmt.Errorf("datasets: cifar10: internal error: %d files located, want %d", len(files), len(cifarBatchNames))
	}
	train, err := openCIFARSet(CIFAR10+"/"+SplitTrainFull, files[:5])
	if err != nil {
		return nil, err
	}
	test, err := openCIFARSet(CIFAR10+"/"+SplitTest, files[5:])
	if err != nil {
		return nil, err
	}
	return &rawData{train: train, test: test, loc: loc}, nil
}

// extractedCIFARDir returns a folder holding the six batches of archive, extracting it once: into
// cifar-10-batches-bin/ next to the archive, or, if that folder cannot be written, into
// <cache>/fisens/cifar10/<key>/cifar-10-batches-bin/ (key: a hash of the archive's path, size and
// modification time).
func extractedCIFARDir(archive string, o *options) (string, error) {
	next := filepath.Join(filepath.Dir(archive), CIFARFolderName)
	if hasAllCIFAR(next) {
		return next, nil
	}
	st, err := os.Stat(archive)
	if err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	abs, _ := filepath.Abs(archive)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", abs, st.Size(), st.ModTime().UnixNano())))
	cacheRoot := o.cacheDir
	if cacheRoot == "" {
		if uc, err := os.UserCacheDir(); err == nil {
			cacheRoot = filepath.Join(uc, "fisens", "cifar10")
		}
	}
	var cached string
	if cacheRoot != "" {
		cached = filepath.Join(cacheRoot, hex.EncodeToString(sum[:8]), CIFARFolderName)
		if hasAllCIFAR(cached) {
			return cached, nil
		}
	}
	if writable(filepath.Dir(next)) || cached == "" {
		if err := ExtractCIFARArchive(archive, filepath.Dir(next), o.progress); err != nil {
			return "", err
		}
		return next, nil
	}
	if err := ExtractCIFARArchive(archive, filepath.Dir(cached), o.progress); err != nil {
		return "", err
	}
	return cached, nil
}

// writable reports whether a file can be created in dir.
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".fisens-probe-")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}

func hasAllCIFAR(dir string) bool {
	for _, n := range cifarBatchNames {
		if !fileExists(filepath.Join(dir, n)) {
			return false
		}
	}
	return true
}

// WalkCIFARArchive streams a CIFAR-10 binary .tar.gz and calls fn for each of the six batch
// entries (data_batch_1..5.bin, test_batch.bin, in archive order) with the entry's base name, its
// size and a reader over its bytes. Other entries are skipped. It fails if a batch is missing.
func WalkCIFARArchive(r io.Reader, fn func(name string, size int64, r io.Reader) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzip file: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("corrupt tar archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		base := path.Base(h.Name)
		if !isCIFARBatchName(base) {
			continue
		}
		if seen[base] {
			return fmt.Errorf("batch %s appears twice in the archive", base)
		}
		seen[base] = true
		if err := fn(base, h.Size, tr); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	var missing []string
	for _, n := range cifarBatchNames {
		if !seen[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("archive lacks %s: want %s/{%s}", strings.Join(missing, ", "), CIFARFolderName, strings.Join(cifarBatchNames, ","))
	}
	return nil
}

func isCIFARBatchName(n string) bool {
	for _, b := range cifarBatchNames {
		if n == b {
			return true
		}
	}
	return false
}

// ExtractCIFARArchive unpacks the six batches of a CIFAR-10 binary .tar.gz into
// destParent/cifar-10-batches-bin/, checking every batch (record size, labels) while streaming. It
// writes into a temporary folder first and renames it, so an interrupted extraction leaves nothing
// half-written behind. Progress (records) is reported to w if not nil.
func ExtractCIFARArchive(archive, destParent string, w io.Writer) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	if err := os.MkdirAll(destParent, 0o755); err != nil {
		return fmt.Errorf("datasets: extracting %s: %w", archive, err)
	}
	tmp, err := os.MkdirTemp(destParent, ".cifar-extract-")
	if err != nil {
		return fmt.Errorf("datasets: extracting %s: %w", archive, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("datasets: extracting %s: %w", archive, err)
	}
	bar := progress.New(w, "extract "+filepath.Base(archive), 6*cifarPerBatch)
	err = WalkCIFARArchive(f, func(name string, size int64, r io.Reader) error {
		out, err := os.Create(filepath.Join(tmp, name))
		if err != nil {
			return err
		}
		bw := bufio.NewWriterSize(out, 1<<16)
		_, err = ScanCIFAR(r, func(l uint8, planar []byte) error {
			bw.WriteByte(l)
			_, err := bw.Write(planar)
			bar.Add(1)
			return err
		})
		if err == nil {
			err = bw.Flush()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	})
	bar.Done()
	if err != nil {
		return fmt.Errorf("datasets: %s: %w", archive, err)
	}
	dest := filepath.Join(destParent, CIFARFolderName)
	if err := os.Rename(tmp, dest); err != nil {
		if hasAllCIFAR(dest) { // extracted concurrently by someone else
			return nil
		}
		return fmt.Errorf("datasets: extracting %s: %w", archive, err)
	}
	return nil
}
