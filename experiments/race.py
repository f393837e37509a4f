"""REPORT part 4: the open race against Adam (`scpo train-benchmark`) on Apple and Avengers.

Every optimizer trains the same DeepResNet on the same seeded splits (collection tag excluded, top
10 tags), population optimizers with one budget of fitness evaluations, Adam with an epoch cap;
validation loss and Hit@5 are monitored against wall time and examples forwarded.

    .venv/bin/python experiments/race.py [--datasets apple,avengers] [--seeds 5] [--evals 10000]
        [--epochs 200] [--optimizers ...] [--out experiments/results/race] [--quiet]

Writes `<out>/<dataset>/` (results.csv, curves.png, summary.md, curves/, config.json) and
`<out>/<dataset>/not_run.json`: the entries this code base cannot run (options such as `refine` or
`subspace` that `train_population` does not take, "unexpected keyword", or a refine the trainer
refuses for that algorithm, "refine needs ..."), which the report lists as not run, with the reason.
Re-running the same command resumes (finished rows are kept).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from networks.race import N_FEATURES, network_size, parse_optimizer, run_race, split_entries  # noqa: E402
from scpo.io import write_if_changed  # noqa: E402

HERE = Path(__file__).resolve().parent
# The list: "refine with no population" has no train_population setting (population moves cannot be
# switched off), so its limit case is Adam itself; random:refine=adam is the ablation of the refine schedule.
# With continued chains, random search's fresh uniform samples rarely beat a trained chain, so
# random:refine=adam,refine_adam=continued is close to the chains alone: the ablation of SCPO's moves there.
OPTIMIZERS = ("adam,scpo,scpo:refine=adam,scpo:refine=adam,refine_adam=continued,scpo:subspace=200,pso,snes,openai-es,"
              "pgpe,sep-cmaes,random,random:refine=adam,random:refine=adam,refine_adam=continued")
DEFAULT_OUT = HERE / "results" / "race"


def runnable(optimizers: str, top_k: int) -> tuple[list[str], dict[str, str]]:
    """The entries that run here, and the ones skipped with the reason (an option this version lacks)."""
    n_weights = network_size(N_FEATURES, top_k)
    run, skipped = [], {}
    for entry in split_entries(optimizers):
        try:
            run.append(parse_optimizer(entry, n_weights).label)
        except ValueError as exc:
            if "unexpected keyword" not in str(exc) and "refine needs" not in str(exc):
                raise
            skipped[entry] = str(exc)
    return run, skipped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="apple,avengers")
    parser.add_argument("--optimizers", default=OPTIMIZERS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--evals", type=int, default=10000, help="fitness evaluations per population run")
    parser.add_argument("--epochs", type=int, default=200, help="Adam's epoch cap (patience 20)")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        run, skipped = runnable(args.optimizers, args.top_k)
    except ValueError as exc:
        parser.error(str(exc))
    for entry, reason in skipped.items():
        print(f"not run: {entry}: {reason}", file=sys.stderr)
    for dataset in (d.strip() for d in args.datasets.split(",") if d.strip()):
        out = args.out / dataset
        out.mkdir(parents=True, exist_ok=True)
        write_if_changed(out / "not_run.json", json.dumps(skipped, indent=2) + "\n")
        try:
            result = run_race(dataset, run, seeds=args.seeds, evals=args.evals, out_dir=out, epochs=args.epochs,
                              top_k=args.top_k, exclude_collection_tag=True,
                              progress=False if args.quiet else "plain")
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{dataset}: {result.ran} runs computed, {result.skipped} resumed -> {result.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
