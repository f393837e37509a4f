"""REPORT part 1: the optimizers on the classical functions F1-F13.

Setting (SPEC 1.2-1.5, 3): SCA, PO, PO with the authors' party-switching bug, SCPO, PSO,
DE, CMA-ES and random search; F1-F13 at d = 30; 30 runs per cell; 30,000 evaluations per
run; unshifted (as the papers report) and shifted (optimum off the diagonal, where the
bug's advantage disappears). Default population sizes: 64 (8 x 8) for PO and SCPO as in
the authors' script, 30 for the others; CMA-ES's is cma's ``4 + floor(3 ln d)`` (14 at d = 30) since
issue 26: the results committed before it (``experiments/results/functions``) ran CMA-ES with 30.

    python experiments/run_benchmark_functions.py                       # the full setting (hours)
    python experiments/run_benchmark_functions.py --runs 3 --problems sphere,rastrigin,griewank \\
        --out experiments/results/functions_smoke                       # a quick check

Each setting writes ``<out>/unshifted`` and ``<out>/shifted`` (see ``scpo.benchmark``);
re-running the same command resumes where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scpo.benchmark import run_benchmark

ALGORITHMS = ["sca", "po", "po:reference_switch_bug=True", "scpo", "pso", "de", "cmaes", "random"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="independent runs per cell (default 30)")
    parser.add_argument("--evals", type=int, default=30_000, help="evaluations per run (default 30000)")
    parser.add_argument("--dim", type=int, default=30, help="dimension (default 30)")
    parser.add_argument("--problems", default="all", help="comma-separated names, or 'all' for F1-F13")
    parser.add_argument("--algos", default=",".join(ALGORITHMS), help="comma-separated algorithm entries")
    parser.add_argument("--settings", default="unshifted,shifted", help="unshifted, shifted, or both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--out", default="experiments/results/functions")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = sorted(set(settings) - {"unshifted", "shifted"}) or ([] if settings else [args.settings])
    if unknown:
        print(f"error: unknown setting {unknown[0]!r}; use unshifted, shifted or both", file=sys.stderr)
        return 2
    for setting in settings:
        out = Path(args.out) / setting
        start = time.perf_counter()
        try:
            result = run_benchmark(
                args.algos, args.problems, args.dim, args.runs, args.evals, args.seed, out,
                shifted=setting == "shifted", jobs=args.jobs, progress=not args.quiet,
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{setting}: {result.ran} runs computed, {result.skipped} resumed, "
              f"{time.perf_counter() - start:.0f} s -> {result.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
