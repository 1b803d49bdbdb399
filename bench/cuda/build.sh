#!/usr/bin/env bash
# Builds tune's CUDA code on a Debian bookworm machine without a GPU or the
# NVIDIA driver: it adds Debian's non-free component, installs the CUDA
# headers and libcuda from it, and builds bench/cuda/bin/tune with
# `go build -tags tune_cuda ./cmd/tune`, to be copied to a GPU machine that
# has the NVIDIA driver but no Go toolchain. See bench/README.md, "CUDA
# build". Run as root from anywhere; it cds to the repository root. The
# binary cannot start without the NVIDIA driver and a GPU.
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
if go build -tags tune_cuda -o "$out/tune" ./cmd/tune >"$log" 2>&1; then
  echo "built $out/tune (needs the NVIDIA driver and a GPU to start)"
else
  grep -vE 'deprecated|cgo-gcc-prolog|note: declared here|^ *[0-9]* \||^ *\|' "$log" >&2 || true
  echo "go build -tags tune_cuda ./cmd/tune: failed (full log: $log)" >&2
  exit 1
fi
