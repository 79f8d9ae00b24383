package datasets

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/fisens/fisens/internal/progress"
)

// CIFAR10MD5 is the MD5 of cifar-10-binary.tar.gz as commonly published (on the dataset's page and
// in torchvision). It was not verified here: no machine of this project could download the file.
const CIFAR10MD5 = "c32a1d4ab5d03f1284b67883e8d87530"

// FetchOptions configures FetchCIFAR10.
type FetchOptions struct {
	URL            string       // default CIFAR10URL
	MD5            string       // expected MD5 of the archive, hex; default CIFAR10MD5; "skip" disables the check
	RecordsPerFile int          // expected records in every batch; default 10000; negative: any positive number
	Client         *http.Client // default http.DefaultClient
	Progress       io.Writer    // download and extraction progress; nil: silent
}

// FetchCIFAR10 downloads the CIFAR-10 binary archive into dir/cifar-10-binary.tar.gz, checks its
// MD5, the size of every batch (a whole number of 3073-byte records, RecordsPerFile each) and every
// label, then unpacks the batches into dir/cifar-10-batches-bin/. An archive already in dir that
// passes the checks is not downloaded again. It returns the folder of the batches.
func FetchCIFAR10(ctx context.Context, dir string, fo FetchOptions) (string, error) {
	if fo.URL == "" {
		fo.URL = CIFAR10URL
	}
	if fo.MD5 == "" {
		fo.MD5 = CIFAR10MD5
	}
	if fo.RecordsPerFile == 0 {
		fo.RecordsPerFile = cifarPerBatch
	}
	if fo.Client == nil {
		fo.Client = http.DefaultClient
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("datasets: fetch cifar10: %w", err)
	}
	archive := filepath.Join(dir, CIFARArchiveName)
	if fileExists(archive) {
		if err := VerifyCIFARArchive(archive, fo.MD5, fo.RecordsPerFile); err == nil {
			if fo.Progress != nil {
				fmt.Fprintf(fo.Progress, "%s already present and verified\n", archive)
			}
			return finishFetch(archive, dir, fo)
		} else if fo.Progress != nil {
			fmt.Fprintf(fo.Progress, "existing %s rejected (%v); downloading again\n", archive, err)
		}
	}
	part := archive + ".part"
	if err := download(ctx, fo, part); err != nil {
		os.Remove(part)
		return "", err
	}
	if err := VerifyCIFARArchive(part, fo.MD5, fo.RecordsPerFile); err != nil {
		os.Remove(part)
		return "", fmt.Errorf("%w (downloaded from %s; the file was removed)", err, fo.URL)
	}
	if err := os.Rename(part, archive); err != nil {
		return "", fmt.Errorf("datasets: fetch cifar10: %w", err)
	}
	return finishFetch(archive, dir, fo)
}

func finishFetch(archive, dir string, fo FetchOptions) (string, error) {
	dest := filepath.Join(dir, CIFARFolderName)
	if !hasAllCIFAR(dest) {
		if err := ExtractCIFARArchive(archive, dir, fo.Progress); err != nil {
			return "", err
		}
	}
	return dest, nil
}

// download writes the body of fo.URL to path, with a progress bar in bytes.
func download(ctx context.Context, fo FetchOptions, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fo.URL, nil)
	if err != nil {
		return fmt.Errorf("datasets: fetch cifar10: %w", err)
	}
	resp, err := fo.Client.Do(req)
	if err != nil {
		return fmt.Errorf("datasets: fetch cifar10: downloading %s: %w (no internet? %s)", fo.URL, err, HowToGet(CIFAR10))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("datasets: fetch cifar10: downloading %s: HTTP status %s, want 200 OK", fo.URL, resp.Status)
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("datasets: fetch cifar10: %w", err)
	}
	bar := progress.New(fo.Progress, "download "+CIFARArchiveName+" (bytes)", int(resp.ContentLength))
	_, err = io.Copy(out, io.TeeReader(resp.Body, barWriter{bar}))
	bar.Done()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("datasets: fetch cifar10: downloading %s: %w", fo.URL, err)
	}
	return nil
}

type barWriter struct{ b *progress.Bar }

func (w barWriter) Write(p []byte) (int, error) { w.b.Add(len(p)); return len(p), nil }

// VerifyCIFARArchive checks a CIFAR-10 binary .tar.gz without unpacking it: its MD5 (unless md5hex
// is "" or "skip"), the presence of the six batches, every batch's size (recordsPerFile records of
// 3073 bytes; negative: any positive number) and every label.
func VerifyCIFARArchive(archive, md5hex string, recordsPerFile int) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	h := md5.New()
	err = WalkCIFARArchive(io.TeeReader(f, h), func(name string, size int64, r io.Reader) error {
		n, err := ScanCIFAR(r, nil)
		if err != nil {
			return err
		}
		if recordsPerFile > 0 && n != recordsPerFile {
			return fmt.Errorf("%d records, want %d", n, recordsPerFile)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("datasets: %s: %w", archive, err)
	}
	if _, err := io.Copy(h, f); err != nil { // the rest of the file (gzip trailer, padding)
		return fmt.Errorf("datasets: %s: %w", archive, err)
	}
	if md5hex != "" && md5hex != "skip" {
		got := hex.EncodeToString(h.Sum(nil))
		if !strings.EqualFold(got, md5hex) {
			return fmt.Errorf("datasets: %s: MD5 %s, want %s (corrupt or different file)", archive, got, md5hex)
		}
	}
	return nil
}
