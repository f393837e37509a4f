"""What each model recommends for a handful of realistic tweets, off-topic ones included (issue #31).

Trains every model that needs no download on one corpus as a user does (``scpo train SOURCE --model M
--out DIR``, seed 0, top 10 tags) and asks each saved model for its tags with their scores
(``scpo recommend --model DIR --input FILE --format json``). Prints one markdown table per model and
writes it to ``experiments/results/recommend_examples.md`` (atomically) with the date and machine.

    python experiments/recommend_examples.py                  # Apple
    python experiments/recommend_examples.py --exclude-collection-tag \
        --out experiments/results/recommend_examples_no_aapl.md   # without #aapl, which every model ranks first
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scpo.io import write_text  # noqa: E402

SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or "scpo"
TWEETS = {
    "apple": [
        "Just got the new iPhone and the camera is amazing",
        "Apple stock is down 3% after earnings, time to buy?",
        "My MacBook battery died again, thanks Apple",
        "Tim Cook announcing the new iOS at WWDC today",
        "What a beautiful sunset at the beach tonight",  # off-topic
        "Running my first marathon tomorrow, wish me luck",  # off-topic
    ],
    "avengers": [
        "Endgame made me cry three times, what a finale",
        "Iron Man's last scene was perfect",
        "Tickets for opening night sold out in minutes",
        "Thanos deserved a better ending",
        "What a beautiful sunset at the beach tonight",  # off-topic
        "Running my first marathon tomorrow, wish me luck",  # off-topic
    ],
}
MODELS = {  # label -> scpo train arguments
    "frequency": ["--model", "frequency"],
    "tfidf-lr": ["--model", "tfidf-lr"],
    "fasttext": ["--model", "fasttext"],
    "resnet (Adam)": ["--model", "resnet", "--optimizer", "adam"],
    "resnet (SCPO, 3000 evaluations)": ["--model", "resnet", "--optimizer", "scpo", "--evals", "3000"],
}


def scpo(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([SCPO, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scpo {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="apple", choices=sorted(TWEETS))
    parser.add_argument("--k", type=int, default=3, help="tags shown per tweet")
    parser.add_argument("--exclude-collection-tag", action="store_true", help="drop the corpus's query tag (#aapl)")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "recommend_examples.md")
    args = parser.parse_args()
    excluded = ["--exclude-collection-tag"] if args.exclude_collection_tag else []
    kept = "excluded" if excluded else "kept"
    command = " ".join(["python experiments/recommend_examples.py --source", args.source, *excluded])
    lines = [f"# What each model recommends on {args.source} (seed 0, top 10 tags, collection tag {kept})", "",
             f"{datetime.date.today()}, {platform.platform()}, {os.cpu_count()} cpus. "
             f"Command: `{command}`. The last two tweets are "
             "off-topic: a model that gives them a high score for a tag is overconfident there "
             "(`scpo recommend --min-score` lets a user abstain).", ""]
    with tempfile.TemporaryDirectory() as work:
        tweets = Path(work) / "tweets.txt"
        tweets.write_text("\n".join(TWEETS[args.source]) + "\n")
        for label, train_args in MODELS.items():
            started = time.perf_counter()
            model_dir = Path(work) / label.split()[0].replace("/", "-")
            scpo("train", args.source, *train_args, *excluded, "--top-k", "10", "--seed", "0", "--out", str(model_dir),
                 "--force", "--json", str(Path(work) / "m.json"), "--no-progress")
            report = json.loads((Path(work) / "m.json").read_text())
            shown = json.loads(scpo("recommend", "--model", str(model_dir), "--input", str(tweets), "--format", "json",
                                    "--k", str(args.k)).stdout)
            took = time.perf_counter() - started
            lines += [f"## {label}", "",
                      f"Test P@1 {report['metrics']['p@1']:.3f} (frequency floor "
                      f"{report['frequency_metrics']['p@1']:.3f}); trained and asked in {took:.0f} s.", "",
                      "| tweet | tags (score) |", "|---|---|"]
            for entry in shown:
                tags = ", ".join(f"#{t['tag']} {t['score']:.3f}" for t in entry["tags"]) or "(none)"
                lines.append(f"| {entry['text']} | {tags} |")
            lines.append("")
            print(f"{label}: done in {took:.0f} s", file=sys.stderr)
    text = "\n".join(lines)
    write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
