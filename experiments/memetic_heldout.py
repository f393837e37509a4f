"""Memetic settings judged on held-out training tweets: the test split is never used.

Each seed's split is built as ``scpo train apple --exclude-collection-tag`` builds it; a seeded fifth of
its training tweets is set aside as an inner held-out set (never trained on, never used to select
weights), the model trains on the rest and keeps its weights by the validation split, as the CLI does.
The held-out Hit@5 is a measure the selection cannot have fitted: the validation MSE of the weights
kept is the minimum over many candidates on about 40 tweets, biased low, and more so the more the
candidates differ (a uniform population's members start in different basins). Writes
``experiments/results/memetic_heldout.txt``.

    python experiments/memetic_heldout.py --seeds 0,1,2,3,4,5,6,7,8,9
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.anchors_train import parse_seeds, select_runs  # noqa: E402
from scpo.io import atomic_write  # noqa: E402

DEFAULT_OUT = ROOT / "experiments" / "results" / "memetic_heldout.txt"
MEMETIC = {"optimizer": "scpo", "refine": "adam", "pop_size": 16, "max_evals": 400, "refine_members": 1,
           "refine_steps": 15}
RUNS = {
    "adam": {"optimizer": "adam"},
    "memetic, uniform init": MEMETIC,
    "memetic, --init w0 (0.1)": {**MEMETIC, "init": "w0", "init_spread": 0.1},
    "memetic, --init w0 0.3": {**MEMETIC, "init": "w0", "init_spread": 0.3},
    # the refinement schedule (session 6): longer Adam bursts, or a smaller rate, around W0
    "memetic w0, 30 steps": {**MEMETIC, "init": "w0", "init_spread": 0.1, "refine_steps": 30},
    "memetic w0, lr 3e-3": {**MEMETIC, "init": "w0", "init_spread": 0.1, "refine_lr": 3e-3},
    # continued Adam chains (session 7): the population redirects the chains instead of restarting Adam
    "memetic w0, continued": {**MEMETIC, "init": "w0", "init_spread": 0.1, "refine_adam": "continued"},
    "memetic w0, continued, 2 chains": {**MEMETIC, "init": "w0", "init_spread": 0.1, "refine_adam": "continued",
                                        "refine_members": 2},
    "w0, continued, 5 steps": {**MEMETIC, "init": "w0", "init_spread": 0.1, "refine_adam": "continued",
                               "refine_steps": 5},
    "w0, continued, 5 steps, 4 chains": {**MEMETIC, "init": "w0", "init_spread": 0.1, "refine_adam": "continued",
                                         "refine_steps": 5, "refine_members": 4},
    "w0, fresh, 5 steps": {**MEMETIC, "init": "w0", "init_spread": 0.1, "refine_steps": 5},
}


def run_one(data, seed: int, params: dict) -> dict:
    from cli import aligned_scores
    from networks import metrics
    from networks.recommender import HashtagRecommender

    order = np.random.default_rng(1000 + seed).permutation(len(data.train_texts))
    held, kept = order[: len(order) // 5], order[len(order) // 5:]
    model = HashtagRecommender(model="resnet", top_k_tags=10, seed=seed, num_threads=1, **params)
    start = time.perf_counter()
    model.fit([data.train_texts[i] for i in kept], [data.train_tags[i] for i in kept], data.val_texts, data.val_tags)
    seconds = time.perf_counter() - start

    def hit5(texts, Y) -> float:
        return metrics.ranking_metrics(Y, aligned_scores(model, texts, data.tag_names), ks=(5,))["hit@5"]

    return {"held": hit5([data.train_texts[i] for i in held], data.Y_train[held]),
            "val": hit5(data.val_texts, data.Y_val), "val_mse": model.history_.best_loss, "s": seconds,
            "n_held": len(held)}


def main() -> None:
    import features
    from features.torchutil import torch_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated seeds or ranges (0-9)")
    parser.add_argument("--models", default=";".join(list(RUNS)[:4]),
                        help=f"semicolon-separated subset of: {'; '.join(RUNS)} (default: the first four; "
                             "the uniform-init memetic is always run, the baseline of the comparison)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    runs = select_runs(args.models, RUNS, always="memetic, uniform init")
    results: dict[str, list[dict]] = {name: [] for name in runs}
    with torch_threads(1):
        for seed in seeds:
            data = features.build_dataset("apple", top_k=10, train_share=0.8, val_share=0.1, seed=seed,
                                          exclude_collection_tag=True)
            for name, params in runs.items():
                results[name].append(run_one(data, seed, params))
                print(f"seed {seed} {name}: held-out Hit@5 {results[name][-1]['held']:.3f}", file=sys.stderr,
                      flush=True)
    base = results["memetic, uniform init"]
    lines = [f"{'model':<26} {'held Hit@5':>10} {'vs uniform':>10} {'better/worse':>12} {'val Hit@5':>9} "
             f"{'val MSE':>8} {'train s':>7}  held-out Hit@5 per seed"]
    for name, rows in results.items():
        diff = [r["held"] - b["held"] for r, b in zip(rows, base, strict=True)]
        lines.append(f"{name:<26} {np.mean([r['held'] for r in rows]):>10.4f} {np.mean(diff):>+10.4f} "
                     f"{sum(d > 0 for d in diff):>6}/{sum(d < 0 for d in diff):<5} "
                     f"{np.mean([r['val'] for r in rows]):>9.4f} {np.mean([r['val_mse'] for r in rows]):>8.4f} "
                     f"{np.mean([r['s'] for r in rows]):>7.1f}  " + " ".join(f"{r['held']:.3f}" for r in rows))
    held = sorted({r["n_held"] for r in base})
    header = ["# memetic settings on held-out training tweets (apple, collection tag excluded, top-10, 1 thread)",
              f"# date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}; "
              f"nproc {os.cpu_count()}",
              f"# command: python experiments/memetic_heldout.py --seeds {args.seeds}"
              + ("" if list(runs) == list(RUNS)[:4] else f" --models '{';'.join(runs)}'")
              + ("" if args.out == DEFAULT_OUT else f" --out {os.path.relpath(args.out.resolve(), ROOT)}"),
              "# training: 4/5 of each split's training tweets; selection: the validation split; "
              f"held out: the other 1/5 ({held[0]}-{held[-1]} tweets per seed); the test split is not used", ""]
    text = "\n".join(header + lines) + "\n"
    print(text)
    atomic_write(args.out, lambda tmp: tmp.write_text(text))


if __name__ == "__main__":
    main()
