"""Our CMA-ES (``implementation="own"``) against the ``cma`` package (``implementation="cma"``), its oracle.

Both run through the engine with the same seed: the same uniform initial population, so the same start
(its best point), the same population ``4 + floor(3 ln d)``, ``sigma0 = 0.3`` of the range in the unit box,
the same bound handling (``cma``'s ``BoundTransform``; ours is its formula), the same budget and own
restarts (same population) when ``cma``'s termination criteria fire. Problems: F1-F13 shifted
(:mod:`scpo.problems`, problem seed = run seed) and a BBOB subset (COCO's functions, instance 1 + seed % 15,
:func:`scpo.bbob.coco_function`). The final error is ``f_best - f_opt``; errors below 1e-8 (BBOB's final
target) count as 1e-8, so two solved runs tie instead of ranking by rounding noise.

Verdict per function: the two-sided Mann-Whitney rank-sum test over the seeds at level 0.01; "agree" when it
does not reject, else which side is better.

    PYTHONPATH=$PWD python experiments/cmaes_oracle.py [--seeds 10] [--dims 10] [--budget 1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu

import scpo
from scpo.io import write_text

LEVEL = 0.01
FLOOR = 1e-8
F_FUNCTIONS = tuple(f"f{i}" for i in range(1, 14))
BBOB_FUNCTIONS = (1, 2, 8, 10, 15)


def final_error(problem, f_opt: float, seed: int, max_evals: int, implementation: str) -> float:
    result = scpo.minimize(problem, algorithm="cmaes", max_evals=max_evals, seed=seed, implementation=implementation)
    return max(float(result.fun) - f_opt, FLOOR)


def f_problem(name: str, dim: int, seed: int):
    problem = scpo.problems.get(name, dim, shifted=True, seed=seed)
    return problem, float(problem.f_opt or 0.0)


def bbob_problem(function: int, dim: int, seed: int):
    from scpo.bbob import LOWER, UPPER, coco_function

    bare, f_opt = coco_function(function, dim, 1 + seed % 15)
    return scpo.Problem(lambda X: np.asarray(bare(X), dtype=float), LOWER, UPPER, dim=dim, vectorized=True,
                        name=f"bbob-f{function}"), f_opt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--dims", default="10")
    parser.add_argument("--budget", type=int, default=1000, help="evaluations per dimension")
    parser.add_argument("--functions", default=",".join(F_FUNCTIONS))
    parser.add_argument("--bbob", default=",".join(map(str, BBOB_FUNCTIONS)), help="BBOB function numbers ('' none)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="cma")  # its bound transform's chatter
    lines = [f"# cmaes_oracle.py  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}  "
             f"{platform.node()} {platform.processor() or platform.machine()}, python {platform.python_version()}",
             f"# command: python experiments/{' '.join(['cmaes_oracle.py', *sys.argv[1:]])}",
             f"# seeds 0..{args.seeds - 1}; budget {args.budget} x dim evaluations; errors floored at {FLOOR:g}; "
             f"rank-sum level {LEVEL}",
             f"{'function':10} {'dim':>4} {'N':>3} {'own median':>11} {'cma median':>11} {'p':>7}  verdict  "
             "(wins own/cma, s own/cma)"]
    print("\n".join(lines), flush=True)
    cells: list[tuple[Any, Callable[[Any, int, int], Any]]] = [
        (name, f_problem) for name in args.functions.split(",") if name]
    cells += [(int(f), bbob_problem) for f in args.bbob.split(",") if f]
    counts = {"agree": 0, "own better": 0, "cma better": 0}
    for dim in map(int, args.dims.split(",")):
        for name, make in cells:
            own, cma, t_own, t_cma = [], [], 0.0, 0.0
            for seed in range(args.seeds):
                problem, f_opt = make(name, dim, seed)
                start = time.perf_counter()
                own.append(final_error(problem, f_opt, seed, args.budget * dim, "own"))
                t_own += time.perf_counter() - start
                start = time.perf_counter()
                cma.append(final_error(problem, f_opt, seed, args.budget * dim, "cma"))
                t_cma += time.perf_counter() - start
            same = np.array_equal(own, cma)
            p = 1.0 if same else float(mannwhitneyu(own, cma, alternative="two-sided").pvalue)
            a, b = float(np.median(own)), float(np.median(cma))
            verdict = "agree" if p >= LEVEL else ("own better" if a < b else "cma better")
            counts[verdict] += 1
            pairs = list(zip(own, cma, strict=True))
            wins = (sum(x < y for x, y in pairs), sum(y < x for x, y in pairs))
            label = name if isinstance(name, str) else f"bbob-f{name}"
            pop = scpo.make(problem, "cmaes", max_evals=args.budget * dim).pop_size
            line = (f"{label:10} {dim:4d} {pop:3d} {a:11.4g} {b:11.4g} {p:7.3f}  {verdict}  "
                    f"({wins[0]}/{wins[1]}, {t_own:.0f}/{t_cma:.0f})")
            lines.append(line)
            print(line, flush=True)
    lines.append(f"# verdicts: {counts}")
    print(lines[-1], flush=True)
    if args.out:  # markdown: a title, then the printed table as it is
        write_text(args.out, "# Our CMA-ES against cma (experiments/cmaes_oracle.py)\n\n```text\n"
                   + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
