#!/usr/bin/env python3
"""An example training script for tune's exec workload.

tune passes the trial's params in the environment (TUNE_PARAMS holds them
as JSON; TUNE_PARAM_<NAME> holds each one) and reads two kinds of lines
from stdout:

    TUNE_REPORT {"step": 0, "val_accuracy": 0.91, "samples_per_second": 5100.0}
    TUNE_RESULT {"val_accuracy": 0.95, "val_loss": 0.17, ...}

one report per epoch (the study's objective metric among the numbers is the
step's value, and the pruner may stop the script after any of them) and one
result at the end. A report may carry a "profile" object, where the epoch's
time and memory went, which tune shows with the trial:

    TUNE_REPORT {"step": 0, "val_accuracy": 0.91, "profile": {"wall_seconds": 1.9,
        "phases": {"data": 0.2, "forward": 0.6, "backward": 0.8, "optimizer": 0.2, "eval": 0.1},
        "rss_peak_bytes": 251658240}}

This script times those phases with perf_counter around each (on a GPU it
synchronizes first, so that the time of queued kernels lands in the phase
that queued them), and reads its peak resident set from getrusage. Anything else the script prints is just logged. The
Python SDK's tune.script writes those lines (script.report, script.result)
and reads the params (script.params); `pip install ./sdk/python` installs
it, and from a checkout this script finds it without installing.

With PyTorch installed it trains a small MLP on a synthetic two-class
problem on TUNE_DEVICE ("cpu" or "cuda:N"); without it (or with
EXAMPLE_SIMULATE=1) it simulates a learning curve, so it runs anywhere with
nothing but python3.
"""

import math
import os
import random
import sys
import time

try:
    import resource
except ImportError:  # not on Windows
    resource = None

try:
    from tune import script
except ImportError:
    # Not installed: use the SDK of the checkout this script lives in.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "sdk", "python"))
    from tune import script

params = script.params()
lr = float(params.get("learning_rate", 1e-3))
batch_size = int(params.get("batch_size", 64))
hidden_units = int(params.get("hidden_units", 64))
activation = params.get("activation", "relu")
epochs = int(params.get("epochs", os.environ.get("EXAMPLE_EPOCHS", 3)))
device = script.device()
seed = script.trial_number() or 0
print(f"trial {script.trial_number()} of study {script.study_name()}: "
      f"lr={lr} batch_size={batch_size} epochs={epochs} on {device}", file=sys.stderr)

torch = None
if os.environ.get("EXAMPLE_SIMULATE") != "1":
    try:
        import torch  # noqa: F811
        from torch import nn
    except ImportError:
        torch = None

start = time.perf_counter()
train_samples = 4096


def rss_peak_bytes():
    """This process's peak resident set: the trial's own, since the
    process is the trial (Linux reports KiB, macOS bytes)."""
    if resource is None:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class Phases:
    """Wall time per phase: lap(name) charges the time since the last lap
    to name, so the phases tile the epoch; sync, when given, runs first
    (torch.cuda.synchronize on a GPU)."""

    def __init__(self, sync=None):
        self.sync = sync
        self.seconds = {}
        self.last = time.perf_counter()

    def lap(self, name):
        if self.sync is not None:
            self.sync()
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.last = now

    def profile(self, wall, **figures):
        phases = dict(self.seconds)
        named = sum(v for k, v in phases.items() if k != "other")
        # other: the laps charged to it and whatever no lap caught.
        phases["other"] = max(0.0, wall - named)
        out = {"wall_seconds": wall, "phases": phases, "rss_peak_bytes": rss_peak_bytes()}
        out.update({k: v for k, v in figures.items() if v})
        return out


