// Element-wise kernels of tune's mnist-mlp on the GPU; the matrix products
// go to cuBLAS. Compiled to PTX by `go generate` (kernels/gen.go) and
// loaded with gorgonia.org/cu at run time. Every kernel has a Go twin in
// runner/mnist/gpu/reference.go with the same arithmetic; keep them in step.
//
// gorgonia.org/cu's Launch passes every kernel argument as 8 bytes, so
// parameters are pointers, long long or double only; float32 kernels
// convert their double hyperparameters to float before use, as the CPU
// solver does.
//
// Activation kinds (ACT_*) and optimizer kinds (OPT_*) are numbered as in
// runner/mnist/gpu/kernels.go.

typedef long long i64;
typedef unsigned long long u64;

#define ACT_RELU 0
#define ACT_TANH 1
#define ACT_SIGMOID 2
#define ACT_LEAKY_RELU 3
#define ACT_ELU 4
#define ACT_SOFTPLUS 5

#define OPT_SGD 0
#define OPT_MOMENTUM 1
#define OPT_RMSPROP 2
#define OPT_ADAM 3

// Slope of leaky_relu below zero, as gorgonia's LeakyRelu(z, 0.01).
#define LEAKY_SLOPE 0.01

template <typename T> __device__ __forceinline__ T act(i64 kind, T z) {
  switch (kind) {
  case ACT_RELU:
    return z > T(0) ? z : T(0);
  case ACT_TANH:
    return tanh(z);
  case ACT_SIGMOID:
    return T(1) / (T(1) + exp(-z));
  case ACT_LEAKY_RELU:
    return z > T(0) ? z : T(LEAKY_SLOPE) * z;
  case ACT_ELU:
    return z > T(0) ? z : expm1(z);
  case ACT_SOFTPLUS:
    // log(1+e^z) without overflow: max(z,0) + log1p(e^-|z|).
    return (z > T(0) ? z : T(0)) + log1p(exp(-fabs(z)));
  }
  return z;
}

// act_deriv is the activation's derivative written in terms of its output
// a = act(z), so the forward pass keeps only a.
template <typename T> __device__ __forceinline__ T act_deriv(i64 kind, T a) {
  switch (kind) {
  case ACT_RELU:
    return a > T(0) ? T(1) : T(0);
  case ACT_TANH:
    return T(1) - a * a;
  case ACT_SIGMOID:
    return a * (T(1) - a);
  case ACT_LEAKY_RELU:
    return a > T(0) ? T(1) : T(LEAKY_SLOPE);
  case ACT_ELU:
    return a > T(0) ? T(1) : a + T(1);
  case ACT_SOFTPLUS:
    // sigmoid(z) = 1 − e^−a.
    return -expm1(-a);
  }
  return T(1);
}

// gather fills rows×features inputs x (pixels scaled to [0,1]) and the
// int labels y from the byte dataset on the device, taking example
// idx[start+r] for row r, or example start+r when idx is null.
template <typename T>
__device__ void gather(T *x, int *y, const unsigned char *pixels, const unsigned char *labels,
                       const int *idx, i64 start, i64 rows, i64 features) {
  i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= rows * features) return;
  i64 r = t / features, j = t - r * features;
  i64 i = idx ? (i64)idx[start + r] : start + r;
  // The same rounding as the CPU's table: float64(p)/255, then the precision.
  x[t] = (T)((double)pixels[i * features + j] / 255.0);
  if (j == 0) y[r] = labels[i];
}

// bias_act replaces z (rows×cols) by act(z + b) in place: the hidden
// layer's bias and activation in one pass.
template <typename T> __device__ void bias_act(T *z, const T *b, i64 rows, i64 cols, i64 kind) {
  i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= rows * cols) return;
  z[t] = act<T>(kind, z[t] + b[t % cols]);
}

// act_grad multiplies the gradient d by the activation's derivative at
// the layer's output a.
template <typename T> __device__ void act_grad(T *d, const T *a, i64 n, i64 kind) {
  i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n) return;
  d[t] *= act_deriv<T>(kind, a[t]);
}

#define XENT_BLOCK 256

