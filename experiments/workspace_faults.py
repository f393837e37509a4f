"""What the recycled buffers (networks.workspace) save: one population call with and without them, side by side.

Per workload, the CPU time of one call (best of ``--repeats``) and its minor page faults, with the pool and
with it switched off (every product allocates afresh, as before), one thread; and a step of 32 CartPole
policies through the fx pass against the vmap path (``GymProblem``).

    PYTHONPATH=$PWD .venv/bin/python experiments/workspace_faults.py
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "experiments" / "neuro_peers")]

from torchnets import network  # noqa: E402

import networks.population as population  # noqa: E402
from networks import workspace  # noqa: E402
from networks.neuro import GymProblem, SupervisedProblem  # noqa: E402
from networks.resnet import DeepResNet  # noqa: E402


def measure(call, repeats: int) -> tuple[float, int]:
    """Best CPU ms of a call and the minor page faults of that call."""
    call()
    best, faults = float("inf"), 0
    for _ in range(repeats):
        before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
        call()
        spent = time.process_time() - start
        if spent < best:
            best, faults = spent, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return best * 1e3, faults


def main() -> int:
    torch.set_num_threads(1)
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(0)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    n = int(0.75 * len(X))
    net = network([64, 256, 256, 10], "relu", "sequential")
    problem = SupervisedProblem(net, X[:n], y[:n], num_threads=1)
    W = torch.as_tensor(problem.x0[None] + 0.05 * rng.standard_normal((256, problem.dim)), dtype=torch.float32)
    resnet = DeepResNet(9, 50, width=8, depth=2, seed=0)
    R = torch.as_tensor(rng.standard_normal((256, population.flat_size(resnet))) * 0.1, dtype=torch.float32)
    x = torch.as_tensor(rng.standard_normal((4096, 9)), dtype=torch.float32)
    t = torch.nn.functional.one_hot(torch.as_tensor(rng.integers(0, 50, 4096)), 50).float()
    calls = {"digits MLP 64-256-256-10 (85k weights), P = 256": lambda: problem._population_loss(W),
             "DeepResNet width 8, P = 256, batch 4,096": lambda: population.batched_loss(resnet, R, x, t, loss="ce")}
    print("# one population call, one thread: CPU ms (minor page faults)")
    print(f"{'workload':<52}{'recycled':>20}{'fresh':>20}{'fresh / recycled':>18}")
    for name, call in calls.items():
        kept = workspace._USE_COUNT
        recycled = measure(call, 4)
        workspace._USE_COUNT = None  # recycled_buffers() becomes a no-op: every product allocates
        try:
            fresh = measure(call, 4)
        finally:
            workspace._USE_COUNT = kept
        print(f"{name:<52}{recycled[0]:>10,.0f} ({recycled[1]:>7,}){fresh[0]:>10,.0f} ({fresh[1]:>7,})"
              f"{fresh[0] / recycled[0]:>17.2f}x")
    gym = GymProblem("CartPole-v1", network([4, 16, 2], "tanh", "sequential"), bounds=100.0)
    P = torch.as_tensor(gym.x0[None] + rng.standard_normal((32, gym.dim)), dtype=torch.float32)
    obs = torch.as_tensor(rng.standard_normal((32, 1, 4)), dtype=torch.float32)
    fx = measure(lambda: [gym._forward(P, obs) for _ in range(200)], 3)[0] / 200 * 1e3
    vmap = measure(lambda: [gym._vmap_forward(P, obs) for _ in range(200)], 3)[0] / 200 * 1e3
    print(f"\n# a step of 32 CartPole policies 4-16-2 (GymProblem, pass_kind {gym.pass_kind!r}): "
          f"fx {fx:,.0f} us, vmap {vmap:,.0f} us ({vmap / fx:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
