"""Resident memory of a torch cpu run as the generations go (the memory fixes of issue #28's bench).

A 64-32-10 MLP on sklearn's digits, population 64, one thread; prints the process's current resident set
every 200 generations and the peak at the end. Before the history fix (the history kept one 0-d tensor per
generation) a SNES run grew by about 1 MB per generation; before the fused step's fix (a re-wrapped
``tensor.numpy()`` view kept every old population alive) an SCA, PO or SCPO run grew by one population
per generation. With both, it stays flat.

    python experiments/history_memory.py --generations 1200 [--algorithm sca] [--backend numpy]
"""

from __future__ import annotations

import argparse
import resource

import numpy as np


def resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=1200)
    parser.add_argument("--backend", choices=("torch", "numpy"), default="torch")
    parser.add_argument("--algorithm", default="snes", help="any registered algorithm (default snes)")
    args = parser.parse_args(argv)
    import torch
    from sklearn.datasets import load_digits

    import scpo
    from networks.neuro import SupervisedProblem

    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    problem = SupervisedProblem(net, torch.tensor(X / 16, dtype=torch.float32), torch.tensor(y),
                                loss="cross_entropy", bounds=100.0, num_threads=1)
    w0 = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
    done = [0]

    def report(_progress) -> None:
        done[0] += 1
        if done[0] % 200 == 0:
            print(f"generation {done[0]:5d}: {resident_mb():7.0f} MB resident", flush=True)

    es = {"x0": w0, "sigma0": 0.05} if args.algorithm in ("snes", "pgpe", "openai-es", "sep-cmaes", "cmaes") else {}
    scpo.minimize(problem, algorithm=args.algorithm, pop_size=64, max_iter=args.generations, seed=0, **es,
                  backend=args.backend, dtype="float32" if args.backend == "torch" else "float64", callback=report)
    print(f"peak resident set: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
