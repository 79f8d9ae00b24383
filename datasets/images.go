package datasets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // JPEG decoder
	_ "image/png"  // PNG decoder
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	xdraw "golang.org/x/image/draw"
)

// Your own images: a folder of PNG/JPEG files, optionally with labels, as a Set.

// ImagesPrefix names an image folder as a dataset in Load: "images:DIR" (a path to an existing
// directory works too).
const ImagesPrefix = "images:"

// LabelsFile is the default labels file inside an image folder.
const LabelsFile = "labels.csv"

// Splits of an image folder in Load: all its images with their labels, or without labels.
const (
	SplitAll       = "all"
	SplitUnlabeled = "unlabeled"
)

// ImageOptions configure ReadImageFile and LoadImages.
type ImageOptions struct {
	// Height and Width the images must have (0: whatever the first image has; all must agree).
	Height, Width int
	// Resize images of another size to Height × Width (bilinear). Without it a different size is an
	// error: fisens never resizes silently.
	Resize bool
	// Channels: 1 (grayscale: ITU-R 601 luma, as Go's color.GrayModel), 3 (RGB; alpha is dropped
	// over black), 0 (1 if the first image is grayscale, else 3).
	Channels int
	// Labels is a CSV file of "file,label" rows (a header row is allowed); "" → DIR/labels.csv if it
	// exists. Labels are class indices 0..Classes-1.
	Labels string
	// Unlabeled loads the images without labels even if a labels file exists (every label is 0:
	// use only with an objective that does not need labels, such as the predicted class).
	Unlabeled bool
	// Classes is the number of classes (0: 1 + the largest label, at least 2).
	Classes int
}

func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// ReadImageFile decodes one PNG or JPEG file into HWC bytes with the options' channels and size.
func ReadImageFile(path string, opts ImageOptions) (pix []uint8, h, w, c int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("datasets: image: %w", err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("datasets: image %s is not a PNG or JPEG image: %w", path, err)
	}
	c = opts.Channels
	if c == 0 {
		c = 3
		switch img.ColorModel() {
		case color.GrayModel, color.Gray16Model:
			c = 1
		}
	}
	if c != 1 && c != 3 {
		return nil, 0, 0, 0, fmt.Errorf("datasets: image %s: %d channels requested, want 1 or 3", path, c)
	}
	b := img.Bounds()
	h, w = b.Dy(), b.Dx()
	if (opts.Height > 0 && h != opts.Height) || (opts.Width > 0 && w != opts.Width) {
		if !opts.Resize {
			return nil, 0, 0, 0, fmt.Errorf("datasets: image %s is %dx%d (HxW), expected %dx%d: resize it yourself or ask for resizing (--resize, ImageOptions.Resize)",
				path, h, w, opts.Height, opts.Width)
		}
		th, tw := opts.Height, opts.Width
		if th <= 0 {
			th = h
		}
		if tw <= 0 {
			tw = w
		}
		dst := image.NewRGBA64(image.Rect(0, 0, tw, th))
		xdraw.BiLinear.Scale(dst, dst.Bounds(), img, b, xdraw.Src, nil)
		img, b, h, w = dst, dst.Bounds(), th, tw
	}
	_ = format
	pix = make([]uint8, h*w*c)
	for y := range h {
		for x := range w {
			px := img.At(b.Min.X+x, b.Min.Y+y)
			o := (y*w + x) * c
			if c == 1 {
				pix[o] = color.GrayModel.Convert(px).(color.Gray).Y
			} else {
				r, g, bb, _ := px.RGBA() // premultiplied: alpha over black
				pix[o], pix[o+1], pix[o+2] = uint8(r>>8), uint8(g>>8), uint8(bb>>8)
			}
		}
	}
	return pix, h, w, c, nil
}

// ImageFiles lists the PNG and JPEG files of dir, sorted by name.
func ImageFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("datasets: image folder: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && isImageFile(e.Name()) {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("datasets: image folder %s has no .png, .jpg or .jpeg file", dir)
	}
	return files, nil
}