// softmax_xent adds the output bias to the logits of one row per thread,
// and computes its cross-entropy −log softmax(z)[y] and whether the
// first largest logit is the label. When dz is not null it writes the
// gradient of scale·loss with respect to the logits, (softmax − onehot)·scale.
// Losses and hits are summed per block and added to acc: acc[0] the loss
// sum (double), acc[1] the hit count, acc[2] the smallest `step` at which a
// row's loss was NaN or infinite (the caller initialises it to a maximum).
template <typename T>
__device__ void softmax_xent(const T *z, const T *b, T *dz, const int *y, i64 rows, i64 classes,
                             double scale, double *acc, i64 step) {
  __shared__ double sloss[XENT_BLOCK];
  __shared__ u64 shits[XENT_BLOCK];
  i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  double loss = 0;
  u64 hit = 0;
  if (r < rows) {
    const T *row = z + r * classes;
    T m = row[0] + b[0];
    i64 best = 0;
    for (i64 k = 1; k < classes; k++) {
      T v = row[k] + b[k];
      if (v > m) { m = v; best = k; }
    }
    T sum = 0;
    for (i64 k = 0; k < classes; k++) sum += exp(row[k] + b[k] - m);
    T lse = m + log(sum);
    int label = y[r];
    T l = lse - (row[label] + b[label]);
    loss = (double)l;
    hit = best == label;
    if (!isfinite(loss)) atomicMin((u64 *)(acc + 2), (u64)step);
    if (dz) {
      T s = (T)scale;
      T *drow = dz + r * classes;
      for (i64 k = 0; k < classes; k++) {
        T p = exp(row[k] + b[k] - lse);
        drow[k] = (p - (k == label ? T(1) : T(0))) * s;
      }
    }
  }
  sloss[threadIdx.x] = loss;
  shits[threadIdx.x] = hit;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) {
      sloss[threadIdx.x] += sloss[threadIdx.x + w];
      shits[threadIdx.x] += shits[threadIdx.x + w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    atomicAdd(acc, sloss[0]);
    atomicAdd((u64 *)(acc + 1), shits[0]);
  }
}

// update takes one optimizer step on n parameters w from their
// gradients g, in the parameters' precision. The first nweights of them
// are weights and get weight decay (g += wd·w); the rest are biases.
// s1 and s2 are the optimizer's state (velocity, mean square, Adam's
// moments). c1 and c2 are Adam's bias corrections 1/(1−β₁ᵗ), 1/(1−β₂ᵗ).
// The rules are those of runner/mnist's fused solver (gorgonia's).
template <typename T>
__device__ void update(T *w, const T *g, T *s1, T *s2, i64 n, i64 nweights, i64 kind, double eta_,
                       double mom_, double wd_, double c1_, double c2_, double b1_, double b2_,
                       double eps_) {
  i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= n) return;
  T gj = g[j];
  if (j < nweights && wd_ > 0) gj += (T)wd_ * w[j];
  T eta = (T)eta_;
  switch (kind) {
  case OPT_SGD:
    w[j] -= eta * gj;
    break;
  case OPT_MOMENTUM: {
    T c = (T)mom_ * s1[j] - eta * gj;
    s1[j] = c;
    w[j] += c;
    break;
  }
  case OPT_RMSPROP: {
    T rho = (T)mom_;
    T c = rho * s1[j] + (T(1) - rho) * gj * gj;
    s1[j] = c;
    w[j] -= eta * gj / sqrt(c + (T)eps_);
    break;
  }
  case OPT_ADAM: {
    T b1 = (T)b1_, b2 = (T)b2_;
    T m = b1 * s1[j] + (T(1) - b1) * gj;
    T v = b2 * s2[j] + (T(1) - b2) * gj * gj;
    s1[j] = m;
    s2[j] = v;
    w[j] -= eta * (m * (T)c1_) / (sqrt(v * (T)c2_) + (T)eps_);
    break;
  }
  }
}

#define INSTANTIATE(T, S)                                                                          \
  extern "C" __global__ void gather_##S(T *x, int *y, const unsigned char *pixels,                 \
                                        const unsigned char *labels, const int *idx, i64 start,    \
                                        i64 rows, i64 features) {                                  \
    gather<T>(x, y, pixels, labels, idx, start, rows, features);                                   \
  }                                                                                                \
  extern "C" __global__ void bias_act_##S(T *z, const T *b, i64 rows, i64 cols, i64 kind) {        \
    bias_act<T>(z, b, rows, cols, kind);                                                           \
  }                                                                                                \
  extern "C" __global__ void act_grad_##S(T *d, const T *a, i64 n, i64 kind) {                     \
    act_grad<T>(d, a, n, kind);                                                                    \
  }                                                                                                \
  extern "C" __global__ void softmax_xent_##S(const T *z, const T *b, T *dz, const int *y,          \
                                              i64 rows, i64 classes, double scale, double *acc,    \
                                              i64 step) {                                          \
    softmax_xent<T>(z, b, dz, y, rows, classes, scale, acc, step);                                 \
  }                                                                                                \
  extern "C" __global__ void update_##S(T *w, const T *g, T *s1, T *s2, i64 n, i64 nweights,       \
                                        i64 kind, double eta, double mom, double wd, double c1,    \
                                        double c2, double b1, double b2, double eps) {             \
    update<T>(w, g, s1, s2, n, nweights, kind, eta, mom, wd, c1, c2, b1, b2, eps);                 \
  }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
