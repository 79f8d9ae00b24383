package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// idxBytes encodes an unsigned-byte idx file.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(p []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(p)
	zw.Close()
	return b.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeMNIST writes a small MNIST-format dataset (28×28 images) into dir: nTrain training and nTest
// test images, label i%10, pixel (r, c) of image i = (i + r*28 + c) % 256. gz selects .gz files,
// dot selects the "train-images.idx3-ubyte" naming variant.
func fakeMNIST(t testing.TB, dir string, nTrain, nTest int, gz, dot bool) {
	t.Helper()
	write := func(prefix string, n int) {
		imgs := make([]byte, n*784)
		labels := make([]byte, n)
		for i := 0; i < n; i++ {
			labels[i] = byte(i % 10)
			for p := 0; p < 784; p++ {
				imgs[i*784+p] = byte((i + p) % 256)
			}
		}
		files := map[string][]byte{
			"images-idx3-ubyte": idxBytes([]int{n, 28, 28}, imgs),
			"labels-idx1-ubyte": idxBytes([]int{n}, labels),
		}
		for kind, data := range files {
			name := prefix + "-" + kind
			if dot {
				name = prefix + "-" + kind[:6] + "." + kind[7:]
			}
			if gz {
				name += ".gz"
				data = gzipBytes(data)
			}
			writeFile(t, filepath.Join(dir, name), data)
		}
	}
	write("train", nTrain)
	write("t10k", nTest)
}

// cifarRecord builds one record whose planar pixel (ch, p) is (seed + 7*ch + p) % 256.
func cifarRecord(label byte, seed int) []byte {
	rec := make([]byte, CIFARRecordSize)
	rec[0] = label
	for ch := 0; ch < 3; ch++ {
		for p := 0; p < 1024; p++ {
			rec[1+ch*1024+p] = byte((seed + 7*ch + p) % 256)
		}
	}
	return rec
}

// cifarBatch builds n records with labels (start+i)%10 and seeds start+i.
func cifarBatch(start, n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.Write(cifarRecord(byte((start+i)%10), start+i))
	}
	return b.Bytes()
}

// fakeCIFARFiles returns the six batch files with perFile records each (global record index i has
// label i%10 and seed i; the test batch continues the numbering).
func fakeCIFARFiles(perFile int) map[string][]byte {
	files := map[string][]byte{}
	for k, n := range cifarBatchNames {
		files[n] = cifarBatch(k*perFile, perFile)
	}
	return files
}

// cifarTarGz packs files under cifar-10-batches-bin/ (plus a readme) into a .tar.gz.
func cifarTarGz(files map[string][]byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: CIFARFolderName + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	readme := []byte("batches.meta.txt stand-in\n")
	tw.WriteHeader(&tar.Header{Name: CIFARFolderName + "/batches.meta.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(readme))})
	tw.Write(readme)
	for _, n := range cifarBatchNames {
		data, ok := files[n]
		if !ok {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: CIFARFolderName + "/" + n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}
