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

// xentBlock is XENT_BLOCK in mlp.cu: softmax_xent's block size, which its
// reduction needs exactly.
const xentBlock = 256
