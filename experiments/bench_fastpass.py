"""The population pass for the networks people write: fast pass vs a loop over members vs vmap vs the GEMM floor.

Usage: ``python experiments/bench_fastpass.py [--repeats 5] [--only mlp-85k]``. sklearn's digits
(1,797 rows, 64 features, as 1x8x8 images for the Conv2d net and a 1x64 signal for the Conv1d one),
float32, full batch, cross-entropy on integer labels, torch on ONE thread. Per network, one
population evaluation (``SupervisedProblem.objective``: every member's loss) by:

* ``fast``: ``path="auto"``, the pass ``SupervisedProblem`` picks (``pass_kind``: ``fx`` for the
  ``torch.fx`` pass of :mod:`networks.fx_pass`, ``compiled`` for :mod:`networks.population_pass`);
* ``compiled``: the DeepResNet-era pass forced, where it takes the module (``nn.Sequential`` only);
* ``fx``: the ``torch.fx`` pass forced (to compare with ``compiled`` on the Conv1d net);
* ``loop``: a plain loop over members, ``functional_call`` + ``F.cross_entropy`` per member;
* ``vmap``: ``path="vmap"``, ``torch.vmap`` over ``functional_call`` in budget-sized chunks;
* ``gemm``: the floor: one ``torch.mm`` of two square matrices with the same FLOPs as the
  population's forward (FLOPs counted by ``torch.utils.flop_counter`` on one forward).

All timings of a network are interleaved in this process (each method once, repeat), minimum over
``--repeats``, in CPU time of this process (``time.process_time``; torch runs one thread, so it is
the work done, not the time spent descheduled: on the shared 2-core machine the wall time of the
same call varied 2-3x with the other jobs' load); read the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from networks.neuro import SupervisedProblem  # noqa: E402
from networks.population_pass import Unsupported, compile_population  # noqa: E402


class MLP(nn.Module):
    """The MLP as most people write it: a subclass with its own forward."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class ConvNet(nn.Module):
    """A small Conv2d network on the 8x8 digits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = F.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def sequential(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


def conv1d() -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 64, 10))


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = platform.processor() or "unknown"
    return f"{name}, {os.cpu_count()} CPUs, torch {torch.__version__}"


def forward_flops(module: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x)
    return int(counter.get_total_flops())


def member_loop(module: nn.Module, W: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The reference a user writes: one ordinary forward per member."""
    names = [n for n, _ in module.named_parameters()]
    shapes = [p.shape for p in module.parameters()]
    sizes = [p.numel() for p in module.parameters()]
    out = []
    with torch.no_grad():
        for w in W:
            tensors = {n: t.view(s) for n, t, s in zip(names, torch.split(w, sizes), shapes, strict=True)}
            out.append(F.cross_entropy(functional_call(module, tensors, (x,)), y))
    return torch.stack(out)


def bench(name: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor, pop: int, repeats: int) -> str:
    torch.manual_seed(0)
    fast = SupervisedProblem(module, x, y, num_threads=1)
    vmap = SupervisedProblem(module, x, y, num_threads=1, path="vmap")
    forced = {}
    for label, compile_ in (("compiled", compile_population), ("fx", None)):
        problem = SupervisedProblem(module, x, y, num_threads=1)
        try:
            if compile_ is not None:
                problem._program = compile_(problem._target, tuple(problem.X.shape))
            else:
                from networks.fx_pass import compile_fx

                problem._program = compile_fx(problem._target, tuple(problem.X.shape))
        except Unsupported:
            continue
        if problem._program.kind != fast.pass_kind:
            forced[label] = problem
    rng = np.random.default_rng(0)
    W = fast.x0 + 0.05 * rng.standard_normal((pop, fast.dim))
    Wt = torch.as_tensor(W, dtype=torch.float32)
    flops = forward_flops(module, x) * pop
    n = max(64, round((flops / 2) ** (1 / 3)))
    a, b = torch.randn(n, n), torch.randn(n, n)
    reference = member_loop(module, Wt, x, y).double().numpy()
    np.testing.assert_allclose(fast.objective(W), reference, rtol=1e-4, atol=1e-5)
    fns = {"fast": lambda: fast.objective(W), **{k: (lambda p=p: p.objective(W)) for k, p in forced.items()},
           "loop": lambda: member_loop(module, Wt, x, y), "vmap": lambda: vmap.objective(W),
           "gemm": lambda: torch.mm(a, b)}
    for f in fns.values():  # warm-up: first allocations (page faults, malloc's thresholds), lazy inits
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            start = time.process_time()
            f()
            times[k].append(time.process_time() - start)
    t = {k: min(v) * 1e3 for k, v in times.items()}
    gemm = t["gemm"] * flops / (2 * n**3)  # the floor: the population's FLOPs at one big mm's rate
    other = " ".join(f"{k} {t[k]:8.1f}" for k in forced)
    return (f"{name:<22} {fast.dim:>7,} {pop:>4} {fast.pass_kind:>8} {t['fast']:>9.1f} {t['loop']:>9.1f} "
            f"{t['vmap']:>9.1f} {gemm:>9.1f} {t['loop'] / t['fast']:>8.2f}x {t['vmap'] / t['fast']:>8.2f}x "
            f"{t['fast'] / gemm:>9.2f}x  {other}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default=None, help="run the networks whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    x = torch.as_tensor(X / 16.0, dtype=torch.float32)
    labels = torch.as_tensor(y)
    small, large = [64, 32, 10], [64, 256, 256, 10]
    torch.manual_seed(0)
    cases = [("mlp-2.4k Sequential", sequential(small), x, 64), ("mlp-2.4k subclass", MLP(small), x, 64),
             ("mlp-85k Sequential", sequential(large), x, 256), ("mlp-85k subclass", MLP(large), x, 256),
             ("conv2d subclass", ConvNet(), x.view(-1, 1, 8, 8), 64),
             ("conv1d Sequential", conv1d(), x.view(-1, 1, 64), 64)]
    print(f"# bench_fastpass, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"# digits {tuple(x.shape)}, float32, full batch, cross-entropy; torch threads = 1; min over "
          f"{args.repeats} interleaved repeats; load average at start {os.getloadavg()[0]:.2f} (a shared machine)")
    print("# CPU ms (process time, one thread) per population evaluation; loop/fast, vmap/fast: how many times "
          "faster the fast pass is; "
          "fast/gemm: its time over the GEMM floor (1.00x = the machine's one-mm rate); extra columns: the "
          "other pass forced, ms")
    print(f"{'network':<22} {'weights':>7} {'pop':>4} {'pass':>8} {'fast ms':>9} {'loop ms':>9} {'vmap ms':>9} "
          f"{'gemm ms':>9} {'loop/fast':>9} {'vmap/fast':>9} {'fast/gemm':>10}")
    for name, module, inputs, pop in cases:
        if args.only and args.only not in name:
            continue
        print(bench(name, module, inputs, labels, pop, args.repeats), flush=True)


if __name__ == "__main__":
    main()
