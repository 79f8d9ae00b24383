package datasets

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestParseCIFARKnownAnswer decodes one record written byte by byte: label 7, red plane all 10
// except pixel (0, 1) = 200, green plane all 20, blue plane the pixel index mod 256.
func TestParseCIFARKnownAnswer(t *testing.T) {
	rec := []byte{7}
	for p := 0; p < 1024; p++ {
		v := byte(10)
		if p == 1 {
			v = 200
		}
		rec = append(rec, v)
	}
	for p := 0; p < 1024; p++ {
		rec = append(rec, 20)
	}
	for p := 0; p < 1024; p++ {
		rec = append(rec, byte(p%256))
	}
	imgs, labels, err := ParseCIFAR(bytes.NewReader(rec))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(labels, []uint8{7}) || len(imgs) != 3072 {
		t.Fatalf("labels %v, %d image bytes", labels, len(imgs))
	}
	// HWC: pixel (r, c) channel ch is at (r*32+c)*3+ch.
	want := map[int]byte{0: 10, 1: 20, 2: 0, 3: 200, 4: 20, 5: 1, (1*32+0)*3 + 2: 32, (31*32+31)*3 + 2: 255, (31*32+31)*3 + 0: 10}
	for at, v := range want {
		if imgs[at] != v {
			t.Errorf("byte %d = %d, want %d", at, imgs[at], v)
		}
	}
}

func TestParseCIFARErrors(t *testing.T) {
	two := cifarBatch(0, 2)
	bad := append([]byte{}, two...)
	bad[CIFARRecordSize] = 10 // label of record 1
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty CIFAR batch"},
		{"truncated", two[:len(two)-1], "size 6145 bytes is not a multiple of the record size 3073"},
		{"label", bad, "record 1: label 10 out of range: want 0..9"},
	}
	for _, c := range cases {
		_, _, err := ParseCIFAR(bytes.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseCIFAR %s: error %v, want %q", c.name, err, c.want)
		}
		_, err = ScanCIFAR(bytes.NewReader(c.in), nil)
		if err == nil {
			t.Errorf("ScanCIFAR %s: no error", c.name)
		}
	}
}

// TestLoadCIFARFolder loads small CIFAR-format files from a folder and checks that the on-demand
// reads agree with the in-memory parser, the split and the file errors.
func TestLoadCIFARFolder(t *testing.T) {
	dir := t.TempDir()
	files := fakeCIFARFiles(20)
	for n, data := range files {
		writeFile(t, filepath.Join(dir, CIFARFolderName, n), data)
	}
	full, err := Load(CIFAR10, SplitTrainFull, WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if h, w, c := full.Dims(); full.Len() != 100 || h != 32 || w != 32 || c != 3 {
		t.Fatalf("train-full: %d examples of %d×%d×%d", full.Len(), h, w, c)
	}
	wantImgs, wantLabels, err := ParseCIFAR(bytes.NewReader(files["data_batch_3.bin"]))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if full.Label(40+i) != int(wantLabels[i]) || !bytes.Equal(full.Image(40+i), wantImgs[i*3072:(i+1)*3072]) {
			t.Fatalf("example %d differs from the parsed batch", 40+i)
		}
	}
	test, err := Load(CIFAR10, SplitTest, WithDir(dir))
	if err != nil || test.Len() != 20 || test.Label(0) != 0 {
		t.Fatalf("test: %v", err)
	}
	_, err = Load(CIFAR10, SplitValid, WithDir(dir))
	if err == nil || !strings.Contains(err.Error(), "fewer than the 500 per class") {
		t.Errorf("default 500 per class on 10-per-class data: %v", err)
	}
	valid, err := Load(CIFAR10, SplitValid, WithDir(dir), WithValidPerClass(3))
	if err != nil {
		t.Fatal(err)
	}
	if valid.Len() != 30 || !slices.Equal(valid.Histogram(), []int{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}) {
		t.Errorf("valid: %d examples, histogram %v", valid.Len(), valid.Histogram())
	}
	for i := 0; i < valid.Len(); i++ {
		if !bytes.Equal(valid.Image(i), full.Image(valid.SourceIndex(i))) {
			t.Fatalf("valid example %d is not training example %d", i, valid.SourceIndex(i))
		}
	}
	// A batch that is not a whole number of records.
	p := filepath.Join(dir, CIFARFolderName, "data_batch_2.bin")
	writeFile(t, p, files["data_batch_2.bin"][:5000])
	_, err = Load(CIFAR10, SplitTrainFull, WithDir(dir))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a positive multiple of the record size 3073") {
		t.Errorf("truncated batch: %v", err)
	}
	// An out-of-range label.
	bad := append([]byte{}, files["data_batch_2.bin"]...)
	bad[5*CIFARRecordSize] = 200
	writeFile(t, p, bad)
	_, err = Load(CIFAR10, SplitTrainFull, WithDir(dir))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "record 5: label 200 out of range") {
		t.Errorf("bad label: %v", err)
	}
}

