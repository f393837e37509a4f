"""Reinforcement learning with scpo's optimizers: gymnasium control tasks through ``networks.neuro.GymProblem``.

Each algorithm trains a small tanh MLP policy (obs -> 16 -> actions) from the same initial weights (the
evolution strategies start their mean there, ``x0=problem.x0``; the population algorithms sample around
it), one seeded episode per member per generation, population 16. The score is the mean return over 10
fresh seeded episodes of the result: the distribution's mean (``result.center``) for the distribution
algorithms, the best member (``result.x``) for the others. Prints the table and writes it to --out.

    .venv/bin/python experiments/rl.py --out experiments/results/rl.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scpo  # noqa: E402
from scpo.io import write_text  # noqa: E402

TASKS = {  # env id -> (generations, algorithms): Acrobot's episodes last up to 500 steps, CartPole's 500
    "CartPole-v1": (25, ("snes", "pgpe", "openai-es", "sep-cmaes", "de", "scpo", "random")),
    "Acrobot-v1": (25, ("snes", "pgpe", "sep-cmaes", "de", "scpo", "random")),
}
POP = 16


def policy(env_id: str, seed: int):
    import gymnasium
    import torch

    probe = gymnasium.make(env_id)
    inputs, outputs = int(np.prod(probe.observation_space.shape)), int(probe.action_space.n)
    probe.close()
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(inputs, 16), torch.nn.Tanh(), torch.nn.Linear(16, outputs))


def run(env_id: str, algorithm: str, generations: int, seed: int) -> tuple[float, float, float]:
    from networks.neuro import GymProblem

    problem = GymProblem(env_id, policy(env_id, seed), episodes=1, seed=seed)
    start = time.perf_counter()
    result = scpo.minimize(problem, algorithm=algorithm, x0=problem.x0, pop_size=POP, max_evals=POP * generations,
                           seed=seed)
    seconds = time.perf_counter() - start
    chosen = result.x if result.get("center") is None else result.center
    score = problem.episode_return(chosen, episodes=10, seed=10_000 + seed)
    initial = problem.episode_return(problem.x0, episodes=10, seed=10_000 + seed)
    problem.close()
    return initial, score, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    lines = [f"# Reinforcement learning: gymnasium control tasks (`experiments/rl.py --seeds {args.seeds}`)", "",
             f"Run {dt.date.today()} on {platform.platform()}, {os.cpu_count()} CPUs (shared: seconds are indicative "
             f"only). Policy: tanh MLP obs-16-actions, population {POP}, one seeded episode per member per "
             "generation; score: mean return over 10 fresh episodes of the result (the mean for distribution "
             "algorithms, the best member for the others); median [min, max] over the seeds.", ""]
    for env_id, (generations, algorithms) in TASKS.items():
        lines += [f"## {env_id}: {POP * generations} evaluations ({generations} generations)", "",
                  "| algorithm | initial policy | after training | seconds per run |", "|---|---:|---:|---:|"]
        for algorithm in algorithms:
            rows = [run(env_id, algorithm, generations, seed) for seed in range(args.seeds)]
            initial, score, seconds = (np.array(column) for column in zip(*rows, strict=True))
            lines.append(f"| {algorithm} | {np.median(initial):.1f} | {np.median(score):.1f} "
                         f"[{score.min():.1f}, {score.max():.1f}] | {np.median(seconds):.1f} |")
            print(lines[-1], flush=True)
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
