#!/usr/bin/env bash
# Builds tune's CUDA code on a Debian bookworm machine without a GPU or the
# NVIDIA driver: it adds Debian's non-free component, installs the CUDA
# headers and libcuda from it, and builds
#   bench/cuda/bin/gpus  runner's GPU discovery (runner/devices_cuda.go) alone
#   bench/cuda/bin/tune  the whole binary, `go build -tags cuda ./cmd/tune`
# The second needs cuDNN, which Debian's mirror does not carry: see
# bench/README.md, "CUDA build". Run as root from anywhere; it cds to the
# repository root. Exit 0: both built; 3: gpus built, tune did not; other:
# failed earlier. Neither binary can start without the NVIDIA driver.
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
# texture-reference calls; those warnings are filtered out of the log.
export CGO_ENABLED=1
build() { # name package
  local log="$out/$1.log"
  if go build -tags cuda -o "$out/$1" "$2" >"$log" 2>&1; then
    echo "built $out/$1"
  else
    grep -vE 'deprecated|cgo-gcc-prolog|note: declared here|^ *[0-9]* \||^ *\|' "$log" >&2 || true
    echo "go build -tags cuda $2: failed (full log: $log)" >&2
    return 1
  fi
}
build gpus ./bench/cuda/gpus
if ! build tune ./cmd/tune; then
  if grep -q 'cudnn.h: No such file' "$out/tune.log"; then
    echo "-tags cuda also turns on gorgonia's own CUDA build (runner/mnist imports" >&2
    echo "gorgonia), whose gorgonia.org/cu/dnn needs cuDNN (cudnn.h, libcudnn)." >&2
  fi
  exit 3
fi
