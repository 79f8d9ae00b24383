package datasets

import "fmt"

// ReadMNISTPair reads an idx image file ([n, h, w] or [n, h, w, c]) and its idx label file ([n])
// and checks that the counts agree and that every label is below classes.
func ReadMNISTPair(imagesPath, labelsPath string, classes int) (images []uint8, labels []uint8, h, w, c int, err error) {
	im, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, nil, 0, 0, 0, err
	}
	lb, err := ReadIDX(labelsPath)
	if err != nil {
		return nil, nil, 0, 0, 0, err
	}
	if len(im.Dims) != 3 && len(im.Dims) != 4 {
		return nil, nil, 0, 0, 0, fmt.Errorf("datasets: %s: image dimensions %v, want [count, height, width] (3 dimensions)", imagesPath, im.Dims)
	}
	h, w, c = im.Dims[1], im.Dims[2], 1
	if len(im.Dims) == 4 {
		c = im.Dims[3]
	}
	if len(lb.Dims) != 1 {
		return nil, nil, 0, 0, 0, fmt.Errorf("datasets: %s: label dimensions %v, want [count] (1 dimension)", labelsPath, lb.Dims)
	}
	if lb.Dims[0] != im.Dims[0] {
		return nil, nil, 0, 0, 0, fmt.Errorf("datasets: %s has %d labels but %s has %d images: want the same count",
			labelsPath, lb.Dims[0], imagesPath, im.Dims[0])
	}
	if h == 0 || w == 0 || c == 0 {
		return nil, nil, 0, 0, 0, fmt.Errorf("datasets: %s: image dimensions %v, want non-zero sizes", imagesPath, im.Dims)
	}
	for i, l := range lb.Data {
		if int(l) >= classes {
			return nil, nil, 0, 0, 0, fmt.Errorf("datasets: %s: label %d of record %d out of range: want 0..%d", labelsPath, l, i, classes-1)
		}
	}
	return im.Data, lb.Data, h, w, c, nil
}

// loadMNISTLike reads the four idx files of an MNIST-format dataset into memory.
func loadMNISTLike(loc *Location) (*rawData, error) {
	info := infos[loc.Dataset]
	if len(loc.Files) != 4 {
		return nil, fmt.Errorf("datasets: %s: internal error: %d files located, want 4", loc.Dataset, len(loc.Files))
	}
	var sets [2]*Set
	for k, split := range []string{SplitTrainFull, SplitTest} {
		imgs, labels, h, w, c, err := ReadMNISTPair(loc.Files[2*k], loc.Files[2*k+1], info.Classes)
		if err != nil {
			return nil, err
		}
		if h != info.H || w != info.W || c != info.C {
			return nil, fmt.Errorf("datasets: %s: images are %d×%d×%d, want %d×%d×%d for %s",
				loc.Files[2*k], h, w, c, info.H, info.W, info.C, loc.Dataset)
		}
		s, err := NewSet(loc.Dataset+"/"+split, h, w, c, info.Classes, imgs, labels)
		if err != nil {
			return nil, err
		}
		sets[k] = s
	}
	return &rawData{train: sets[0], test: sets[1], loc: loc}, nil
}