def simulate():
    """A curve shaped by the params: best near lr=1e-2, worse far from it."""
    rnd = random.Random(seed)
    quality = math.exp(-((math.log10(lr) + 2.0) ** 2) / 2.0)  # 1 at lr=1e-2
    result = {}
    epoch_seconds = float(os.environ.get("EXAMPLE_EPOCH_SECONDS", "0.02"))
    for epoch in range(epochs):
        t0 = time.perf_counter()
        clock = Phases()
        # Pretend to train: a fifth of the epoch per phase.
        for name in ("data", "forward", "backward", "optimizer", "eval"):
            time.sleep(epoch_seconds / 5)
            clock.lap(name)
        progress = 1 - math.exp(-(epoch + 1) / 2.0)
        acc = 0.1 + 0.88 * quality * progress + rnd.uniform(-0.005, 0.005)
        loss = max(0.01, 2.3 * (1 - acc))
        seconds = time.perf_counter() - t0
        result = {
            "val_accuracy": acc,
            "val_loss": loss,
            "train_loss": loss * 0.9,
            "samples_per_second": train_samples / seconds,
            "seconds_per_epoch": seconds,
        }
        script.report(epoch, profile=clock.profile(seconds), **result)
    return result


def train_torch():
    """A real run: an MLP on two noisy interleaved spirals."""
    torch.manual_seed(seed)
    dev = torch.device(device)

    def spirals(n):
        t = torch.rand(n) * 3 * math.pi
        label = torch.randint(0, 2, (n,))
        r = t / (3 * math.pi)
        angle = t + label * math.pi
        x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)
        return x + 0.02 * torch.randn_like(x), label

    x_train, y_train = spirals(train_samples)
    x_val, y_val = spirals(1024)
    x_train, y_train, x_val, y_val = (v.to(dev) for v in (x_train, y_train, x_val, y_val))
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}.get(activation, nn.ReLU)
    model = nn.Sequential(nn.Linear(2, hidden_units), act(), nn.Linear(hidden_units, hidden_units), act(),
                          nn.Linear(hidden_units, 2)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else None
    # The matrix products of one training example: forward x·W per
    # Linear, backward twice that (the input gradient of the first layer
    # included: autograd computes it only when x requires it, and here it
    # does not, so that one is left out).
    sizes = [(2, hidden_units), (hidden_units, hidden_units), (hidden_units, 2)]
    fwd_flops = sum(2 * i * o for i, o in sizes)
    train_flops = fwd_flops * 3 - 2 * sizes[0][0] * sizes[0][1]
    result = {}
    for epoch in range(epochs):
        t0 = time.perf_counter()
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        clock = Phases(sync)
        model.train()
        perm = torch.randperm(train_samples, device=dev)
        total = 0.0
        for i in range(0, train_samples, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x_train[idx], y_train[idx]
            clock.lap("data")
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            clock.lap("forward")
            loss.backward()
            clock.lap("backward")
            opt.step()
            clock.lap("optimizer")
            total += loss.item() * len(idx)
            clock.lap("other")
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = loss_fn(logits, y_val).item()
            acc = (logits.argmax(1) == y_val).float().mean().item()
        clock.lap("eval")
        if not math.isfinite(val_loss):
            # NaN is not JSON: say why and fail, tune records the trial failed.
            print(f"diverged at epoch {epoch}: val_loss={val_loss}", file=sys.stderr)
            sys.exit(1)
        seconds = time.perf_counter() - t0
        result = {
            "val_accuracy": acc,
            "val_loss": val_loss,
            "train_loss": total / train_samples,
            "samples_per_second": train_samples / seconds,
            "seconds_per_epoch": seconds,
        }
        prof = clock.profile(
            seconds,
            matmul_flops=float(train_flops * train_samples + fwd_flops * len(y_val)),
            device_bytes=torch.cuda.memory_allocated(dev) if cuda else 0,
            device_peak_bytes=torch.cuda.max_memory_allocated(dev) if cuda else 0,
        )
        script.report(epoch, profile=prof, **result)
    return result


final = train_torch() if torch is not None else simulate()
final["wall_seconds"] = time.perf_counter() - start
script.result(**final)
