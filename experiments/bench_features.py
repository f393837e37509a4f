"""Throughput of KeywordSetFeaturizer.transform next to scikit-learn's TF-IDF on the same tweets.

Goal (issue 4): featurizing the 15,000 Avengers tweets costs at most 3x a
`TfidfVectorizer().fit_transform` pass over the same texts, measured in the same run.
Timings alternate between the two so that load from other processes hits both alike.

    .venv/bin/python experiments/bench_features.py [--repeats 7] [--out experiments/results/bench_features.txt]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sklearn
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import KeywordSetFeaturizer, extract_hashtags, load_tweets  # noqa: E402

GOAL_RATIO = 3.0


def machine_header() -> list[str]:
    """Date, `uname -a`, `nproc` and versions: what a reader needs to compare these numbers."""
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        uname = " ".join(platform.uname())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"uname -a: {uname}",
        f"nproc: {cores}",
        f"load average before run: {load}",
        f"python {platform.python_version()}, torch {torch.__version__} "
        f"(intra-op threads {torch.get_num_threads()}), scikit-learn {sklearn.__version__}",
    ]


def time_alternating(tasks: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each task, run in turn `repeats` times after one warm-up call each."""
    for task in tasks.values():
        task()
    seconds: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats):
        for name, task in tasks.items():
            start = time.perf_counter()
            task()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--data-home", default=None, help="folder with the tweet CSVs (default: shared/data)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    lines = machine_header()
    texts = load_tweets("avengers", data_home=args.data_home)
    tags = [extract_hashtags(text) for text in texts]

    # Warm torch up once, so that the first timed fit does not pay for its one-off initialization.
    KeywordSetFeaturizer(min_steps=1, epochs=1).fit(texts[:100], tags[:100])
    fitted: dict[str, KeywordSetFeaturizer] = {}
    fit_seconds: dict[str, float] = {}
    variants = {
        "f1..f9 (default)": {},
        "f1..f8 (hashing=False)": {"hashing": False},
        "f1..f9 + TF-IDF bag (extended)": {"extended": True},
    }
    for name, settings in variants.items():
        start = time.perf_counter()
        fitted[name] = KeywordSetFeaturizer(random_state=0, **settings).fit(texts, tags)
        fit_seconds[name] = time.perf_counter() - start

    tfidf = "TfidfVectorizer().fit_transform"
    tasks: dict[str, Callable[[], object]] = {tfidf: lambda: TfidfVectorizer().fit_transform(texts)}
    for name, model in fitted.items():
        tasks[f"transform {name}"] = lambda model=model: model.transform(texts)
    seconds = time_alternating(tasks, args.repeats)

    base = statistics.median(seconds[tfidf])
    lines += [
        "",
        f"corpus: avengers, {len(texts)} tweets ({len(set(texts))} distinct texts); "
        f"median of {args.repeats} alternating runs after one warm-up",
        "",
        f"{'pass':<52} {'median s':>9} {'min s':>8} {'tweets/s':>10} {'x TF-IDF':>9}",
    ]
    for name, values in seconds.items():
        median = statistics.median(values)
        lines.append(
            f"{name:<52} {median:>9.3f} {min(values):>8.3f} {len(texts) / median:>10.0f} {median / base:>9.2f}"
        )
    lines.append("")
    for name, value in fit_seconds.items():
        lines.append(f"fit {name}: {value:.2f} s (one run)")
    ratio = statistics.median(seconds["transform f1..f9 (default)"]) / base
    verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
    lines.append(f"goal: default transform <= {GOAL_RATIO:.0f}x the TF-IDF pass -> {ratio:.2f}x, {verdict}")

    report = "\n".join(lines)
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0 if ratio <= GOAL_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
