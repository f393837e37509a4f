"""`scpo train-benchmark` (networks/race.py) and the training monitor hook it relies on."""

import csv
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _children import child
from _cli import invoke

from networks.race import OptimizerSpec, parse_optimizers
from networks.resnet import DeepResNet
from networks.training import train_adam, train_population

SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")


# ---------------------------------------------------------------------------- optimizer entries


def test_entries_parse_names_variants_and_continued_options():
    specs = parse_optimizers("adam,scpo:a=3,pop_size=49, snes,adam:lr=0.001,batch_size=32")
    assert [s.label for s in specs] == ["adam", "scpo:a=3,pop_size=49", "snes", "adam:lr=0.001,batch_size=32"]
    assert specs[1].options == {"a": 3, "pop_size": 49} and specs[3].options == {"lr": 0.001, "batch_size": 32}
    assert specs[1].algorithm_options == {"a": 3} and specs[1].trainer_options == {"pop_size": 49}
    assert OptimizerSpec("scpo", {"subspace": 200}).slug == "scpo-subspace=200"
    memetic = parse_optimizers("scpo:refine=adam,init=w0,init_spread=0.2")[0]
    assert memetic.trainer_options == {"refine": "adam", "init": "w0", "init_spread": 0.2}


@pytest.mark.parametrize("text, message", [
    ("adam,bogus", "unknown optimizer 'bogus'"),
    ("adam:refine=adam", "needs a population optimizer"),
    ("cmaes:refine=adam", "refine needs .*cmaes"),
    ("snes:refine_steps=5", "refine needs .*snes"),
    ("scpo:subspace=5000", "exceeds the network's 1000 weights"),
    ("scpo:subspace=0", "must be an integer >= 1"),
    ("scpo:refine=sgd", "the only refine method is adam"),
    ("scpo:nope=1", "unknown option 'nope' of scpo"),
    ("adam:momentum=0.9", "unknown option 'momentum' of adam"),
    ("adam:lr=fast", "must be a number"),
    ("refine=adam,scpo", "follows no 'name:' entry"),
    ("scpo,scpo", "listed twice"),
    ("frequency", "always raced as the reference"),
    (" , ", "no optimizer given"),
])
def test_bad_entries_are_one_line_value_errors(text, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_optimizers(text, n_weights=1000)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------- the monitor hook


def flat_vector(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def _toy(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1).astype(int)]
    return X, Y


@pytest.mark.parametrize("trainer", ["population", "adam"])
def test_monitor_sees_the_kept_weights_every_k_steps_and_its_time_leaves_the_clock(trainer):
    X, Y = _toy()
    calls = []
    pause = 0.15

    def monitor(model, history):
        calls.append((len(history.loss), flat_vector(model).clone(), model.training))
        time.sleep(pause)

    net = DeepResNet(5, 3, seed=0)
    start = time.perf_counter()
    if trainer == "population":
        history = train_population(net, X[:40], Y[:40], algorithm="random", max_evals=12 * 8, pop_size=8,
                                   X_val=X[40:], Y_val=Y[40:], seed=1, monitor=monitor, monitor_every=3)
    else:
        history = train_adam(net, X[:40], Y[:40], epochs=12, batch_size=8, X_val=X[40:], Y_val=Y[40:], seed=1,
                             patience=None, monitor=monitor, monitor_every=3)
    elapsed = time.perf_counter() - start
    assert len(history.loss) == 12
    assert [c[0] for c in calls] == [3, 6, 9, 12]
    assert not any(training for _, _, training in calls)  # eval mode, a copy
    assert torch.equal(calls[-1][1], flat_vector(net))  # the last call saw the weights that were returned
    assert elapsed >= len(calls) * pause
    assert history.time[-1] < elapsed - 0.8 * len(calls) * pause  # the monitor's sleeps are not training time
    assert history.settings["wall_time_s"] < elapsed - 0.8 * len(calls) * pause


def test_monitor_every_must_be_a_positive_integer():
    X, Y = _toy()
    with pytest.raises(ValueError, match="monitor_every"):
        train_adam(DeepResNet(5, 3, seed=0), X, Y, epochs=1, monitor=lambda m, h: None, monitor_every=0)
    with pytest.raises(ValueError, match="monitor must be callable"):
        train_population(DeepResNet(5, 3, seed=0), X, Y, algorithm="random", max_evals=16, pop_size=8, monitor=3)


# ---------------------------------------------------------------------------- the command


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_train_benchmark_writes_three_files_resumes_and_refuses_other_settings(small_tweets, tmp_path):
    args = ["train-benchmark", small_tweets, "--optimizers", "adam,scpo,snes", "--seeds", "2", "--evals", "200",
            "--epochs", "2", "--top-k", "3", "--out", "tb", "--quiet"]
    done = invoke(*args, cwd=tmp_path)  # in-process: the command in a process of its own is the Ctrl-C test's
    assert done.exit_code == 0, done.output
    out = tmp_path / "tb"
    assert {"results.csv", "curves.png", "summary.md", "config.json"} <= {p.name for p in out.iterdir()}
    rows = _rows(out / "results.csv")
    assert sorted((r["optimizer"], r["seed"]) for r in rows) == sorted(
        (o, s) for o in ("frequency", "adam", "scpo", "snes") for s in ("0", "1"))
    for row in rows:
        for metric in ("hit@1", "hit@5", "ndcg@5", "micro_f1", "macro_f1"):
            assert 0.0 <= float(row[metric]) <= 1.0
        trained = row["optimizer"] != "frequency"
        assert (int(row["examples_forwarded"]) > 0) == trained
        assert (int(row["evals"]) > 0) == (row["optimizer"] in ("scpo", "snes"))
        assert (int(row["grad_steps"]) > 0) == (row["optimizer"] == "adam")
    scpo_evals = [int(r["evals"]) for r in rows if r["optimizer"] == "scpo"]
    assert all(150 <= e <= 300 for e in scpo_evals)  # the budget (PO/SCPO round to whole iterations)
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.md").read_text()
    assert "| scpo | 2 |" in summary and "p vs Adam" in summary and "smallest attainable" in summary

    before = (out / "results.csv").read_text()
    lines = before.splitlines()  # drop snes on seed 1: only that row is recomputed
    kept = [line for line in lines if not line.startswith("snes,1,")]
    assert len(kept) == len(lines) - 1
    (out / "results.csv").write_text("\n".join(kept) + "\n")
    again = invoke(*args, cwd=tmp_path)
    assert again.exit_code == 0, again.output
    assert "1 runs computed, 7 resumed" in again.stdout
    assert len(_rows(out / "results.csv")) == 8

    other = invoke(*[a if a != "200" else "300" for a in args], cwd=tmp_path)
    assert other.exit_code == 2 and other.stderr.count("\n") == 1 and "evals=200" in other.stderr


@pytest.mark.parametrize("optimizers, message", [
    ("adam,bogus", "unknown optimizer 'bogus'"),
    ("adam:refine=adam", "needs a population optimizer"),
    ("scpo:subspace=100000", "exceeds the network's"),
])
def test_bad_optimizers_exit_2_with_one_line_before_any_work(tmp_path, optimizers, message):
    done = invoke("train-benchmark", "apple", "--optimizers", optimizers, "--out", "tb", cwd=tmp_path)
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert not (tmp_path / "tb").exists()


def test_ctrl_c_exits_130_and_keeps_finished_rows(small_tweets, tmp_path):
    args = [SCPO, "train-benchmark", small_tweets, "--optimizers", "adam,scpo", "--seeds", "1", "--evals", "100000",
            "--epochs", "2", "--top-k", "3", "--out", "tb", "--quiet"]  # Adam's row at once; scpo runs to the stop
    results = tmp_path / "tb" / "results.csv"
    with child(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as victim:
        deadline = time.time() + 90
        while time.time() < deadline and not (results.exists() and len(results.read_text().splitlines()) >= 3):
            time.sleep(0.2)  # header, frequency and adam: scpo is training now
        victim.send_signal(signal.SIGINT)
        _, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    assert "finished runs kept" in err
    assert [r["optimizer"] for r in _rows(results)] == ["frequency", "adam"]


def test_report_part4_computes_its_findings_from_the_race_files(apple_corpus, tmp_path):
    from networks.race import run_race

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from experiments import report

    folder = tmp_path / "results" / "race" / "apple"
    result = run_race("apple", "adam,random,scpo", seeds=1, evals=100, epochs=2, top_k=3, out_dir=folder,
                      progress=False)
    (folder / "not_run.json").write_text('{"scpo:refine=adam": "unexpected keyword"}')
    text = report.render(tmp_path / "results")
    part = text[text.index("## 4. The open race against Adam"):]
    adam = float(np.median([r["hit@5"] for r in result.rows if r["optimizer"] == "adam"]))
    assert f"Adam's median test Hit@5 is {adam:.3f}" in part
    assert "Fewer seeds than the issue's 5: 1" in part
    assert "**Not run:** `scpo:refine=adam` (unexpected keyword)" in part
    assert "SCPO ranks" in part and "Against random search" in part
    assert "### avengers: not run" in part
    assert "Race against Adam, apple (1 seeds)" in text
