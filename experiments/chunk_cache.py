"""How many members a population call evaluates at once: time per call against ``CACHE_BYTES``.

``networks.population.members_per_chunk`` keeps each chunk's widest activation near ``CACHE_BYTES``;
this script times the population pass of five workloads (digits MLPs through the fx pass, DeepResNets
through the compiled pass) at several values, one thread, in one run, and prints ms per call (the best
of ``--repeats``) side by side. The chosen value and these figures are written beside the constant.

    PYTHONPATH=$PWD .venv/bin/python experiments/chunk_cache.py --sizes 4,6,8,16 --repeats 8
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "experiments" / "neuro_peers")]

from torchnets import network  # noqa: E402

import networks.population as population  # noqa: E402
from networks.neuro import SupervisedProblem  # noqa: E402
from networks.resnet import DeepResNet  # noqa: E402


def best_ms(call, repeats: int) -> float:
    call()  # the first call allocates the workspace and warms the caches
    times = []
    for _ in range(repeats):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return min(times) * 1e3


def workloads(rng: np.random.Generator) -> dict:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    n = int(0.75 * len(X))
    calls = {}
    for sizes, pop in (([64, 256, 256, 10], 256), ([64, 32, 10], 64), ([64, 1024, 10], 64)):
        net = network(sizes, "relu", "sequential")
        w0 = torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()
        W = torch.as_tensor(w0[None] + 0.05 * rng.standard_normal((pop, w0.size)), dtype=torch.float32)
        problem = SupervisedProblem(net, X[:n], y[:n], num_threads=1, memory_budget_mb=4096)
        calls[f"digits MLP {'-'.join(map(str, sizes))}, P = {pop}"] = lambda p=problem, W=W: p._population_loss(W)
    for width, pop, batch in ((8, 64, 2048), (8, 64, 256), (16, 64, 2048), (8, 32, 6869)):
        net = DeepResNet(9, 50, width=width, depth=2, seed=0)
        W = torch.as_tensor(rng.standard_normal((pop, population.flat_size(net))) * 0.1, dtype=torch.float32)
        x = torch.as_tensor(rng.standard_normal((batch, 9)), dtype=torch.float32)
        labels = torch.as_tensor(rng.integers(0, 50, batch))
        target = torch.nn.functional.one_hot(labels, 50).float()
        calls[f"DeepResNet width {width}, P = {pop}, batch {batch}"] = (
            lambda net=net, W=W, x=x, t=target: population.batched_loss(net, W, x, t, loss="ce", memory_budget_mb=4096))
    return calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,6,8,16", help="CACHE_BYTES values to time, in MB")
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.set_num_threads(1)
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"# ms per population call against CACHE_BYTES, one thread; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} "
          f"UTC, {platform.processor() or platform.machine()}, load {load}")
    print(f"{'workload':<46}" + "".join(f"{s:>7} MB" for s in sizes) + "   best")
    for name, call in workloads(np.random.default_rng(0)).items():
        row = []
        for size in sizes:
            population.CACHE_BYTES = size << 20
            row.append(best_ms(call, args.repeats))
        ratios = [r / min(row) for r in row]
        print(f"{name:<46}" + "".join(f"{r:>10.2f}" for r in ratios) + f"   {sizes[int(np.argmin(row))]} MB")
    print("(each row: time / the row's best; 1.00 marks the fastest)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
