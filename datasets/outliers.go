package datasets

import (
	"fmt"
	"sort"
)

// OutlierConfig configures MakeOutliers (Shu & Zhu, Setup 0). Zero fields take the paper's values.
type OutlierConfig struct {
	PerClass      int              // base images per class (default 300)
	TrainPerClass int              // of those, training outliers; the rest are validation outliers (default 90 % of PerClass: 270)
	MaxShift      int              // s: shifts are integers in [−s, s] on both axes (default 4; negative: no shift)
	Seed          int64            // seed of every random choice
	Keep          func(i int) bool // which examples of src may be a base (e.g. both models classify it correctly); nil: all
	// DisjointPartners draws each partner without replacement from the images of other classes that
	// are not bases (the authors' code, shu-hai/SA_DNN); false: uniformly, with replacement, from every
	// image of another class (bases included).
	DisjointPartners bool
}

// DefaultOutlierConfig returns the paper's setting: 300 per class, 270 train + 30 validation, s = 4.
func DefaultOutlierConfig() OutlierConfig {
	return OutlierConfig{PerClass: 300, TrainPerClass: 270, MaxShift: 4}
}

// Outlier is the provenance of one simulated outlier.
type Outlier struct {
	Index        int    // index of the outlier in its set (train or valid)
	Train        bool   // true: in the training outliers; false: in the validation outliers
	Label        int    // the outlier's label: the base image's label
	Base         int    // index in src of the base image
	Partner      int    // index in src of the overlaid image (of a different class)
	PartnerLabel int    // the partner's label
	BaseShift    [2]int // shift of the base image (rows down, columns right), each in [−s, s]
	PartnerShift [2]int // shift of the partner image (rows down, columns right)
}

// outlierStream is the generator stream of MakeOutliers.
const outlierStream = 0x5117_0002

// MakeOutliers builds simulated outliers from src: per class, PerClass base images (drawn uniformly
// among those Keep accepts), each overlaid with a uniformly drawn image of a different class; both
// are shifted independently by integers in [−s, s] on both axes (zero fill) and combined by the
// pixel-wise maximum; the outlier keeps the base label. Per class the first TrainPerClass drawn
// bases become training outliers and the rest validation outliers; within a set, outliers are in
// class order and, within a class, in increasing base index. prov lists the training outliers then
// the validation outliers, in set order. The result depends only on src and cfg (Seed included).
// The sets are named "<src>/outliers-train" and "<src>/outliers-valid"; their SourceIndex is the
// base image's SourceIndex in src.
func MakeOutliers(src *Set, cfg OutlierConfig) (train, valid *Set, prov []Outlier, err error) {
	if src == nil || src.Len() == 0 {
		return nil, nil, nil, fmt.Errorf("datasets: MakeOutliers: empty source set")
	}
	if cfg.PerClass == 0 {
		cfg.PerClass = 300
	}
	if cfg.TrainPerClass == 0 {
		cfg.TrainPerClass = cfg.PerClass * 9 / 10
	}
	if cfg.MaxShift == 0 {
		cfg.MaxShift = 4
	}
	s := cfg.MaxShift
	if s < 0 {
		s = 0
	}
	if cfg.PerClass < 0 || cfg.TrainPerClass < 0 || cfg.TrainPerClass > cfg.PerClass {
		return nil, nil, nil, fmt.Errorf("datasets: MakeOutliers: PerClass %d, TrainPerClass %d: want 0 <= TrainPerClass <= PerClass",
			cfg.PerClass, cfg.TrainPerClass)
	}
	h, w, c := src.Dims()
	if s >= h || s >= w {
		return nil, nil, nil, fmt.Errorf("datasets: MakeOutliers: MaxShift %d, want less than the image size %d×%d", s, h, w)
	}
	K := src.NumClasses()
	// Candidates for bases, and all examples grouped by class (for the partners).
	byClass := make([][]int, K)
	cands := make([][]int, K)
	for i := 0; i < src.Len(); i++ {
		l := src.Label(i)
		byClass[l] = append(byClass[l], i)
		if cfg.Keep == nil || cfg.Keep(i) {
			cands[l] = append(cands[l], i)
		}
	}
	grouped := make([]int, 0, src.Len())
	start := make([]int, K)
	for k := range byClass {
		start[k] = len(grouped)
		grouped = append(grouped, byClass[k]...)
	}
	r := newRNG(cfg.Seed, outlierStream)
	var trainProv, validProv []Outlier
	if cfg.DisjointPartners {
		var err error
		if trainProv, validProv, err = disjointOutliers(src, cfg, r, cands, s); err != nil {
			return nil, nil, nil, err
		}
	}
	for k := 0; k < K && !cfg.DisjointPartners; k++ {
		if len(cands[k]) < cfg.PerClass {
			return nil, nil, nil, fmt.Errorf("datasets: MakeOutliers: class %d of %s has %d eligible base images, want %d (PerClass)",
				k, src.Name(), len(cands[k]), cfg.PerClass)
		}
		others := len(grouped) - len(byClass[k])
		if others == 0 && cfg.PerClass > 0 {
			return nil, nil, nil, fmt.Errorf("datasets: MakeOutliers: %s has no image outside class %d to overlay", src.Name(), k)
		}
		chosen := append([]int(nil), r.choose(cands[k], cfg.PerClass)...)
		tr, va := chosen[:cfg.TrainPerClass], chosen[cfg.TrainPerClass:]
		sort.Ints(tr)
		sort.Ints(va)
		for part, bases := range [][]int{tr, va} {
			for _, b := range bases {
				j := r.intn(others)
				if j >= start[k] {
					j += len(byClass[k])
				}
				p := grouped[j]
				addOutlier(r, src, s, part == 0, k, b, p, &trainProv, &validProv)
			}
		}
	}
	build := func(name string, ps []Outlier) (*Set, error) {
		size := h * w * c
		imgs := make([]uint8, len(ps)*size)
		labels := make([]uint8, len(ps))
		srcIdx := make([]int, len(ps))
		for n, o := range ps {
			a, err := src.ReadImage(o.Base)
			if err != nil {
				return nil, err
			}
			b, err := src.ReadImage(o.Partner)
			if err != nil {
				return nil, err
			}
			OverlayMax(imgs[n*size:(n+1)*size], a, b, h, w, c, o.BaseShift, o.PartnerShift)
			labels[n] = uint8(o.Label)
			srcIdx[n] = src.SourceIndex(o.Base)
		}
		set, err := NewSet(name, h, w, c, K, imgs, labels)
		if err != nil {
			return nil, err
		}
		set.src = srcIdx
		return set, nil
	}
	if train, err = build(src.Name()+"/outliers-train", trainProv); err != nil {
		return nil, nil, nil, err
	}
	if valid, err = build(src.Name()+"/outliers-valid", validProv); err != nil {
		return nil, nil, nil, err
	}
	return train, valid, append(trainProv, validProv...), nil
}

