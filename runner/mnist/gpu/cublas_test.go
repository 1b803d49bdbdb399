package gpu

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestCuBLASSearchOrder(t *testing.T) {
	want := []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so",
		"/usr/local/cuda/lib64/libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.12",
		"/usr/local/cuda/lib64/libcublas.so.11", "/usr/local/cuda/lib64/libcublas.so"}
	if got := cublasCandidates(""); !slices.Equal(got, want) {
		t.Errorf("candidates = %v, want %v", got, want)
	}
	if got := cublasCandidates("/opt/cuda/lib64/libcublas.so.13"); !slices.Equal(got, append([]string{"/opt/cuda/lib64/libcublas.so.13"}, want...)) {
		t.Errorf("candidates with an override = %v", got)
	}
}

// TestCuBLASMissing: where no candidate loads, the error names every one
// tried, in order, with the loader's reason, and the variable to set.
func TestCuBLASMissing(t *testing.T) {
	names := []string{"/nonexistent/libcublas.so.99", "libtune-no-such-cublas.so.13"}
	_, err := dlopenCuBLAS(names)
	if err == nil {
		t.Fatal("loading libraries that do not exist succeeded")
	}
	msg := err.Error()
	at := -1
	for _, n := range names {
		i := strings.Index(msg, n+" (")
		if i <= at {
			t.Errorf("error does not name %s after the earlier ones: %s", n, msg)
		}
		at = i
	}
	if !strings.Contains(msg, EnvCuBLASLib) {
		t.Errorf("error does not name %s: %s", EnvCuBLASLib, msg)
	}
	t.Log(msg)
}

// TestCuBLASWrongLibrary: a library that loads but is not cuBLAS is
// refused, naming the function it lacks.
func TestCuBLASWrongLibrary(t *testing.T) {
	libc := ""
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib64/libc.so.6"} {
		if _, err := os.Stat(p); err == nil {
			libc = p
			break
		}
	}
	if libc == "" {
		t.Skip("no libc.so.6 at a known path to stand in for a library without cuBLAS")
	}
	_, err := dlopenCuBLAS([]string{libc})
	if err == nil || !strings.Contains(err.Error(), libc+" (loads but has no cublasCreate_v2)") {
		t.Fatalf("loading %s as cuBLAS = %v, want it refused for lacking cublasCreate_v2", libc, err)
	}
}

func TestCuBLASStatusName(t *testing.T) {
	if got := cublasStatusName(13); got != "CUBLAS_STATUS_EXECUTION_FAILED" {
		t.Errorf("status 13 = %q", got)
	}
	if got := cublasStatusName(99); got != "unknown cuBLAS status" {
		t.Errorf("status 99 = %q", got)
	}
}

// TestLoadCuBLAS loads the machine's cuBLAS where there is one (Debian's
// nvidia-cuda-dev brings libcublas.so.11): loading needs no GPU.
func TestLoadCuBLAS(t *testing.T) {
	lib, err := LoadCuBLAS()
	if err != nil {
		t.Skipf("no cuBLAS on this machine: %v", err)
	}
	t.Logf("loaded %s", lib)
}