// TestLoadCIFARArchive loads from the .tar.gz alone: it is extracted next to it once.
func TestLoadCIFARArchive(t *testing.T) {
	dir := t.TempDir()
	files := fakeCIFARFiles(10)
	writeFile(t, filepath.Join(dir, CIFARArchiveName), cifarTarGz(files))
	loc, err := Locate(CIFAR10, WithDir(dir))
	if err != nil || loc.Archive == "" || len(loc.Files) != 0 {
		t.Fatalf("Locate: %v %+v", err, loc)
	}
	s, err := Load(CIFAR10, SplitTest, WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	imgs, labels, _ := ParseCIFAR(bytes.NewReader(files["test_batch.bin"]))
	if s.Len() != 10 || !bytes.Equal(s.Image(9), imgs[9*3072:]) || s.Label(9) != int(labels[9]) {
		t.Fatalf("test set from the archive differs")
	}
	for _, n := range cifarBatchNames {
		got, err := os.ReadFile(filepath.Join(dir, CIFARFolderName, n))
		if err != nil || !bytes.Equal(got, files[n]) {
			t.Fatalf("extracted %s differs: %v", n, err)
		}
	}
	// An archive lacking a batch.
	dir2 := t.TempDir()
	delete(files, "data_batch_4.bin")
	writeFile(t, filepath.Join(dir2, CIFARArchiveName), cifarTarGz(files))
	_, err = Load(CIFAR10, SplitTest, WithDir(dir2))
	if err == nil || !strings.Contains(err.Error(), "lacks data_batch_4.bin") {
		t.Errorf("incomplete archive: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, CIFARFolderName)); err == nil {
		t.Errorf("a failed extraction left %s behind", CIFARFolderName)
	}
}

func TestCIFARNotFoundSaysHow(t *testing.T) {
	_, err := Load(CIFAR10, SplitTrain, WithDir(t.TempDir()))
	if !IsNotFound(err) || !strings.Contains(err.Error(), "fisens data fetch cifar10") || !strings.Contains(err.Error(), CIFARArchiveName) {
		t.Errorf("error %v should say how to get CIFAR-10", err)
	}
}

// FuzzParseCIFAR feeds the parser batches built from a compact description (so that the fuzzer's
// inputs stay small and it spends its time exploring, not minimizing kilobyte inputs): one record
// per byte of labels (at most 64), pixel planes filled by repeating payload, then cut bytes removed
// from the end. The oracle: an error exactly when the batch is empty, not a whole number of records,
// or holds a label above 9; otherwise the labels and the planar→HWC pixels are as built.
func FuzzParseCIFAR(f *testing.F) {
	f.Add([]byte{3}, []byte{1, 2, 3}, uint16(0))
	f.Add([]byte{0, 9, 5}, []byte{200}, uint16(0))
	f.Add([]byte{1, 2}, []byte{7}, uint16(100))
	f.Add([]byte{11}, []byte{}, uint16(0))
	f.Add([]byte{}, []byte{4}, uint16(0))
	f.Fuzz(func(t *testing.T, labels, payload []byte, cut uint16) {
		if len(labels) > 64 {
			labels = labels[:64]
		}
		var b bytes.Buffer
		for i, l := range labels {
			b.WriteByte(l)
			for k := 0; k < CIFARImageSize; k++ {
				v := byte(i + k)
				if len(payload) > 0 {
					v ^= payload[k%len(payload)]
				}
				b.WriteByte(v)
			}
		}
		in := b.Bytes()
		in = in[:len(in)-min(int(cut), len(in))]
		n := len(in) / CIFARRecordSize
		wantErr := len(in) == 0 || len(in)%CIFARRecordSize != 0
		for i := 0; i < n; i++ {
			wantErr = wantErr || labels[i] > 9
		}
		imgs, got, err := ParseCIFAR(bytes.NewReader(in))
		scanned, serr := ScanCIFAR(bytes.NewReader(in), nil)
		if (err != nil) != wantErr || (serr != nil) != wantErr {
			t.Fatalf("%d bytes, labels %v: ParseCIFAR error %v, ScanCIFAR error %v, want error: %v", len(in), labels, err, serr, wantErr)
		}
		if err != nil {
			return
		}
		if scanned != n || !bytes.Equal(got, labels[:n]) || len(imgs) != n*CIFARImageSize {
			t.Fatalf("%d records scanned, labels %v, %d image bytes; want %d records", scanned, got, len(imgs), n)
		}
		for i := 0; i < n; i++ {
			rec := in[i*CIFARRecordSize+1 : (i+1)*CIFARRecordSize]
			img := imgs[i*CIFARImageSize : (i+1)*CIFARImageSize]
			for p := 0; p < 1024; p++ {
				for ch := 0; ch < 3; ch++ {
					if img[3*p+ch] != rec[ch*1024+p] {
						t.Fatalf("record %d pixel %d channel %d: %d, want %d", i, p, ch, img[3*p+ch], rec[ch*1024+p])
					}
				}
			}
		}
	})
}

// TestVerifyCIFAR checks a small archive (streamed, not unpacked) and its unpacked folder: both
// parse, and both report the differences from the canonical counts.
func TestVerifyCIFAR(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, CIFARArchiveName), cifarTarGz(fakeCIFARFiles(10)))
	for _, unpacked := range []bool{false, true} {
		if unpacked {
			if err := ExtractCIFARArchive(filepath.Join(dir, CIFARArchiveName), dir, nil); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := Verify(CIFAR10, WithDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() || rep.TrainCount != 50 || rep.TestCount != 10 || !slices.Equal(rep.TestHist, slices.Repeat([]int{1}, 10)) {
			t.Errorf("unpacked=%v: report %+v", unpacked, rep)
		}
		if unpacked == (len(rep.Location.Files) == 0) {
			t.Errorf("unpacked=%v: location %+v", unpacked, rep.Location)
		}
	}
}
