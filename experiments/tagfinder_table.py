"""The TagFinder study's Table 5 layout: baselines (and the SCPO / Adam ResNet) on Apple and Avengers.

Rows are models; columns are micro / macro F1 at top-1, NDCG@3/5/10 and MAP@3/5/10 in the standard
definition and in the TagFinder study's non-standard one (`tagfinder_*`, SPEC section 3: for
comparison only). One table per corpus and leakage mode, mean +- std over seeded splits.
Rows in `tagfinder` leakage mode keep mid-text hashtags as words and are labelled as leaking.

    .venv/bin/python experiments/tagfinder_table.py [--datasets apple,avengers] [--leakage strict,tagfinder]
        [--models frequency,tfidf-lr,fasttext,lstm,text-resnet,scpo-resnet,adam-resnet] [--seeds 5]
        [--epochs 5] [--skip avengers:text-resnet] [--bert-dir DIR] [--out experiments/results/tagfinder_table.md]

Writes the markdown table to `--out` and the per-seed rows to the same path with `.csv`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import math
import os
import platform
import shlex
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import build_dataset  # noqa: E402
from networks.metrics import classification_metrics, ranking_metrics  # noqa: E402
from scpo.io import write_text  # noqa: E402

KS = (3, 5, 10)
COLUMNS: list[tuple[str, str]] = [
    ("micro_f1@top1", "F1 micro"),
    ("macro_f1@top1", "F1 macro"),
    *[(f"ndcg@{k}", f"NDCG@{k}") for k in KS],
    *[(f"map@{k}", f"MAP@{k}") for k in KS],
    *[(f"tagfinder_ndcg@{k}", f"TF-NDCG@{k}") for k in KS],
    *[(f"tagfinder_map@{k}", f"TF-MAP@{k}") for k in KS],
]
BASELINES = ["frequency", "tfidf-lr", "fasttext", "lstm", "text-resnet"]
RESNET_ROWS = {"scpo-resnet": "scpo", "adam-resnet": "adam"}
DEFAULT_MODELS = [*BASELINES, *RESNET_ROWS]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "tagfinder_table.md"

Scorer = Callable[[object, int], np.ndarray]  # (dataset, seed) -> test scores in dataset.tag_names order


def recommender_status() -> tuple[type | None, str]:
    """`HashtagRecommender` if it imports and has `fit` + `predict_proba`, else None and why."""
    try:
        from networks.recommender import HashtagRecommender
    except Exception as exc:  # noqa: BLE001 - being written concurrently; any failure means "missing"
        return None, f"`from networks.recommender import HashtagRecommender` failed: {type(exc).__name__}: {exc}"
    missing = [m for m in ("fit", "predict_proba") if not callable(getattr(HashtagRecommender, m, None))]
    if missing:
        return None, f"HashtagRecommender lacks {', '.join(missing)}"
    return HashtagRecommender, ""


def baseline_runner(name: str, args: argparse.Namespace) -> Scorer:
    from networks import baselines

    def run(dataset, seed: int) -> np.ndarray:
        params: dict[str, object] = {}
        if name == "bert":
            params["model_dir"] = args.bert_dir
        model = baselines.get(name, **params)
        accepted = model.get_params()
        for key, value in (("epochs", args.epochs), ("seed", seed), ("patience", args.patience)):
            if key in accepted:
                model.set_params(**{key: value})
        if "device" in accepted:
            model.set_params(device="cpu")
        model.fit(dataset.train_texts, dataset.Y_train, dataset.val_texts or None,
                  dataset.Y_val if dataset.val_texts else None)
        return np.asarray(model.predict_proba(dataset.test_texts), dtype=float)

    return run


def resnet_runner(recommender: type, optimizer: str, args: argparse.Namespace) -> Scorer:
    def run(dataset, seed: int) -> np.ndarray:
        params: dict[str, object] = {"model": "resnet", "optimizer": optimizer, "top_k_tags": dataset.n_tags,
                                     "seed": seed, "device": "cpu", "leakage": dataset.leakage}
        if optimizer == "adam":
            params.update(epochs=args.adam_epochs)
        else:
            params.update(max_evals=args.max_evals)
        model = recommender(**params)
        model.fit(dataset.train_texts, dataset.train_tags, dataset.val_texts or None,
                  dataset.val_tags if dataset.val_texts else None)
        raw = np.asarray(model.predict_proba(dataset.test_texts), dtype=float)
        # Its columns follow its own `classes_` (training-frequency order); map them onto ours.
        # A tag of ours it did not keep scores 0 (below every probability it gives).
        scores = np.zeros((len(dataset.test_texts), dataset.n_tags))
        column_of = {tag: j for j, tag in enumerate(model.classes_)}
        for j, tag in enumerate(dataset.tag_names):
            if tag in column_of:
                scores[:, j] = raw[:, column_of[tag]]
        return scores

    return run


def evaluate(Y_test: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    values = {**classification_metrics(Y_test, scores), **ranking_metrics(Y_test, scores, KS)}
    return {key: float(values[key]) for key, _ in COLUMNS}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), (statistics.stdev(finite) if len(finite) > 1 else 0.0)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="apple,avengers", help="comma-separated corpus names")
    parser.add_argument("--leakage", default="strict,tagfinder", help="comma-separated: strict, tagfinder")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated; bert is added when --bert-dir is given")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (split and model seed)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the torch baselines")
    parser.add_argument("--patience", type=int, default=3, help="early-stopping patience of the torch baselines")
    parser.add_argument("--adam-epochs", type=int, default=50, help="epochs of the Adam-trained ResNet")
    parser.add_argument("--max-evals", type=int, default=5000, help="fitness evaluations of the SCPO ResNet")
    parser.add_argument("--top-k", type=int, default=10, help="tags kept per corpus")
    parser.add_argument("--skip", default="", help="comma-separated dataset:model pairs not to run")
    parser.add_argument("--bert-dir", default=None, help="local model directory; adds the bert row")
    parser.add_argument("--data-home", default=None, help="corpus folder (default $SCPO_DATA_HOME, ../shared/data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown output; the CSV goes beside it")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1:
        parser.error("--seeds and --epochs must be >= 1")
    return args


def split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def run_grid(args: argparse.Namespace, log: Callable[[str], None] = print) -> tuple[list[dict], list[str]]:
    """Every (dataset, leakage, model, seed): one per-seed row each; plus notes on what did not run."""
    notes: list[str] = []
    models = split(args.models)
    if args.bert_dir and "bert" not in models:
        models.append("bert")
    if "bert" in models and not args.bert_dir:
        models.remove("bert")
        notes.append("bert: not run (needs --bert-dir pointing to a local model directory).")
    runners: dict[str, Scorer] = {}
    wanted_resnets = [m for m in models if m in RESNET_ROWS]
    recommender, why = recommender_status() if wanted_resnets else (None, "")
    for name in models:
        if name in RESNET_ROWS:
            if recommender is None:
                notes.append(f"{name}: row missing: {why}")
                log(f"{name}: row missing: {why}")
                continue
            runners[name] = resnet_runner(recommender, RESNET_ROWS[name], args)
        elif name in BASELINES or name == "bert":
            runners[name] = baseline_runner(name, args)
        else:
            raise SystemExit(f"unknown model {name!r}; choose from {DEFAULT_MODELS + ['bert']}")
    skip = {tuple(pair.split(":", 1)) for pair in split(args.skip) if ":" in pair}
    for dataset_name, model in sorted(skip):
        notes.append(f"{model} on {dataset_name}: skipped (--skip, to fit the run's time budget).")

    rows: list[dict] = []
    for dataset_name in split(args.datasets):
        for leakage in split(args.leakage):
            for seed in range(args.seeds):
                dataset = build_dataset(dataset_name, top_k=args.top_k, seed=seed, leakage=leakage,
                                        data_home=args.data_home)
                for name, runner in runners.items():
                    if (dataset_name, name) in skip:
                        continue
                    start = time.perf_counter()
                    try:
                        scores = runner(dataset, seed)
                        metrics = evaluate(dataset.Y_test, scores)
                    except Exception as exc:  # noqa: BLE001 - one failing model must not lose the others
                        notes.append(f"{name} on {dataset_name}/{leakage}/seed {seed}: failed: "
                                     f"{type(exc).__name__}: {exc}")
                        log(traceback.format_exc())
                        continue
                    seconds = time.perf_counter() - start
                    rows.append({"dataset": dataset_name, "leakage": leakage, "model": name, "seed": seed,
                                 "n_train": len(dataset.train_texts), "n_test": len(dataset.test_texts),
                                 "fit_seconds": round(seconds, 3), **metrics})
                    log(f"{dataset_name:9s} {leakage:9s} seed {seed} {name:12s} {seconds:7.1f}s  "
                        f"F1mi {metrics['micro_f1@top1']:.3f}  NDCG@5 {metrics['ndcg@5']:.3f}")
    return rows, notes


def summarize(rows: list[dict]) -> dict[tuple[str, str, str], dict[str, tuple[float, float]]]:
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["leakage"], row["model"]), []).append(row)
    return {key: {"seeds": (len(g), 0.0), "fit_seconds": mean_std([r["fit_seconds"] for r in g]),
                  **{col: mean_std([r[col] for r in g]) for col, _ in COLUMNS}}
            for key, g in groups.items()}


def comparisons(summary, datasets: list[str], leakages: list[str]) -> list[str]:
    """Honest statements of how the SCPO ResNet does against TF-IDF + LR (and Adam)."""
    lines = []
    for d in datasets:
        for lk in leakages:
            scpo, tfidf, adam = (summary.get((d, lk, m)) for m in ("scpo-resnet", "tfidf-lr", "adam-resnet"))
            if scpo is None:
                continue
            for other, label in ((tfidf, "TF-IDF + LR"), (adam, "Adam ResNet")):
                if other is None:
                    continue
                lost = [name for col, name in COLUMNS[:8] if scpo[col][0] < other[col][0]]
                where = f"{d}/{lk}"
                if len(lost) == 8:
                    lines.append(f"- **{where}: the SCPO ResNet loses to {label} on every standard column** "
                                 f"(F1 micro {scpo['micro_f1@top1'][0]:.3f} vs {other['micro_f1@top1'][0]:.3f}).")
                elif lost:
                    lines.append(f"- {where}: the SCPO ResNet loses to {label} on {', '.join(lost)}.")
                else:
                    lines.append(f"- {where}: the SCPO ResNet is at or above {label} on every standard column.")
    return lines


def render(args: argparse.Namespace, argv: Sequence[str], rows: list[dict], notes: list[str],
           seconds: float) -> str:
    command = " ".join([".venv/bin/python", "experiments/tagfinder_table.py", *map(shlex.quote, argv)])
    datasets, leakages = split(args.datasets), split(args.leakage)
    summary = summarize(rows)
    out = [
        "# TagFinder Table 5 layout: hashtag recommendation on Apple and Avengers",
        "",
        f"- Command: `{command}`",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {platform.platform()}, os.cpu_count() = {os.cpu_count()}",
        f"- Seeds: 0..{args.seeds - 1} (each seed draws the split and seeds the model); "
        f"torch baselines: {args.epochs} epochs, patience {args.patience}; Adam ResNet: {args.adam_epochs} "
        f"epochs; SCPO ResNet: {args.max_evals} evaluations; top {args.top_k} tags counted on the training split.",
        f"- Wall time: {seconds:.0f} s",
        "- Cells are mean ± std over seeds on the test split. F1 is at top-1. NDCG/MAP are the standard "
        "definitions; TF-NDCG/TF-MAP are the TagFinder study's non-standard ones (ideal DCG from the hits "
        "found; MAP averaged only over tweets with a hit), for comparison only (SPEC §3).",
        "- **Leakage**: rows in `tagfinder` leakage mode keep mid-text hashtags as plain words (the study's "
        "cleaning), so the label can be read off the input: they are labelled `[leaking]` and are not "
        "comparable with the `strict` rows (all `#tag` tokens removed).",
        "",
    ]
    if notes:
        out += ["## Not run / missing", "", *[f"- {n}" for n in notes], ""]
    header = "| Model | " + " | ".join(name for _, name in COLUMNS) + " | fit s |"
    rule = "|" + "---|" * (len(COLUMNS) + 2)
    for d in datasets:
        for lk in leakages:
            keys = [k for k in summary if k[0] == d and k[1] == lk]
            if not keys:
                continue
            tag = " [leaking]" if lk == "tagfinder" else ""
            n_seeds = {int(summary[k]["seeds"][0]) for k in keys}
            out += [f"## {d}, leakage `{lk}`{tag} (seeds per row: {', '.join(map(str, sorted(n_seeds)))})", "",
                    header, rule]
            for k in sorted(keys, key=lambda k: _model_order(k[2])):
                cells = [f"{summary[k][col][0]:.3f} ± {summary[k][col][1]:.3f}" for col, _ in COLUMNS]
                out.append(f"| {k[2]}{tag} | " + " | ".join(cells) + f" | {summary[k]['fit_seconds'][0]:.1f} |")
            out.append("")
    lines = comparisons(summary, datasets, leakages)
    out += ["## SCPO ResNet against the baselines", ""]
    out += lines or ["- No SCPO ResNet row was produced in this run (see above)."]
    out.append("")
    return "\n".join(out)


def _model_order(name: str) -> int:
    order = [*BASELINES, "bert", *RESNET_ROWS]
    return order.index(name) if name in order else len(order)


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    fields = ["dataset", "leakage", "model", "seed", "n_train", "n_test", "fit_seconds", *(c for c, _ in COLUMNS)]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) and k in dict(COLUMNS) else v)
                         for k, v in row.items()})
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> dict:
    """Run, write the markdown and CSV, and return ``{"rows", "notes", "markdown", "out", "csv"}``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    start = time.perf_counter()
    rows, notes = run_grid(args)
    markdown = render(args, argv, rows, notes, time.perf_counter() - start)
    out = Path(args.out)
    csv_path = out.with_suffix(".csv")
    write_text(out, markdown)
    write_text(csv_path, to_csv(rows))
    print(markdown)
    print(f"wrote {out} and {csv_path}")
    return {"rows": rows, "notes": notes, "markdown": markdown, "out": out, "csv": csv_path}


if __name__ == "__main__":
    main()
