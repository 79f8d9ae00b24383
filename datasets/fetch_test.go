package datasets

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestFetchCIFAR10(t *testing.T) {
	archive := cifarTarGz(fakeCIFARFiles(10))
	sum := md5.Sum(archive)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/cifar-10-binary.tar.gz":
			w.Write(archive)
		case "/corrupt.tar.gz":
			w.Write(archive[:len(archive)/2])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	dir := t.TempDir()
	fo := FetchOptions{URL: srv.URL + "/cifar-10-binary.tar.gz", MD5: hex.EncodeToString(sum[:]), RecordsPerFile: 10}
	out, err := FetchCIFAR10(ctx, dir, fo)
	if err != nil {
		t.Fatal(err)
	}
	if out != filepath.Join(dir, CIFARFolderName) || !hasAllCIFAR(out) {
		t.Fatalf("batches not in %s", out)
	}
	s, err := Load(CIFAR10, SplitTrainFull, WithDir(dir))
	if err != nil || s.Len() != 50 {
		t.Fatalf("load after fetch: %v", err)
	}
	// A second fetch finds the verified archive and does not download again.
	if _, err := FetchCIFAR10(ctx, dir, fo); err != nil || hits.Load() != 1 {
		t.Errorf("second fetch: %v, %d downloads", err, hits.Load())
	}

	// Wrong checksum: rejected, nothing left behind.
	dir2 := t.TempDir()
	bad := fo
	bad.MD5 = strings.Repeat("0", 32)
	_, err = FetchCIFAR10(ctx, dir2, bad)
	if err == nil || !strings.Contains(err.Error(), "MD5 "+hex.EncodeToString(sum[:])) {
		t.Errorf("wrong MD5: %v", err)
	}
	if entries, _ := os.ReadDir(dir2); len(entries) != 0 {
		t.Errorf("rejected download left %d entries", len(entries))
	}
	// Default record count (10000) rejects the small archive even with the MD5 check skipped.
	skip := fo
	skip.MD5, skip.RecordsPerFile = "skip", 0
	_, err = FetchCIFAR10(ctx, t.TempDir(), skip)
	if err == nil || !strings.Contains(err.Error(), "10 records, want 10000") {
		t.Errorf("record count: %v", err)
	}
	// Truncated download and HTTP errors.
	trunc := fo
	trunc.URL = srv.URL + "/corrupt.tar.gz"
	if _, err = FetchCIFAR10(ctx, t.TempDir(), trunc); err == nil {
		t.Error("truncated archive accepted")
	}
	missing := fo
	missing.URL = srv.URL + "/nothing"
	if _, err = FetchCIFAR10(ctx, t.TempDir(), missing); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("HTTP 404: %v", err)
	}
}
