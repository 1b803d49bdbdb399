#!/usr/bin/env bash
# Runs tune's GPU checks in one go on a GPU machine that has the NVIDIA
# driver, CUDA's cuBLAS and PyTorch but no Go and no network. It needs
# the checkout plus what bench/cuda/build.sh left in bench/cuda/bin (the
# tune_cuda `tune`, the runner/mnist/gpu test binary `gpu.test`, and
# MNIST in bench/cuda/bin/mnist). Results go to $OUT (default
# /tmp/tune-gpu-out): results.json, a summary, and every log.
#
#   1. the GPU as nvidia-smi and as `tune runner` list it;
#   2. the GPU tests (gpu.test: every kernel and whole trials against the
#      Go reference, in float32 and float64);
#   3. `tune serve` (embedded store) and `tune runner --device cuda:0`
#      training mnist-mlp trials enqueued with fixed params: the reference
#      configuration (batch 128, adam 0.001, relu, 256 hidden units,
#      float32, 3 epochs; it must reach val_accuracy >= 0.97), then batch
#      256, 1024 and 8192 in float32 for samples/s and device memory;
#   4. PyTorch's same MLP on the same GPU (bench/pytorch_mlp.py --device
#      cuda:0) at the same batch sizes.
#
# Its steps are bounded (150 + 240 + 150 s at most) to fit one 10-minute
# command of the device tool: run it there as `bash bench/cuda/run-on-gpu.sh`
# with carry ["bench/cuda/bin"] and timeout_s 590.
#
# It exits non-zero when a step fails or the accuracy is below 0.97, after
# writing what it has. See bench/README.md, "mnist-mlp on a GPU".
#
# A rehearsal of the flow on a machine without a GPU (what was checked on
# the development machine): DEVICE=cpu TUNE_BIN=path/to/plain/tune
# TRAIN_SAMPLES=2000 bench/cuda/run-on-gpu.sh skips the GPU tests and
# trains on the CPU with a plain build.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bin=$root/bench/cuda/bin
out=${OUT:-/tmp/tune-gpu-out}
mkdir -p "$out"
work=$(mktemp -d)
status=0
device=${DEVICE:-cuda:0}
note() { printf '== %s\n' "$*" | tee -a "$out/summary.txt"; }
fail() { note "FAILED: $*"; status=1; }

for f in tune gpu.test; do
  if [ -f "$bin/$f.gz" ] && [ ! -x "$work/$f" ]; then gunzip -c "$bin/$f.gz" >"$work/$f"; chmod +x "$work/$f"
  elif [ -x "$bin/$f" ]; then cp "$bin/$f" "$work/$f"
  fi
  [ -x "$work/$f" ] || [ "$device" = cpu ] || { echo "no $bin/$f: run bench/cuda/build.sh on the build machine and copy bench/cuda/bin" >&2; exit 2; }
done
[ -d "$bin/mnist" ] || { echo "no $bin/mnist: run bench/cuda/build.sh" >&2; exit 2; }
export TUNE_MNIST_DIR=$bin/mnist
tune=${TUNE_BIN:-$work/tune}

# 1. The machine and its GPU.
note "machine"
{ date -u; uname -a; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; } >"$out/machine.txt" 2>&1
cat "$out/machine.txt" | tee -a "$out/summary.txt"
ls /usr/local/cuda*/lib64/libcublas.so* /usr/lib/x86_64-linux-gnu/libcublas.so* 2>/dev/null >>"$out/machine.txt"
python3 - >>"$out/machine.txt" 2>&1 <<'PY'
import glob, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0))
print("pip cublas:", glob.glob(torch.__file__.rsplit("/", 2)[0] + "/nvidia/cu*/lib/libcublas.so*"))
PY
# cuBLAS: the system's, else the one PyTorch's wheels ship.
if [ -z "${TUNE_CUBLAS_LIB:-}" ] && ! ldconfig -p | grep -q 'libcublas.so' && ! ls /usr/local/cuda/lib64/libcublas.so* >/dev/null 2>&1; then
  lib=$(python3 -c 'import glob,torch; print((sorted(glob.glob(torch.__file__.rsplit("/",2)[0]+"/nvidia/*/lib/libcublas.so*"))+[""])[-1])' 2>/dev/null)
  [ -n "$lib" ] && export TUNE_CUBLAS_LIB=$lib
fi
note "TUNE_CUBLAS_LIB=${TUNE_CUBLAS_LIB:-unset: the system libcublas}"

# 2. The GPU tests.
note "gpu.test"
if [ "$device" = cpu ]; then
  note "gpu.test: skipped (DEVICE=cpu rehearsal)"
elif (cd "$root/runner/mnist/gpu" && timeout 150 "$work/gpu.test" -test.v -test.count=1) >"$out/gpu-tests.txt" 2>&1; then
  note "gpu.test: PASS ($(grep -c '^--- PASS' "$out/gpu-tests.txt") passed, $(grep -c -- '--- SKIP' "$out/gpu-tests.txt") skipped)"
else
  fail "gpu.test (see gpu-tests.txt)"; tail -30 "$out/gpu-tests.txt"
fi

