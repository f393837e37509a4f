"""REPORT part 1b: the optimizers and nevergrad's peers on COCO's BBOB suite (coco-experiment).

Default setting (a short one, about 12 CPU minutes on one core): functions f1-f24, d = 5 and 10,
instances 1-3, one run per instance, budget 300 x d evaluations; our SCPO (published and
``variant=invariant``), SCA (both), PSO, DE, CMA-ES and random search, and nevergrad's PSO,
CMA and TwoPointsDE. It is shorter than the issue's setting (d = 5, 10, 20; 15 instances;
10^4 x d): nevergrad's one-candidate ask/tell costs 1-2 ms per evaluation here, so the peers
alone would need hours at that size. CMA-ES's default population is cma's ``4 + floor(3 ln d)``
since issue 26; ``experiments/results/bbob`` was run before it, with 30.

    python experiments/run_bbob.py                       # the report's setting (resumable)
    python experiments/run_bbob.py --functions 1,15 --dims 2 --budget-multiplier 50 --out /tmp/bbob_smoke

Writes ``<out>/results.csv``, ``ecdf.png``, ``summary.md`` (see ``scpo.bbob``).
"""

from __future__ import annotations

import argparse
import sys
import time

from scpo.bbob import run_bbob

ALGORITHMS = ["scpo", "scpo:variant=invariant", "sca", "sca:variant=invariant", "pso", "de", "cmaes", "random",
              "ng:PSO", "ng:CMA", "ng:TwoPointsDE"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", default="1-24")
    parser.add_argument("--dims", default="5,10")
    parser.add_argument("--instances", default="1-3")
    parser.add_argument("--budget-multiplier", type=float, default=300)
    parser.add_argument("--runs", type=int, default=1, help="runs per instance (default 1, as COCO)")
    parser.add_argument("--algos", default=",".join(ALGORITHMS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="experiments/results/bbob")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        result = run_bbob(args.algos, args.functions, args.dims, args.instances, args.budget_multiplier,
                          runs=args.runs, seed=args.seed, out_dir=args.out, jobs=args.jobs,
                          progress=not args.quiet)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"bbob: {result.ran} runs computed, {result.skipped} resumed, {time.perf_counter() - start:.0f} s "
          f"-> {result.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
