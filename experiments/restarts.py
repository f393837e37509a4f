"""Issue 26's restart check: IPOP CMA-ES solves BBOB f15 (rotated Rastrigin, d = 10) to 1e-8 where plain CMA-ES
does not, within 10^5 x d evaluations.

Each run is ``scpo.minimize(algorithm="cmaes", max_evals=10^5 d)`` on COCO's f15 (``scpo.bbob``; box [-5, 5]^d),
stopped at ``target = f_opt + 1e-8``; the objective is a :class:`scpo.bbob.TargetRecorder`, so "evaluations to
1e-8" is the evaluation at which ``f - f_opt <= 1e-8`` was first seen. Variants:

- ``plain``: scpo's default ``cmaes`` (population ``4 + floor(3 ln d)`` = 10; ``cma``'s own criteria restart it at
  the same population from a uniform random point: a restart without population increase);
- ``ipop``: ``restarts="ipop"`` (population doubled at each restart, :mod:`scpo.restarts`);
- ``bipop``: ``restarts="bipop"``.

The table gives, per (instance, seed), the evaluations to 1e-8, or the final error ``f - f_opt`` when not reached
(with the evaluations spent), and the restarts and largest population.

    PYTHONPATH=$PWD python experiments/restarts.py [--instances 1,2,3] [--seeds 0] [--jobs 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

import scpo
from scpo.bbob import LOWER, UPPER, TargetRecorder, coco_function

VARIANTS = {"plain": {}, "ipop": {"restarts": "ipop"}, "bipop": {"restarts": "bipop"}}
PRECISION = 1e-8


def one_run(variant: str, function: int, dim: int, instance: int, seed: int, budget: int) -> dict:
    """One run of ``variant``: evaluations to ``PRECISION`` (or ``None``) and the final error."""
    bare, f_opt = coco_function(function, dim, instance)
    recorder = TargetRecorder(bare, f_opt, budget)
    problem = scpo.Problem(recorder, LOWER, UPPER, dim=dim, vectorized=True, name=str(bare), f_opt=f_opt)
    start = time.perf_counter()
    result = scpo.minimize(problem, algorithm="cmaes", max_evals=budget, seed=seed, target=f_opt + PRECISION,
                           **VARIANTS[variant])
    hit = int(recorder.hits[-1])  # the last target of TargetRecorder is 1e-8
    return {"variant": variant, "instance": instance, "seed": seed, "evals_to_target": hit or None,
            "error": float(result.fun - f_opt), "nfev": int(result.nfev), "restarts": result.get("restarts"),
            "max_pop": max(result.get("restart_pop_sizes") or [result.pop_size]),
            "seconds": time.perf_counter() - start}


def cell(row: dict) -> str:
    if row["evals_to_target"] is not None:
        return f"**{row['evals_to_target']:,}** evals"
    return f"error {row['error']:.3g} ({row['nfev']:,} evals)"


def table(rows: list[dict], variants: list[str]) -> str:
    lines = ["| instance | seed | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
    keys = sorted({(r["instance"], r["seed"]) for r in rows})
    for instance, seed in keys:
        cells = []
        for variant in variants:
            row = next((r for r in rows if (r["variant"], r["instance"], r["seed"]) == (variant, instance, seed)),
                       None)
            if row is None:
                cells.append("not run")
                continue
            extra = f"; {row['restarts']} restarts, pop <= {row['max_pop']}" if row["restarts"] is not None else ""
            cells.append(cell(row) + extra)
        lines.append(f"| {instance} | {seed} | " + " | ".join(cells) + " |")
    solved = [f"{v}: {sum(r['evals_to_target'] is not None for r in rows if r['variant'] == v)}/"
              f"{sum(r['variant'] == v for r in rows)}" for v in variants]
    lines += ["", "Solved to 1e-8: " + ", ".join(solved)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function", type=int, default=15)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--instances", default="1,2,3")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--budget-multiplier", type=float, default=1e5)
    parser.add_argument("--variants", default="plain,ipop,bipop")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--rows", default=None, help="JSON lines of finished runs (appended; a rerun skips them)")
    parser.add_argument("--render-only", action="store_true", help="only the table of the runs in --rows")
    args = parser.parse_args()
    variants = args.variants.split(",")
    budget = int(args.budget_multiplier * args.dim)
    tasks = [(v, args.function, args.dim, int(i), int(s), budget) for v in variants  # plain (longest) first
             for i in args.instances.split(",") for s in args.seeds.split(",")]
    start = time.perf_counter()
    rows = [json.loads(line) for line in open(args.rows)] if args.rows and os.path.exists(args.rows) else []
    done = {(r["variant"], r["instance"], r["seed"]) for r in rows}
    tasks = [t for t in tasks if (t[0], t[3], t[4]) not in done and not args.render_only]  # a killed run continues
    with ProcessPoolExecutor(args.jobs) as pool:
        for future in as_completed([pool.submit(one_run, *task) for task in tasks]):
            rows.append(future.result())
            print(json.dumps(rows[-1]), flush=True)
            if args.rows:  # each finished run kept at once: the table can be rendered from what finished
                with open(args.rows, "a") as handle:
                    handle.write(json.dumps(rows[-1]) + "\n")
    wall = time.perf_counter() - start
    header = [f"# Restarts: BBOB f{args.function}, d = {args.dim}, budget {budget:,} evaluations (10^5 x d)", "",
              f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.node()}, "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared); "
              f"scpo {scpo.__version__}, numpy {np.__version__}; " + ("rendered from --rows" if args.render_only else
              f"{args.jobs} processes, {wall:.0f} s wall for the runs not already in --rows") +
              f", {sum(r['seconds'] for r in rows):.0f} s over all runs.", "",
              "`PYTHONPATH=$PWD python experiments/restarts.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                  if k not in ("out", "rows", "render_only")) + "`", "",
              "Each cell: evaluations until `f - f_opt <= 1e-8` (bold), or the final error and the evaluations "
              "spent. plain: scpo's `cmaes` (population 10; cma's own criteria restart it at the same size); "
              "ipop / bipop: `restarts=`.", ""]
    text = "\n".join(header) + "\n" + table(rows, variants) + "\n\nSeconds per run: " + ", ".join(
        f"{r['variant']} i{r['instance']} s{r['seed']}: {r['seconds']:.0f}" for r in sorted(
            rows, key=lambda r: (r["instance"], r["seed"], variants.index(r["variant"])))) + "\n"
    print(text)
    if args.out:
        from scpo.io import write_text

        write_text(args.out, text)


if __name__ == "__main__":
    main()