# 3. tune serve + tune runner on cuda:0.
export TUNE_DATA_DIR=$work/data TUNE_SERVER=http://127.0.0.1:18080
"$tune" serve --addr 127.0.0.1:18080 >"$out/serve.log" 2>&1 &
serve=$!
trap 'kill $serve 2>/dev/null; rm -rf "$work"' EXIT
# python3 rather than curl, which the GPU machine may lack.
for _ in $(seq 60); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$TUNE_SERVER/healthz" 2>/dev/null && break
  sleep 0.5
done
cat >"$work/study.yaml" <<'YAML'
name: gpu-mnist
objective: {metric: val_accuracy, direction: maximize}
search_space:
  batch_size:    {type: int, low: 128, high: 8192}
  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
workload:
  type: mnist-mlp
  options: {epochs: 3, hidden_units: 256, layers: 1, activation: relu, optimizer: adam, precision: float32}
max_trials: 4
YAML
if [ -n "${TRAIN_SAMPLES:-}" ]; then
  sed -i "s/precision: float32}/precision: float32, train_samples: $TRAIN_SAMPLES}/" "$work/study.yaml"
fi
"$tune" study create -f "$work/study.yaml" >>"$out/summary.txt" 2>&1 || fail "study create"
for b in 128 256 1024 8192; do
  "$tune" enqueue gpu-mnist --param batch_size=$b --param learning_rate=0.001 >/dev/null 2>>"$out/summary.txt" || fail "enqueue batch $b"
done
note "tune runner --device $device"
timeout 240 "$tune" runner --device "$device" --workloads mnist-mlp --exit-when-idle --lease-wait 2 >"$out/runner.log" 2>&1 || fail "tune runner (see runner.log)"
grep -m1 'devices:' "$out/runner.log" | tee -a "$out/summary.txt"
"$tune" trial list gpu-mnist -o json >"$out/trials.json" 2>>"$out/summary.txt" || fail "trial list"

# 4. PyTorch's same MLP on the same GPU.
note "pytorch"
timeout 150 python3 bench/pytorch_mlp.py --data "$bin/mnist" --device "$device" --hidden 256 --layers 1 --epochs 3 \
  --batch-sizes 256,1024,8192 --precisions float32 --repeat 2 --json "$out/pytorch.json" >"$out/pytorch.txt" 2>&1 ||
  fail "pytorch_mlp.py (see pytorch.txt)"

# The results, side by side.
python3 - "$out" <<'PY' | tee -a "$out/summary.txt"
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
trials = load("trials.json") or []
if isinstance(trials, dict):
    trials = trials.get("items") or trials.get("trials") or []
torch = load("pytorch.json") or {"results": []}
pt = {r["batch_size"]: r["samples_per_second"] for r in torch["results"]}
res = {"gpu": torch.get("gpu"), "torch": torch.get("torch"), "trials": [], "ok": True}
for t in trials:
    m, p = t.get("metrics") or {}, t.get("params") or {}
    b = int(p.get("batch_size", 0))
    row = {"batch_size": b, "state": t.get("state"), "device": t.get("device"), "error": t.get("error"), **m}
    # The last epoch's samples/s: the first pays for cuBLAS's and the
    # driver's first use of each kernel, which at batch 8192 (7 steps an
    # epoch) would swamp the average over epochs.
    epochs = [iv.get("metrics") or {} for iv in t.get("intermediate_values") or []]
    last = epochs[-1].get("samples_per_second", 0) if epochs else 0
    row["epoch_samples_per_second"] = [e.get("samples_per_second") for e in epochs]
    if b in pt:
        row["pytorch_samples_per_second"] = pt[b]
        row["ratio_to_pytorch"] = round(last / pt[b], 3)
    res["trials"].append(row)
    print(f"batch {b:>5}: {t.get('state')} on {t.get('device')}: val_accuracy {m.get('val_accuracy', float('nan')):.4f}, "
          f"{last:,.0f} samples/s in the last epoch ({m.get('samples_per_second', 0):,.0f} over all; PyTorch {pt.get(b, 0):,.0f}), "
          f"device memory {m.get('device_memory_bytes', 0)/2**20:.1f} MiB own, peak {m.get('peak_device_memory_bytes', 0)/2**20:.1f} MiB, "
          f"{m.get('device_memory_in_use_bytes', 0)/2**20:.0f} MiB in use on the device, {m.get('launches_per_step', 0):.0f} launches/step"
          + (f"; error: {t.get('error')}" if t.get("error") else ""))
ref = [r for r in res["trials"] if r["batch_size"] == 128]
if not ref or ref[0].get("state") != "complete" or ref[0].get("val_accuracy", 0) < 0.97:
    res["ok"] = False
    print("FAILED: the reference configuration (batch 128) did not reach val_accuracy >= 0.97 in 3 epochs")
big = [r for r in res["trials"] if r["batch_size"] == 8192]
if big and "ratio_to_pytorch" in big[0]:
    print(f"batch 8192 float32: {big[0]['ratio_to_pytorch']}x PyTorch (target >= 0.5)")
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(res, f, indent=1)
sys.exit(0 if res["ok"] else 1)
PY
[ "${PIPESTATUS[0]}" = 0 ] || status=1
note "done: status $status; results in $out"
exit $status
