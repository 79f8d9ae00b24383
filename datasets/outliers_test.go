package datasets

import (
	"slices"
	"testing"
)

// shifted returns pixel (y, x, ch) of img moved by sh, computed independently of Shift.
func shifted(img []uint8, h, w, c int, sh [2]int, y, x, ch int) uint8 {
	sy, sx := y-sh[0], x-sh[1]
	if sy < 0 || sy >= h || sx < 0 || sx >= w {
		return 0
	}
	return img[(sy*w+sx)*c+ch]
}

func TestShiftKnownAnswer(t *testing.T) {
	img := []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9} // 3×3×1
	dst := make([]uint8, 9)
	Shift(dst, img, 3, 3, 1, [2]int{1, -1}) // down 1, left 1
	if want := []uint8{0, 0, 0, 2, 3, 0, 5, 6, 0}; !slices.Equal(dst, want) {
		t.Errorf("Shift = %v, want %v", dst, want)
	}
	OverlayMax(dst, img, []uint8{9, 0, 0, 0, 0, 0, 0, 0, 0}, 3, 3, 1, [2]int{0, 0}, [2]int{2, 2})
	if want := []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(dst, want) {
		t.Errorf("OverlayMax = %v, want %v", dst, want)
	}
}

// smallSource builds a 10-class set of 8×8×2 images, 12 per class, with random-looking pixels.
func smallSource(t *testing.T) *Set {
	t.Helper()
	const n, size = 120, 8 * 8 * 2
	r := newRNG(99, 5)
	imgs := make([]uint8, n*size)
	for i := range imgs {
		imgs[i] = uint8(r.intn(256))
	}
	labels := make([]uint8, n)
	for i := range labels {
		labels[i] = uint8((i * 7) % 10)
	}
	s, err := NewSet("small/train", 8, 8, 2, 10, imgs, labels)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMakeOutliers(t *testing.T) {
	src := smallSource(t)
	keep := func(i int) bool { return i%6 != 1 } // e.g. "classified correctly"
	cfg := OutlierConfig{PerClass: 8, TrainPerClass: 5, MaxShift: 2, Seed: 3, Keep: keep}
	train, valid, prov, err := MakeOutliers(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 50 || valid.Len() != 30 || len(prov) != 80 {
		t.Fatalf("sizes %d + %d, %d provenance records", train.Len(), valid.Len(), len(prov))
	}
	if train.Name() != "small/train/outliers-train" || valid.Name() != "small/train/outliers-valid" {
		t.Errorf("names %q, %q", train.Name(), valid.Name())
	}
	for _, s := range []*Set{train, valid} {
		if !slices.Equal(s.Histogram(), slices.Repeat([]int{s.Len() / 10}, 10)) {
			t.Errorf("%s histogram %v", s.Name(), s.Histogram())
		}
	}
	bases := map[int]bool{}
	h, w, c := src.Dims()
	for k, o := range prov {
		set := train
		if !o.Train {
			set = valid
		}
		if (k < 50) != o.Train {
			t.Fatalf("provenance %d: Train = %v", k, o.Train)
		}
		if bases[o.Base] {
			t.Fatalf("base %d used twice", o.Base)
		}
		bases[o.Base] = true
		if !keep(o.Base) {
			t.Errorf("base %d rejected by Keep", o.Base)
		}
		if o.Label != src.Label(o.Base) || set.Label(o.Index) != o.Label || set.SourceIndex(o.Index) != o.Base {
			t.Errorf("outlier %d: label %d, base label %d", k, o.Label, src.Label(o.Base))
		}
		if o.PartnerLabel == o.Label || o.PartnerLabel != src.Label(o.Partner) {
			t.Errorf("outlier %d: partner of class %d, base class %d", k, src.Label(o.Partner), o.Label)
		}
		for _, v := range []int{o.BaseShift[0], o.BaseShift[1], o.PartnerShift[0], o.PartnerShift[1]} {
			if v < -2 || v > 2 {
				t.Fatalf("outlier %d: shift %d outside [-2, 2]", k, v)
			}
		}
		a, b, got := src.Image(o.Base), src.Image(o.Partner), set.Image(o.Index)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for ch := 0; ch < c; ch++ {
					want := max(shifted(a, h, w, c, o.BaseShift, y, x, ch), shifted(b, h, w, c, o.PartnerShift, y, x, ch))
					if got[(y*w+x)*c+ch] != want {
						t.Fatalf("outlier %d pixel (%d,%d,%d) = %d, want max of shifted images %d", k, y, x, ch, got[(y*w+x)*c+ch], want)
					}
				}
			}
		}
	}
	// Every shift value is drawn, and both images are not always shifted alike.
	seen := map[int]bool{}
	for _, o := range prov {
		seen[o.BaseShift[0]], seen[o.PartnerShift[1]] = true, true
	}
	if len(seen) != 5 {
		t.Errorf("shift values drawn: %v, want all of -2..2", seen)
	}
	// Determinism, and dependence on the seed.
	train2, _, prov2, err := MakeOutliers(src, cfg)
	if err != nil || !slices.Equal(prov, prov2) || !slices.Equal(train.Image(7), train2.Image(7)) {
		t.Error("same config, different outliers")
	}
	cfg.Seed = 4
	_, _, prov3, _ := MakeOutliers(src, cfg)
	if slices.Equal(prov, prov3) {
		t.Error("different seeds, same outliers")
	}
	// Not enough eligible bases.
	cfg.PerClass, cfg.TrainPerClass = 11, 10
	if _, _, _, err := MakeOutliers(src, cfg); err == nil {
		t.Error("11 per class from ≤ 10 eligible accepted")
	}
}

func TestMakeOutliersRealMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the paper's 3,000 outliers")
	}
	src := loadRealMNIST(t, SplitTrain)
	train, valid, prov, err := MakeOutliers(src, DefaultOutlierConfig())
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 2700 || valid.Len() != 300 || len(prov) != 3000 {
		t.Fatalf("sizes %d / %d", train.Len(), valid.Len())
	}
	if train.SourceIndex(0) != src.SourceIndex(prov[0].Base) {
		t.Error("source index of an outlier is not its base's")
	}
}

func TestMakeOutliersDisjointPartners(t *testing.T) {
	src := smallSource(t) // 12 per class
	cfg := OutlierConfig{PerClass: 5, TrainPerClass: 4, MaxShift: 1, Seed: 4, DisjointPartners: true}
	train, valid, prov, err := MakeOutliers(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 40 || valid.Len() != 10 || len(prov) != 50 {
		t.Fatalf("sizes %d + %d, %d records", train.Len(), valid.Len(), len(prov))
	}
	bases, partners := map[int]bool{}, map[int]bool{}
	for _, o := range prov {
		bases[o.Base] = true
	}
	for _, o := range prov {
		switch {
		case bases[o.Partner]:
			t.Fatalf("partner %d is a base", o.Partner)
		case partners[o.Partner]:
			t.Fatalf("partner %d drawn twice", o.Partner)
		case o.PartnerLabel == o.Label || src.Label(o.Partner) != o.PartnerLabel || src.Label(o.Base) != o.Label:
			t.Fatalf("labels: %+v", o)
		}
		partners[o.Partner] = true
	}
	// Deterministic.
	_, _, prov2, _ := MakeOutliers(src, cfg)
	for i := range prov {
		if prov[i] != prov2[i] {
			t.Fatal("not deterministic")
		}
	}
	if _, _, _, err := MakeOutliers(src, OutlierConfig{PerClass: 7, TrainPerClass: 5, Seed: 4, DisjointPartners: true}); err == nil {
		t.Fatal("70 bases leave 50 non-bases for 70 partners: want an error")
	}
}