// addOutlier draws the shifts of base b (class k) and partner p and appends the outlier to the
// training or the validation provenance, numbered in its list.
func addOutlier(r *rng, src *Set, s int, train bool, k, b, p int, trainProv, validProv *[]Outlier) {
	o := Outlier{Train: train, Label: k, Base: b, Partner: p, PartnerLabel: src.Label(p),
		BaseShift:    [2]int{r.rangeInt(-s, s), r.rangeInt(-s, s)},
		PartnerShift: [2]int{r.rangeInt(-s, s), r.rangeInt(-s, s)}}
	list := validProv
	if train {
		list = trainProv
	}
	o.Index = len(*list)
	*list = append(*list, o)
}

// disjointOutliers is MakeOutliers with DisjointPartners: every class's bases are drawn first, then
// each outlier's partner is drawn uniformly, without replacement, from the remaining non-base images
// of the other classes.
func disjointOutliers(src *Set, cfg OutlierConfig, r *rng, cands [][]int, s int) (trainProv, validProv []Outlier, err error) {
	K := src.NumClasses()
	bases := make([][2][]int, K)
	isBase := make(map[int]bool)
	for k := 0; k < K; k++ {
		if len(cands[k]) < cfg.PerClass {
			return nil, nil, fmt.Errorf("datasets: MakeOutliers: class %d of %s has %d eligible base images, want %d (PerClass)",
				k, src.Name(), len(cands[k]), cfg.PerClass)
		}
		chosen := append([]int(nil), r.choose(cands[k], cfg.PerClass)...)
		tr, va := chosen[:cfg.TrainPerClass], chosen[cfg.TrainPerClass:]
		sort.Ints(tr)
		sort.Ints(va)
		bases[k] = [2][]int{tr, va}
		for _, b := range chosen {
			isBase[b] = true
		}
	}
	avail := make([][]int, K) // non-base images by class, not yet used as a partner
	for i := 0; i < src.Len(); i++ {
		if !isBase[i] {
			avail[src.Label(i)] = append(avail[src.Label(i)], i)
		}
	}
	for k := 0; k < K; k++ {
		for part, bs := range bases[k] {
			for _, b := range bs {
				others := 0
				for c := range avail {
					if c != k {
						others += len(avail[c])
					}
				}
				if others == 0 {
					return nil, nil, fmt.Errorf("datasets: MakeOutliers: %s has too few non-base images of other classes for %d partners drawn without replacement",
						src.Name(), K*cfg.PerClass)
				}
				j, c := r.intn(others), 0
				for ; ; c++ {
					if c == k {
						continue
					}
					if j < len(avail[c]) {
						break
					}
					j -= len(avail[c])
				}
				p := avail[c][j]
				last := len(avail[c]) - 1
				avail[c][j], avail[c] = avail[c][last], avail[c][:last]
				addOutlier(r, src, s, part == 0, k, b, p, &trainProv, &validProv)
			}
		}
	}
	return trainProv, validProv, nil
}

// Shift writes into dst (h*w*c bytes, HWC) the image img moved down by shift[0] rows and right by
// shift[1] columns (negative: up / left), filling uncovered pixels with 0.
func Shift(dst, img []uint8, h, w, c int, shift [2]int) {
	clear(dst)
	for y := 0; y < h; y++ {
		sy := y - shift[0]
		if sy < 0 || sy >= h {
			continue
		}
		for x := 0; x < w; x++ {
			sx := x - shift[1]
			if sx < 0 || sx >= w {
				continue
			}
			copy(dst[(y*w+x)*c:(y*w+x+1)*c], img[(sy*w+sx)*c:(sy*w+sx+1)*c])
		}
	}
}

// OverlayMax writes into dst the pixel-wise maximum of a shifted by sa and b shifted by sb
// (all h*w*c bytes, HWC; zero fill).
func OverlayMax(dst, a, b []uint8, h, w, c int, sa, sb [2]int) {
	tmp := make([]uint8, h*w*c)
	Shift(dst, a, h, w, c, sa)
	Shift(tmp, b, h, w, c, sb)
	for i, v := range tmp {
		if v > dst[i] {
			dst[i] = v
		}
	}
}