// LoadImages reads a folder of PNG/JPEG images (sorted by file name: example i is the i-th file) as
// a Set named "images:DIR". Labels come from a "file,label" CSV (ImageOptions.Labels, else
// DIR/labels.csv); every image must have one. Without a labels file (or with Unlabeled) every label
// is 0 and the set is named "images:DIR (unlabeled)". All images must have one size (or
// Height × Width with Resize).
func LoadImages(dir string, opts ImageOptions) (*Set, error) {
	files, err := ImageFiles(dir)
	if err != nil {
		return nil, err
	}
	labelsPath := opts.Labels
	if labelsPath == "" {
		if _, err := os.Stat(filepath.Join(dir, LabelsFile)); err == nil {
			labelsPath = filepath.Join(dir, LabelsFile)
		}
	}
	var labelOf map[string]int
	if labelsPath != "" && !opts.Unlabeled {
		if labelOf, err = readLabels(labelsPath); err != nil {
			return nil, err
		}
	}
	var pix []uint8
	labels := make([]uint8, len(files))
	h, w, c := opts.Height, opts.Width, opts.Channels
	maxLabel := 0
	for i, name := range files {
		p, ih, iw, ic, err := ReadImageFile(filepath.Join(dir, name), ImageOptions{Height: h, Width: w, Channels: c, Resize: opts.Resize})
		if err != nil {
			if i > 0 && !opts.Resize && opts.Height == 0 {
				return nil, fmt.Errorf("%w (the first image, %s, set the size; every image of a folder must have it)", err, files[0])
			}
			return nil, err
		}
		h, w, c = ih, iw, ic
		pix = append(pix, p...)
		if labelOf != nil {
			l, ok := labelOf[name]
			if !ok {
				return nil, fmt.Errorf("datasets: image %s has no label in %s (expected a \"%s,LABEL\" row for every image)", name, labelsPath, name)
			}
			if l < 0 || l > 255 {
				return nil, fmt.Errorf("datasets: %s: label %d of %s out of range 0..255", labelsPath, l, name)
			}
			labels[i] = uint8(l)
			maxLabel = max(maxLabel, l)
		}
	}
	classes := opts.Classes
	if classes == 0 {
		classes = max(2, maxLabel+1)
	}
	name := ImagesPrefix + dir
	if labelOf == nil {
		name += " (unlabeled)"
	}
	return NewSet(name, h, w, c, classes, pix, labels)
}

// readLabels reads "file,label" rows; a first row whose label is not a number is a header.
func readLabels(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: labels: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	out := map[string]int{}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("datasets: labels file %s: %w", path, err)
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("datasets: labels file %s line %d: expected \"file,label\"", path, line)
		}
		l, err := strconv.Atoi(strings.TrimSpace(rec[1]))
		if err != nil {
			if line == 1 {
				continue // header
			}
			return nil, fmt.Errorf("datasets: labels file %s line %d: label %q is not a class index", path, line, rec[1])
		}
		out[strings.TrimSpace(rec[0])] = l
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("datasets: labels file %s has no rows", path)
	}
	return out, nil
}

// imageFolder reports whether a dataset name in Load names an image folder, and its directory.
func imageFolder(dataset string) (string, bool) {
	if d, ok := strings.CutPrefix(dataset, ImagesPrefix); ok {
		return d, true
	}
	if st, err := os.Stat(dataset); err == nil && st.IsDir() {
		return dataset, true
	}
	return "", false
}

// loadImageFolder is Load for an image folder: split "all" (labels required) or "unlabeled".
func loadImageFolder(dir, split string) (*Set, error) {
	switch split {
	case SplitAll:
		labels := filepath.Join(dir, LabelsFile)
		if _, err := os.Stat(labels); err != nil {
			return nil, fmt.Errorf("datasets: image folder %s has no %s (\"file,label\" rows): add it, or use split %q (every label 0; only with the predicted-label objective)", dir, LabelsFile, SplitUnlabeled)
		}
		return LoadImages(dir, ImageOptions{})
	case SplitUnlabeled:
		return LoadImages(dir, ImageOptions{Unlabeled: true})
	}
	return nil, fmt.Errorf("datasets: image folder %s has no split %q: use %q (labels from %s) or %q", dir, split, SplitAll, LabelsFile, SplitUnlabeled)
}
