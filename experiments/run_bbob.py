"""REPORT part 1b: the optimizers and nevergrad's peers on COCO's BBOB suite (coco-experiment).

Default setting (``--setting report``, a short one, about 12 CPU minutes on one core): functions
f1-f24, d = 5 and 10, instances 1-3, one run per instance, budget 300 x d evaluations; our SCPO
(published and ``variant=invariant``), SCA (both), PSO, DE, CMA-ES and random search, and nevergrad's
PSO, CMA and TwoPointsDE. It is shorter than the field's setting: nevergrad's one-candidate ask/tell
costs 1-2 ms per evaluation here, so the peers alone would need hours at that size. CMA-ES's default
population is cma's ``4 + floor(3 ln d)`` since issue 26; ``experiments/results/bbob`` was run before
it, with 30.

``--setting full`` (issue 30 item 3): the field's setting for our algorithms alone: d = 2, 3, 5, 10,
20, 40, instances 1-15, budget 10^4 x d, every algorithm with the engine's IPOP restarts
(``name:restarts=ipop``; random search as it is, it has nothing to restart), SCPO, SCA and PO on the
numba backend (measured faster or equal at d = 5 and 40; the invariant variants have no numba
implementation and stay on numpy), into ``experiments/results/bbob_full``;
optionally with ``--no-coco`` (the numpy functions of ``scpo.bbob_functions`` on large calls: same rows,
no COCO data; see the estimate for what it saves). ``--estimate`` runs nothing of the setting: it
times one run per dimension per algorithm with each evaluator and writes the estimated core-hours to
``experiments/results/bbob_full_cost.md``.

    python experiments/run_bbob.py                       # the report's setting (resumable)
    python experiments/run_bbob.py --setting full --no-coco --jobs 2           # the full setting (hours)
    python experiments/run_bbob.py --setting full --estimate                   # its cost, measured
    python experiments/run_bbob.py --functions 1,15 --dims 2 --budget-multiplier 50 --out /tmp/bbob_smoke

Writes ``<out>/results.csv``, ``ecdf.png``, ``summary.md`` (see ``scpo.bbob``).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from scpo.bbob import DIMS, Task, budget_of, execute, is_peer, parse_ints, resolve_entries, run_bbob
from scpo.benchmark import run_seed

ALGORITHMS = ["scpo", "scpo:variant=invariant", "sca", "sca:variant=invariant", "pso", "de", "cmaes", "random",
              "ng:PSO", "ng:CMA", "ng:TwoPointsDE"]
FULL_ALGORITHMS = ["scpo:restarts=ipop:backend=numba", "scpo:variant=invariant:restarts=ipop",
                   "sca:restarts=ipop:backend=numba", "sca:variant=invariant:restarts=ipop",
                   "po:restarts=ipop:backend=numba", "pso:restarts=ipop", "de:restarts=ipop", "cmaes:restarts=ipop",
                   "random"]
SETTINGS = {
    "report": {"functions": "1-24", "dims": "5,10", "instances": "1-3", "budget_multiplier": 300.0,
               "algos": ",".join(ALGORITHMS), "out": "experiments/results/bbob"},
    "full": {"functions": "1-24", "dims": ",".join(map(str, DIMS)), "instances": "1-15", "budget_multiplier": 1e4,
             "algos": ",".join(FULL_ALGORITHMS), "out": "experiments/results/bbob_full"},
}
COST_FILE = Path("experiments/results/bbob_full_cost.md")
COST_FUNCTION = 15  # the run timed per (algorithm, dim): rotated Rastrigin, a mid-cost function
COST_ROWS = 64  # rows per call when timing the 24 functions' evaluation alone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="report",
                        help="the defaults of the options below (default: report)")
    parser.add_argument("--functions")
    parser.add_argument("--dims")
    parser.add_argument("--instances")
    parser.add_argument("--budget-multiplier", type=float)
    parser.add_argument("--runs", type=int, default=1, help="runs per instance (default 1, as COCO)")
    parser.add_argument("--algos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out")
    parser.add_argument("--no-coco", action="store_true",
                        help="evaluate with scpo.bbob_functions (numpy) instead of cocoex; no COCO data")
    parser.add_argument("--estimate", action="store_true",
                        help="run nothing of the setting: time one run per dimension per algorithm with each "
                             f"evaluator and write the estimated core-hours to {COST_FILE}")
    parser.add_argument("--cost-file", type=Path, default=COST_FILE, help="where --estimate writes")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    for key, value in SETTINGS[args.setting].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    start = time.perf_counter()
    try:
        if args.estimate:
            text = estimate(args, " ".join(["python", "experiments/run_bbob.py", *(sys.argv[1:] if argv is None
                                                                                     else argv)]))
            print(text)
            from scpo.io import write_text

            write_text(args.cost_file, text)
            print(f"-> {args.cost_file}")
            return 0
        result = run_bbob(args.algos, args.functions, args.dims, args.instances, args.budget_multiplier,
                          runs=args.runs, seed=args.seed, out_dir=args.out, jobs=args.jobs,
                          progress=not args.quiet, coco=not args.no_coco)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"bbob: {result.ran} runs computed, {result.skipped} resumed, {time.perf_counter() - start:.0f} s "
          f"-> {result.summary}")
    return 0


# ---------------------------------------------------------------------------- cost estimate


def cpu_seconds(call, minimum: float = 0.05) -> float:
    """CPU seconds of one ``call()`` (repeated until ``minimum`` seconds, best of three): CPU time, not wall
    time, so that other processes on the machine do not inflate it."""
    best = math.inf
    for _ in range(3):
        count, begin = 0, time.process_time()
        while True:
            call()
            count += 1
            spent = time.process_time() - begin
            if spent >= minimum:
                break
        best = min(best, spent / count)
    return best


def row_costs(dims, coco: bool) -> dict[int, dict[int, float]]:
    """CPU seconds per evaluated row, per dim and function, on calls of ``COST_ROWS`` rows."""
    from scpo.bbob import coco_function

    rng = np.random.default_rng(0)
    costs: dict[int, dict[int, float]] = {}
    for d in dims:
        X = rng.uniform(-5, 5, (COST_ROWS, d))
        costs[d] = {}
        for f in range(1, 25):
            function, _ = coco_function(f, d, 1, coco)
            costs[d][f] = cpu_seconds(lambda function=function, X=X: function(X)) / COST_ROWS
    return costs


def estimate(args, command: str) -> str:
    """One run per (algorithm, dim) on f15 with each evaluator (CPU seconds), corrected to the 24 functions'
    mean evaluation cost, times functions x instances x runs: the setting's core-hours."""
    functions = parse_ints(args.functions, "function", allowed=range(1, 25))
    dims = parse_ints(args.dims, "dimension", allowed=DIMS)
    instances = parse_ints(args.instances, "instance", minimum=1, maximum=10_000)
    specs = [s for s in resolve_entries(args.algos) if not is_peer(s)]
    per_cell = len(functions) * len(instances) * args.runs
    lines = [f"# Cost of the BBOB setting `--setting {args.setting}`", "",
             f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} "
             f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
             f"{os.getloadavg()[0]:.1f} at the start), numpy {np.__version__}.", "",
             f"Command: `{command}`", "",
             f"Setting: functions {args.functions}, dims {args.dims}, instances {args.instances}, {args.runs} run(s), "
             f"budget {args.budget_multiplier:g} x d, {len(specs)} algorithms: {per_cell} runs per "
             "(algorithm, dim).", "",
             f"Method: one run per (algorithm, dim) on f{COST_FUNCTION} instance 1 at the full budget, with each "
             "evaluator (cocoex.BareProblem; scpo.bbob_functions, `--no-coco`), in CPU seconds (process time, "
             "so that the other processes on the machine do not count); its evaluation part is then moved from "
             f"f{COST_FUNCTION}'s cost per row to the mean over the 24 functions (each timed on calls of "
             f"{COST_ROWS} rows): run(f) = run(f{COST_FUNCTION}) + budget x (mean row cost - f{COST_FUNCTION}'s), "
             f"times {per_cell} runs. One core per run; `--jobs N` divides the wall time by up to N.", ""]
    costs = {coco: row_costs(dims, coco) for coco in (True, False)}
    lines += ["## Evaluation alone: CPU microseconds per row (mean over the 24 functions; f15)", "",
              "| d | cocoex | numpy (--no-coco) | speed-up |", "|---:|---:|---:|---:|"]
    for d in dims:
        c, n = np.mean(list(costs[True][d].values())), np.mean(list(costs[False][d].values()))
        lines.append(f"| {d} | {c * 1e6:.2f} ({costs[True][d][COST_FUNCTION] * 1e6:.2f}) | {n * 1e6:.2f} "
                     f"({costs[False][d][COST_FUNCTION] * 1e6:.2f}) | {c / n:.1f}x |")
    totals = {True: 0.0, False: 0.0}
    table = ["", "## One run per (algorithm, dim): CPU seconds of the f15 run, cocoex / numpy", "",
             "| algorithm | " + " | ".join(f"d={d}" for d in dims) + " | core-hours cocoex | core-hours numpy |",
             "|---|" + "---:|" * (len(dims) + 2)]
    for spec in specs:
        cells, hours = [], {True: 0.0, False: 0.0}
        for d in dims:
            budget = budget_of(args.budget_multiplier, d)
            measured = {}
            for coco in (True, False):
                task = Task(spec, COST_FUNCTION, d, 1, 0, run_seed(args.seed, f"bbob_f015_i01_d{d:02d}", 0))
                execute(task, 500 / d + 1, None, coco)  # warm-up (numba's compilation, caches)
                begin = time.process_time()
                execute(task, args.budget_multiplier, None, coco)
                measured[coco] = time.process_time() - begin
                mean = np.mean(list(costs[coco][d].values()))
                per_run = max(measured[coco] + budget * (mean - costs[coco][d][COST_FUNCTION]), 0.0)
                hours[coco] += per_run * per_cell / 3600
            cells.append(f"{measured[True]:.2f} / {measured[False]:.2f}")
            print(f"  {spec.label} d={d}: {measured[True]:.2f} s cocoex, {measured[False]:.2f} s numpy",
                  file=sys.stderr, flush=True)
        for coco in (True, False):
            totals[coco] += hours[coco]
        table.append(f"| {spec.label} | " + " | ".join(cells) + f" | {hours[True]:.1f} | {hours[False]:.1f} |")
    lines += table
    lines += ["", f"**Estimated total: {totals[True]:.1f} core-hours with cocoex, {totals[False]:.1f} with the "
              f"numpy functions (`--no-coco`)**, {totals[True] / max(totals[False], 1e-12):.2f}x; on this machine's "
              f"{os.cpu_count()} cores (`--jobs {os.cpu_count()}`), about {totals[False] / (os.cpu_count() or 1):.1f} "
              "hours of wall time with `--no-coco` if nothing else runs.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
