"""scpo's SNES on the benchmark's task (``experiments/bench_neuro.py`` starts it with ``/work/main/.venv``'s python).

Supervised tasks: :class:`networks.neuro.SupervisedProblem` (full batch, cross-entropy, integer labels) over the
network as given (``nn.Sequential`` or the ``nn.Module`` subclass); CartPole: :class:`networks.neuro.GymProblem`.
SNES starts its mean at the shared weights with the shared step (``x0=``, ``sigma0=``, units of the weights),
the paper's utilities and learning rates (scpo's defaults); ``spec["backend"]``: "torch" (the benchmark's
default: float32 as every peer; the numpy backend's float64 sampling and update cost about 1.3x more at 85k
weights, population 256) or "numpy" (float64).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import common  # noqa: E402


def main() -> None:
    spec = common.spec()
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    from torchnets import network

    import scpo
    from networks.neuro import GymProblem, SupervisedProblem

    w0 = common.x0(spec)
    net = network(spec["sizes"], spec["activation"], spec["style"], w0).to(common.torch_device(spec))
    steps: list[int] = []
    radius = spec["radius"]  # a box far wider than the search reaches: no clipping, as in the other libraries
    if spec["task"] == "cartpole":
        problem = GymProblem(spec["env"], net, episodes=1, seed=spec["seed"], bounds=radius)
        returns = problem.returns

        def counted(W, generation):  # CartPole's reward is 1 a step: the returns count the member-steps
            out = returns(W, generation)
            steps.append(int(round(float(out.sum()))))
            return out

        problem.returns = counted
    else:
        X, y = common.data(spec)
        problem = SupervisedProblem(net, X, y, loss="cross_entropy", bounds=radius, num_threads=1)
    clock = common.Clock(common.torch_sync(spec))
    setup_s = time.perf_counter() - t0

    def tick(_progress) -> None:
        clock.tick()

    clock.reset()
    result = scpo.minimize(problem, algorithm="snes", x0=w0, sigma0=spec["sigma"], pop_size=spec["pop"],
                           max_iter=spec["generations"], seed=spec["seed"], callback=tick,
                           backend=spec["backend"], dtype="float32" if spec["backend"] == "torch" else "float64",
                           **({"device": common.device(spec)} if spec["backend"] == "torch" else {}))
    common.report(spec, clock, result.center, setup_s, path=getattr(problem, "path", "gym"),
                  **({"steps": steps} if steps else {}), **common.torch_gpu_peak_mb(spec))


if __name__ == "__main__":
    main()
