package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned
// byte) and the number of dimensions.
const (
	idxUbyte     = 0x08
	imagesMagic  = 0x00000803 // ubyte, 3 dims: count, rows, cols
	labelsMagic  = 0x00000801 // ubyte, 1 dim: count
	maxIDXPixels = 1 << 31    // refuse headers that promise absurd sizes
)

// Images is an IDX3 image file: N images of Rows×Cols unsigned bytes,
// row-major, one after another.
type Images struct {
	N, Rows, Cols int
	Pixels        []byte
}

// Labels is an IDX1 label file: one unsigned byte per example.
type Labels []byte

// ReadImages reads an IDX3 ubyte image file, gzip-compressed or raw (told
// apart by its first bytes, not its name).
func ReadImages(path string) (*Images, error) {
	var im *Images
	err := readIDX(path, func(r io.Reader, size int64) error {
		var err error
		im, err = decodeImages(r, size)
		return err
	})
	if err != nil {
		return nil, err
	}
	return im, nil
}

// ReadLabels reads an IDX1 ubyte label file, gzip-compressed or raw.
func ReadLabels(path string) (Labels, error) {
	var l Labels
	err := readIDX(path, func(r io.Reader, size int64) error {
		var err error
		l, err = decodeLabels(r, size)
		return err
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// readIDX opens path, undoes gzip when the file starts with gzip's magic
// and hands the stream to decode. size is the raw file's size when it is
// not compressed (-1 otherwise), for better truncation messages. Errors
// name the file.
func readIDX(path string, decode func(r io.Reader, size int64) error) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return errors.Unwrap(err) // the path is added above
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("corrupt gzip stream: %w", err)
		}
		defer zr.Close()
		if err := decode(zr, -1); err != nil {
			return gzipError(err)
		}
		return nil
	}
	// Not gzip (whatever the name says): raw IDX.
	st, err := f.Stat()
	size := int64(-1)
	if err == nil {
		size = st.Size()
	}
	return decode(br, size)
}

// gzipError makes gzip's own failures read as corruption.
func gzipError(err error) error {
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return fmt.Errorf("corrupt gzip stream: %w", err)
	}
	return err
}

func readHeader(r io.Reader, wantMagic uint32, kind string) ([]int, error) {
	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated: file ends inside the 4-byte IDX magic number")
		}
		return nil, err
	}
	if magic>>16 != 0 {
		return nil, fmt.Errorf("not an IDX file: magic number 0x%08x does not start with two zero bytes (want 0x%08x for %s)", magic, wantMagic, kind)
	}
	if typ := byte(magic >> 8); typ != idxUbyte {
		return nil, fmt.Errorf("unsupported IDX element type 0x%02x (only unsigned bytes, 0x08, are supported)", typ)
	}
	if magic != wantMagic {
		return nil, fmt.Errorf("wrong IDX dimensions: magic 0x%08x says %d dimension(s), %s need %d (magic 0x%08x)",
			magic, magic&0xff, kind, wantMagic&0xff, wantMagic)
	}
	dims := make([]uint32, wantMagic&0xff)
	if err := binary.Read(r, binary.BigEndian, dims); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated: file ends inside the IDX header (%d dimension sizes of 4 bytes)", len(dims))
		}
		return nil, err
	}
	out := make([]int, len(dims))
	for i, d := range dims {
		out[i] = int(d)
	}
	return out, nil
}

func decodeImages(r io.Reader, size int64) (*Images, error) {
	dims, err := readHeader(r, imagesMagic, "images")
	if err != nil {
		return nil, err
	}
	n, rows, cols := dims[0], dims[1], dims[2]
	if rows == 0 || cols == 0 {
		return nil, fmt.Errorf("wrong IDX dimensions: images of %dx%d pixels", rows, cols)
	}
	// rows and cols are below 2³², so their product fits; the check on n
	// is a division so that nothing overflows.
	if int64(rows)*int64(cols) > maxIDXPixels || int64(n) > maxIDXPixels/(int64(rows)*int64(cols)) {
		return nil, fmt.Errorf("IDX header says %d images of %dx%d pixels: too large to load", n, rows, cols)
	}
	total := int64(n) * int64(rows) * int64(cols)
	const headerSize = 16
	if size >= 0 && size-headerSize < total {
		return nil, fmt.Errorf("truncated: header says %d images of %dx%d pixels (%d bytes), the file has %d bytes after the header",
			n, rows, cols, total, max(size-headerSize, 0))
	}
	px, got, err := readN(r, total)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated: header says %d images of %dx%d pixels (%d bytes), the data ends after %d bytes",
				n, rows, cols, total, got)
		}
		return nil, err
	}
	if err := expectEOF(r); err != nil {
		return nil, err
	}
	return &Images{N: n, Rows: rows, Cols: cols, Pixels: px}, nil
}

func decodeLabels(r io.Reader, size int64) (Labels, error) {
	dims, err := readHeader(r, labelsMagic, "labels")
	if err != nil {
		return nil, err
	}
	n := dims[0]
	if n > maxIDXPixels {
		return nil, fmt.Errorf("IDX header says %d labels: too large to load", n)
	}
	const headerSize = 8
	if size >= 0 && size-headerSize < int64(n) {
		return nil, fmt.Errorf("truncated: header says %d labels, the file has %d bytes after the header", n, max(size-headerSize, 0))
	}
	l, got, err := readN(r, int64(n))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated: header says %d labels, the data ends after %d", n, got)
		}
		return nil, err
	}
	if err := expectEOF(r); err != nil {
		return nil, err
	}
	return Labels(l), nil
}

// readN reads exactly n bytes. It allocates as the data arrives (beyond
// the first 64 MiB), so a corrupt header inside a gzip stream, whose size
// is unknown up front, cannot make it allocate gigabytes for nothing.
func readN(r io.Reader, n int64) ([]byte, int64, error) {
	buf := make([]byte, 0, min(n, 64<<20))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		chunk := buf[len(buf):min(int64(cap(buf)), n)]
		got, err := io.ReadFull(r, chunk)
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, int64(len(buf)), err
		}
	}
	return buf, n, nil
}

// expectEOF reports bytes after the data the header announced: a header
// that undercounts is as wrong as a truncated file. Reading to the end
// also makes gzip verify its checksum.
func expectEOF(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("corrupt: %d bytes after the data the IDX header describes", n)
	}
	return nil
}
