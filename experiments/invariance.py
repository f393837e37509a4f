"""Issue #17's check of variant="invariant": sphere d = 30, 15,000 evaluations, 8 seeds, unshifted and shifted.

For SCA and SCPO with their published moves and with ``variant="invariant"``: the median best
fitness over seeds 0-7 on the registry's sphere, unshifted and shifted (``problems.get(...,
shifted=True, seed=s)``: optimum moved off the origin, same box), and their ratio. Writes
``experiments/results/invariance.csv`` (one row per run) and ``invariance.md`` (the table);
the README's Fidelity section and REPORT part 1b quote them.

    python experiments/invariance.py
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scpo  # noqa: E402
from scpo import problems  # noqa: E402
from scpo.io import write_text  # noqa: E402

HERE = Path(__file__).resolve().parent
CONFIGS = [("sca", "published"), ("sca", "invariant"), ("scpo", "derived"), ("scpo", "invariant")]
DIM, EVALS, SEEDS = 30, 15_000, range(8)


def measure() -> list[dict]:
    rows = []
    for algorithm, variant in CONFIGS:
        for shifted in (False, True):
            for seed in SEEDS:
                result = scpo.minimize(problems.get("sphere", DIM, shifted=shifted, seed=seed), algorithm=algorithm,
                                       max_evals=EVALS, seed=seed, variant=variant)
                rows.append({"algorithm": algorithm, "variant": variant, "shifted": shifted, "seed": seed,
                             "best_fitness": result.fun, "nfev": result.nfev})
    return rows


def table(rows: list[dict]) -> str:
    lines = [f"Sphere, d = {DIM}, {EVALS} evaluations, seeds {SEEDS[0]}-{SEEDS[-1]}: median best fitness.", "",
             "| algorithm | variant | unshifted | shifted | shifted / unshifted |", "|---|---|---:|---:|---:|"]
    for algorithm, variant in CONFIGS:
        med = [np.median([float(r["best_fitness"]) for r in rows if r["algorithm"] == algorithm
                          and r["variant"] == variant and str(r["shifted"]) == str(s)]) for s in (False, True)]
        lines.append(f"| {algorithm} | {variant} | {med[0]:.2e} | {med[1]:.2e} | {med[1] / med[0]:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    rows = measure()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(args.out / "invariance.csv", buffer.getvalue())
    write_text(args.out / "invariance.md", table(rows))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
