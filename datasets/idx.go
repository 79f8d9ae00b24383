package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// IDX is a decoded idx file (the MNIST format): unsigned-byte data with its dimensions.
type IDX struct {
	Dims []int   // e.g. [60000 28 28] for images, [60000] for labels
	Data []uint8 // the values, row-major
}

// maxIDXBytes bounds the payload an idx header may announce (1 GiB), so a corrupt header cannot
// request an absurd allocation.
const maxIDXBytes = 1 << 30

// ParseIDX decodes an idx stream of unsigned bytes (type code 0x08), gzip-compressed or plain: the
// magic number 0x00 0x00 0x08 ndims, ndims big-endian uint32 sizes, then exactly the product of the
// sizes in bytes. Memory grows with the data actually read, not with what the header announces.
func ParseIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("corrupt gzip header: %w", err)
		}
		defer zr.Close()
		return parseIDXPlain(bufio.NewReader(zr))
	}
	return parseIDXPlain(br)
}

func parseIDXPlain(r io.Reader) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("truncated idx header: want 4 magic bytes 00 00 08 <ndims> (%w)", readErr(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("wrong idx magic number % x: want 00 00 08 <ndims>", magic[:])
	}
	if magic[2] != 0x08 {
		return nil, fmt.Errorf("idx data type 0x%02x not supported: want 0x08 (unsigned byte)", magic[2])
	}
	nd := int(magic[3])
	if nd == 0 {
		return nil, fmt.Errorf("idx file with 0 dimensions: want at least 1")
	}
	hdr := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("truncated idx header: want %d dimension sizes (%w)", nd, readErr(err))
	}
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		dims[i] = int(d)
		total *= int64(d)
		if total > maxIDXBytes {
			return nil, fmt.Errorf("idx dimensions %v announce more than %d bytes", dims[:i+1], maxIDXBytes)
		}
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, total+1))
	if err != nil {
		return nil, fmt.Errorf("reading idx data: %w", readErr(err))
	}
	if n < total {
		return nil, fmt.Errorf("truncated idx data: %d bytes, want %d for dimensions %v", n, total, dims)
	}
	if n > total {
		return nil, fmt.Errorf("idx file longer than its header says: want exactly %d data bytes for dimensions %v", total, dims)
	}
	return &IDX{Dims: dims, Data: buf.Bytes()}, nil
}

// readErr turns io.EOF into io.ErrUnexpectedEOF (a short file is always unexpected here).
func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadIDX reads and decodes the idx file at path (gzip or plain); errors name the file.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	x, err := ParseIDX(f)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", path, err)
	}
	return x, nil
}
