#!/usr/bin/env bash
# Trains the mnist-mlp model with gorgonia (OpenBLAS when it loads, then
# pure-Go BLAS) and with PyTorch in one run on this machine, and prints the
# float32 samples/s side by side. Raw output goes to bench/results/mlp-<UTC>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeat="${REPEAT:-2}"
out="bench/results/mlp-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "PyTorch is missing: apt-get install -y python3-torch" >&2
  exit 1
fi
{ echo "date: $(date -u +%FT%TZ)"; echo "git: $(git rev-parse --short HEAD)"; echo "nproc: $(nproc)"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$out/meta.txt"
echo "gorgonia, OpenBLAS when available" >&2
go run ./bench/mlp -repeat "$repeat" -workers 1 -json "$out/go-auto.json" > "$out/go-auto.txt"
echo "gorgonia, pure-Go BLAS" >&2
go run ./bench/mlp -repeat "$repeat" -workers 1 -blas gonum -json "$out/go-gonum.json" > "$out/go-gonum.txt"
echo "PyTorch, threads = cores" >&2
/usr/bin/python3 bench/pytorch_mlp.py --repeat "$repeat" --json "$out/torch.json" > "$out/torch.txt"
echo "PyTorch, 1 thread" >&2
OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch_mlp.py --repeat "$repeat" --threads 1 --json "$out/torch1.json" > "$out/torch1.txt"
/usr/bin/python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
def rates(name):
    doc = json.loads((out / name).read_text())
    rows = doc.get("results", doc) if isinstance(doc, dict) else doc
    r = {}
    for row in rows:
        if row.get("workers", 1) != 1:
            continue
        r[(row["precision"], row["batch_size"])] = row["samples_per_second"]
    return r
cols = {n: rates(f) for n, f in [("gorgonia+OpenBLAS", "go-auto.json"), ("gorgonia pure Go", "go-gonum.json"),
                                 ("PyTorch", "torch.json"), ("PyTorch 1 thread", "torch1.json")]}
keys = sorted(set().union(*[c.keys() for c in cols.values()]))
print("precision batch " + " ".join(f"{n:>18}" for n in cols) + "  PyTorch best / gorgonia+OpenBLAS")
for k in keys:
    vals = [cols[n].get(k) for n in cols]
    best = max(v for v in vals[2:] if v) if any(vals[2:]) else None
    ratio = f"{best / vals[0]:.2f}x" if best and vals[0] else "-"
    print(f"{k[0]:>9} {k[1]:>5} " + " ".join(f"{v:>18,.0f}" if v else f"{'-':>18}" for v in vals) + f"  {ratio}")
PY
