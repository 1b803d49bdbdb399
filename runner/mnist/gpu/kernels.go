package gpu

import _ "embed"

//go:generate go run kernels/gen.go

// ptx is kernels/mlp.cu compiled by nvcc for compute_80 (kernels/gen.go);
// the driver JIT-compiles it for the GPU at hand.
//
//go:embed kernels/mlp.ptx
var ptx string

// kernelNames are mlp.cu's kernels; each exists as name_f32 and name_f64.
var kernelNames = []string{"gather", "bias_act", "act_grad", "softmax_xent", "update"}

// kernelArgs is each kernel's parameter list as the PTX declares it, one
// letter a parameter: u for .u64 (a pointer or a long long), f for .f64
// (a double). All are 8 bytes wide, as cu's Launch passes them.
// TestPTXHasKernels checks these against the PTX, and the CUDA backend
// checks every launch's arguments against them, so a kernel whose
// signature changed cannot silently read garbage.
var kernelArgs = map[string]string{
	"gather":       "uuuuuuuu",        // x, y, pixels, labels, idx, start, rows, features
	"bias_act":     "uuuuu",           // z, b, rows, cols, kind
	"act_grad":     "uuuu",            // d, a, n, kind
	"softmax_xent": "uuuuuufuu",       // z, b, dz, y, rows, classes, scale, acc, step
	"update":       "uuuuuuuffffffff", // w, g, s1, s2, n, nweights, kind, eta, mom, wd, c1, c2, b1, b2, eps
}

// xentBlock is XENT_BLOCK in mlp.cu: softmax_xent's block size, which its
// reduction needs exactly.
const xentBlock = 256
