"""`scpo train --seeds N`: one run per seed, each metric's mean and 95 % t-interval over seeds for the model,
the frequency floor and their paired difference (issue 31, item 10)."""
import json
import os
import random

import numpy as np
import pytest
from scipy import stats

WORDS = {"iphone": "screen battery camera ios", "android": "pixel galaxy google play",
         "mac": "laptop macbook m2 keyboard", "ipad": "tablet pencil drawing ipados"}


def corpus(path) -> None:
    """About 80 tweets, one of four topics each, topic words (often another topic's) mixed with shared filler:
    neither the model nor the floor is perfect, so the metrics spread over seeds. A seeded generator."""
    rng = random.Random(7)
    filler = "love new today great buy really".split()
    rows = ["text"]
    for i in range(80):
        tag = list(WORDS)[i % 4] if rng.random() < 0.8 else "iphone"
        words = [rng.choice(WORDS[tag if rng.random() < 0.5 else rng.choice(list(WORDS))].split()) for _ in range(2)]
        words += rng.sample(filler, 3)
        rows.append(f'"{" ".join(words)} #{tag}"')
    path.write_text("\n".join(rows) + "\n")


def invoke(*args, cwd):
    from typer.testing import CliRunner

    from cli import app

    here = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds")
    corpus(folder / "t.csv")
    done = invoke("train", "t.csv", "--model", "tfidf-lr", "--seeds", "3", "--seed", "4", "--train-share", "0.6",
                  "--json", "r.json", "--top-k", "10", cwd=folder)
    assert done.exit_code == 0, (done.stdout, done.stderr)
    return json.loads((folder / "r.json").read_text()), done


def test_seeds_runs_and_means(three_seeds):
    result, done = three_seeds
    assert result["seeds"] == [4, 5, 6] and [run["seed"] for run in result["runs"]] == [4, 5, 6]
    assert len({json.dumps(run["metrics"]) for run in result["runs"]}) > 1  # the seeds reach the split
    for section, label in (("model", "metrics"), ("frequency", "frequency_metrics")):
        for key in ("p@1", "micro_f1@top1", "ndcg@3"):
            assert result["summary"][section][key]["mean"] == pytest.approx(
                np.mean([run[label][key] for run in result["runs"]]))
    assert sum("seed " in line and "ETA" in line for line in done.stderr.splitlines()) == 3  # progress per seed
    printed = [line for line in done.stdout.splitlines() if "difference" in line]
    assert [line.split(":")[0].strip() for line in printed] == ["P@1", "micro-F1", "NDCG@3"]


def test_seeds_t_interval_width(three_seeds):
    result, _ = three_seeds
    t = stats.t.ppf(0.975, 2)
    for section, label in (("model", "metrics"), ("frequency", "frequency_metrics")):
        for key in ("p@1", "ndcg@3"):
            x = np.array([run[label][key] for run in result["runs"]])
            assert x.std() > 0  # a real spread: the width below is not 0 == 0
            cell = result["summary"][section][key]
            assert cell["low"] <= cell["mean"] <= cell["high"]
            assert cell["high"] - cell["low"] == pytest.approx(2 * t * x.std(ddof=1) / np.sqrt(3))


def test_seeds_difference_is_paired(three_seeds):
    result, _ = three_seeds
    t = stats.t.ppf(0.975, 2)
    for key in ("p@1", "micro_f1@top1", "ndcg@3"):
        d = np.array([run["metrics"][key] - run["frequency_metrics"][key] for run in result["runs"]])
        cell = result["summary"]["difference"][key]
        half = t * d.std(ddof=1) / np.sqrt(3)
        assert half > 0
        assert cell["mean"] == pytest.approx(d.mean())
        assert (cell["low"], cell["high"]) == pytest.approx((d.mean() - half, d.mean() + half))


def test_one_seed_has_no_interval(tmp_path):
    corpus(tmp_path / "t.csv")
    done = invoke("train", "t.csv", "--model", "frequency", "--seeds", "1", "--train-share", "0.6", "--json", "-",
                  "--top-k", "10", cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["seeds"] == [0] and len(result["runs"]) == 1
    assert result["summary"]["model"]["p@1"] == {"mean": result["runs"][0]["metrics"]["p@1"], "low": None,
                                                 "high": None}


@pytest.mark.parametrize("extra, says", [(["--seeds", "0"], "--seeds must be at least 1"),
                                         (["--seeds", "2", "--out", "m"], "saves none (--out)")])
def test_seeds_refused_in_one_line(tmp_path, extra, says):
    corpus(tmp_path / "t.csv")
    done = invoke("train", "t.csv", "--model", "frequency", *extra, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.exit_code == 2 and len(lines) == 1 and says in lines[0], (done.stdout, done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


@pytest.mark.parametrize("signal_exc, message, status", [("KeyboardInterrupt", "interrupted", 130),
                                                         ("Terminated", "terminated", 143)])
def test_stop_between_seeds_keeps_the_finished_ones(tmp_path, monkeypatch, signal_exc, message, status):
    import features
    import scpo

    corpus(tmp_path / "t.csv")
    build, calls = features.build_dataset, []

    def stopping(*args, **kwargs):  # Ctrl-C (or SIGTERM) as the third seed starts
        calls.append(kwargs["seed"])
        if len(calls) == 3:
            raise KeyboardInterrupt() if signal_exc == "KeyboardInterrupt" else scpo.observers.Terminated()
        return build(*args, **kwargs)

    monkeypatch.setattr(features, "build_dataset", stopping)
    done = invoke("train", "t.csv", "--model", "frequency", "--seeds", "4", "--train-share", "0.6", "--json", "r.json",
                  "--top-k", "10", cwd=tmp_path)
    assert done.exit_code == status, (done.stdout, done.stderr)
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["message"] == message and result["seeds"] == [0, 1] and len(result["runs"]) == 2
    assert result["summary"]["model"]["p@1"]["mean"] == pytest.approx(
        np.mean([run["metrics"]["p@1"] for run in result["runs"]]))
    assert done.stderr.strip().splitlines()[-1].startswith(f"{message}: finished seeds kept (0, 1)")
