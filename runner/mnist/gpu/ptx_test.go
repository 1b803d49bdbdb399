package gpu

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPTXHasKernels: the embedded PTX defines every kernel the CUDA
// backend looks up, in both precisions, and targets compute_80.
func TestPTXHasKernels(t *testing.T) {
	entries := regexp.MustCompile(`\.entry\s+(\w+)\(([^)]*)\)`).FindAllStringSubmatch(ptx, -1)
	param := regexp.MustCompile(`\.param\s+\.(\w+)`)
	var got []string
	for _, e := range entries {
		got = append(got, e[1])
		sig := ""
		for _, p := range param.FindAllStringSubmatch(e[2], -1) {
			switch p[1] {
			case "u64":
				sig += "u"
			case "f64":
				sig += "f"
			default:
				sig += "?" // cu's Launch passes every argument as 8 bytes
			}
		}
		base := strings.TrimSuffix(strings.TrimSuffix(e[1], "_f32"), "_f64")
		if want := kernelArgs[base]; sig != want {
			t.Errorf("kernel %s's parameters are %q in the PTX, the backend passes %q", e[1], sig, want)
		}
	}
	for _, k := range kernelNames {
		for _, s := range []string{"_f32", "_f64"} {
			if !slices.Contains(got, k+s) {
				t.Errorf("kernels/mlp.ptx has no kernel %s%s (it has %v): run go generate where nvcc is", k, s, got)
			}
		}
	}
	if !strings.Contains(ptx, ".target sm_80") {
		t.Error("kernels/mlp.ptx does not target sm_80 (compute_80)")
	}
}

// TestPTXAssembles: ptxas (CUDA's assembler, no GPU needed) accepts the
// PTX for Ampere (sm_80) and Hopper (sm_90, the H100/H200).
func TestPTXAssembles(t *testing.T) {
	ptxas, err := exec.LookPath("ptxas")
	if err != nil {
		t.Skip("ptxas not found (Debian non-free's nvidia-cuda-toolkit has it): the PTX's assembly for sm_80 and sm_90 is not checked here")
	}
	for _, arch := range []string{"sm_80", "sm_90"} {
		out := filepath.Join(t.TempDir(), arch+".cubin")
		cmd := exec.Command(ptxas, "-arch="+arch, "-o", out, "kernels/mlp.ptx")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", cmd, err, msg)
			continue
		}
		if st, err := os.Stat(out); err != nil || st.Size() == 0 {
			t.Errorf("ptxas -arch=%s wrote no cubin", arch)
		}
	}
}

// TestPTXCurrent: where nvcc is, the committed PTX is what kernels/mlp.cu
// compiles to now.
func TestPTXCurrent(t *testing.T) {
	if _, err := exec.LookPath("nvcc"); err != nil {
		t.Skip("nvcc not found (Debian non-free's nvidia-cuda-toolkit has it): kernels/mlp.ptx is not checked against kernels/mlp.cu here")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to run kernels/gen.go")
	}
	committed, err := os.ReadFile("kernels/mlp.ptx")
	if err != nil {
		t.Fatal(err)
	}
	// Another nvcc release writes other PTX for the same source; only the
	// release that made the committed file can say it is stale.
	release := regexp.MustCompile(`release (\d+\.\d+)`)
	version, _ := exec.Command("nvcc", "--version").Output()
	rel := func(b []byte) string {
		if m := release.FindSubmatch(b); m != nil {
			return string(m[1])
		}
		return "unknown"
	}
	if mine, theirs := rel(version), rel(committed); mine != theirs || mine == "unknown" {
		t.Skipf("kernels/mlp.ptx was made by nvcc release %s, this nvcc is release %s: not compared", theirs, mine)
	}
	dir := t.TempDir()
	// gen.go writes kernels/mlp.ptx relative to where it runs: give it a
	// copy of the directory.
	if err := os.Mkdir(filepath.Join(dir, "kernels"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"mlp.cu", "gen.go"} {
		b, err := os.ReadFile(filepath.Join("kernels", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kernels", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gen, _ := filepath.Abs(filepath.Join(dir, "kernels", "gen.go"))
	cmd := exec.Command("go", "run", gen)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, msg)
	}
	fresh, err := os.ReadFile(filepath.Join(dir, "kernels", "mlp.ptx"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Error("kernels/mlp.ptx is stale: run go generate ./runner/mnist/gpu and commit it")
	}
}

// TestXentBlock: the block size the backend launches softmax_xent with is
// the one its reduction in mlp.cu is written for.
func TestXentBlock(t *testing.T) {
	src, err := os.ReadFile("kernels/mlp.cu")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`#define XENT_BLOCK (\d+)`).FindSubmatch(src)
	if m == nil || string(m[1]) != fmt.Sprint(xentBlock) {
		t.Fatalf("mlp.cu's XENT_BLOCK is %q, the backend launches blocks of %d", m, xentBlock)
	}
}
