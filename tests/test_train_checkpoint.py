"""`scpo train`: checkpoints that resume to the same model, Ctrl-C as a clean stop, progress off a terminal."""

from __future__ import annotations

import json
import os
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

from networks.resnet import DeepResNet
from networks.training import torch_threads, train_adam, train_population

SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")
DATA = Path(os.environ.get("SCPO_DATA_HOME") or Path(__file__).resolve().parents[2] / "shared" / "data")
SMALL = ["apple", "--top-k", "5", "--threads", "1", "--seed", "1"]  # the smaller corpus: each run's fitness pass


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture
def corpus():
    if not (DATA / "apple_twitter_sentiment.csv").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"tweet data missing in CI: {DATA}")
        pytest.skip("tweet data not available")


def blobs(n=80, d=9, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    X = (rng.normal(0, 2.5, (3, d))[labels] + rng.normal(size=(n, d))).astype(np.float32)
    return X, np.eye(3, dtype=np.float32)[labels]


def net():
    return DeepResNet(9, 3, width=4, depth=1, seed=0)


def weights(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- the trainers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("resample", ["fixed", "per-iteration"])
def test_population_run_stopped_and_resumed_equals_the_uninterrupted_run(tmp_path, resample):
    X, Y = blobs()
    settings = dict(algorithm="scpo", max_evals=1200, pop_size=16, batch_size=40, resample=resample,
                    X_val=X[60:], Y_val=Y[60:], seed=3)
    full_net = net()
    full = train_population(full_net, X[:60], Y[:60], **settings)
    ck = tmp_path / "ck"
    stopped = train_population(net(), X[:60], Y[:60], **settings, checkpoint=ck, checkpoint_every=1,
                               callback=lambda h: len(h.loss) >= 9)
    assert len(stopped.loss) == 9 and ck.exists()
    resumed_net = net()
    resumed = train_population(resumed_net, X[:60], Y[:60], **settings, checkpoint=ck, checkpoint_every=1,
                               resume=True)
    assert resumed.settings["resumed_at"] == 9
    assert same(weights(full_net), weights(resumed_net))
    for key in ("loss", "val_loss", "evals", "samples"):
        assert getattr(resumed, key) == getattr(full, key), key
    assert (resumed.best_loss, resumed.best_iteration, resumed.initial_loss) == (
        full.best_loss, full.best_iteration, full.initial_loss)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "ck.history"]


def test_adam_run_stopped_and_resumed_equals_the_uninterrupted_run(tmp_path):
    X, Y = blobs()
    settings = dict(epochs=12, lr=0.02, batch_size=16, X_val=X[60:], Y_val=Y[60:], seed=2)
    full_net = net()
    full = train_adam(full_net, X[:60], Y[:60], **settings)
    ck = tmp_path / "adam.ck"
    train_adam(net(), X[:60], Y[:60], **settings, checkpoint=ck, checkpoint_every=2,
               callback=lambda h: len(h.loss) >= 5)
    resumed_net = net()
    resumed = train_adam(resumed_net, X[:60], Y[:60], **settings, checkpoint=ck, resume=True)
    assert resumed.settings["resumed_at"] == 5
    assert same(weights(full_net), weights(resumed_net))
    for key in ("loss", "val_loss", "evals", "samples"):
        assert getattr(resumed, key) == getattr(full, key), key
    assert resumed.best_iteration == full.best_iteration and resumed.settings["steps"] == full.settings["steps"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adam.ck"]
    assert b"pickle" not in ck.read_bytes()[:64] and ck.read_bytes()[8:9] == b"{"  # safetensors: JSON header


def test_a_checkpoint_of_other_data_or_settings_is_refused_naming_the_difference(tmp_path):
    X, Y = blobs()
    ck, ack = tmp_path / "ck", tmp_path / "ack"
    train_population(net(), X, Y, algorithm="sca", max_evals=160, pop_size=16, seed=0, checkpoint=ck)
    train_adam(net(), X, Y, epochs=2, seed=0, checkpoint=ack)
    X2 = X.copy()
    X2[0, 0] += 1
    with pytest.raises(ValueError, match="another training run: the data differ"):
        train_population(net(), X2, Y, algorithm="sca", max_evals=160, pop_size=16, seed=0, checkpoint=ck,
                         resume=True)
    with pytest.raises(ValueError, match="another training run: max_evals=160 there, 320 here"):
        train_population(net(), X, Y, algorithm="sca", max_evals=320, pop_size=16, seed=0, checkpoint=ck,
                         resume=True)
    with pytest.raises(ValueError, match="another training run: lr=0.01 there, 0.02 here"):
        train_adam(net(), X, Y, epochs=2, lr=0.02, seed=0, checkpoint=ack, resume=True)
    with pytest.raises(ValueError, match="another training run: the data differ"):
        train_adam(net(), X2, Y, epochs=2, seed=0, checkpoint=ack, resume=True)
    with pytest.raises(ValueError, match="not an Adam training checkpoint|not a readable Adam"):
        train_adam(net(), X, Y, epochs=2, seed=0, checkpoint=ck, resume=True)
    with pytest.raises(ValueError, match="checkpoint"):
        train_population(net(), X, Y, algorithm="sca", max_evals=160, pop_size=16, seed=0, checkpoint=ack,
                         resume=True)
    with pytest.raises(ValueError, match="resume needs a checkpoint"):
        train_adam(net(), X, Y, epochs=2, resume=True)


# ---- the command line --------------------------------------------------------------------------------


def scpo_train(*args, cwd, **kw):
    assert SCPO, "the scpo console script is not installed (pip install -e .)"
    return subprocess.run([SCPO, "train", *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kw)


def test_checkpoint_flags_are_checked_before_any_work(tmp_path):
    for args, words in ((["--checkpoint", "ck", "--checkpoint-every", "0"], "--checkpoint-every"),
                        (["--resume"], "--resume needs --checkpoint"),
                        (["--model", "frequency", "--checkpoint", "ck"], "--model resnet only")):
        bad = scpo_train("apple", *args, cwd=tmp_path)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "ck").exists()


def test_sigkilled_train_resumes_to_the_same_weights_and_metrics(tmp_path, corpus):
    # pop 16: 30 short iterations, a checkpoint after each; only the killed run needs a process of its own,
    # the uninterrupted and the resumed runs are the same command in-process
    args = [*SMALL, "--optimizer", "scpo", "--pop", "16", "--evals", "480", "--out", "m"]
    full = invoke("train", *args, "--json", "full.json", cwd=tmp_path)
    assert full.exit_code == 0, full.output
    (tmp_path / "m").rename(tmp_path / "full")
    ck = ["--checkpoint", "ck", "--checkpoint-every", "1", "--json", "out.json"]
    with child([SCPO, "train", *args, *ck], cwd=tmp_path, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL) as victim:
        deadline = time.time() + 60
        while not (tmp_path / "ck").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.25)  # a few iterations past the first checkpoint, well before the end of training
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    assert not (tmp_path / "out.json").exists(), "run finished before the kill: make it longer"
    resumed = invoke("train", *args, *ck, "--resume", cwd=tmp_path)
    assert resumed.exit_code == 0, resumed.output
    assert "resumed from ck at iteration" in resumed.stderr
    expected = json.loads((tmp_path / "full.json").read_text())
    got = json.loads((tmp_path / "out.json").read_text())
    cost, expected_cost = got.pop("training"), expected.pop("training")  # wall time and resumed_at differ
    assert all(cost[k] == expected_cost[k] for k in ("evals", "grad_steps", "samples")), (cost, expected_cost)
    assert got == expected and got["message"] == "budget spent"
    assert (tmp_path / "m" / "weights.safetensors").read_bytes() == (tmp_path / "full" / "weights.safetensors"
                                                                     ).read_bytes()


@pytest.mark.parametrize("optimizer, unit", [("scpo", "evals"), ("adam", "epochs")])
def test_ctrl_c_stops_train_cleanly_after_plain_progress_lines(tmp_path, small_tweets, optimizer, unit):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [small_tweets, *SMALL[1:], "--optimizer", optimizer, "--evals", "10000000", "--epochs", "100000",
            "--out", "m", "--json", "m.json", "--checkpoint", "ck"]
    with child([SCPO, "train", *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True, env=env) as victim:
        first = victim.stderr.readline()  # stderr is a pipe: plain progress lines, the first at once
        total = "10000000" if optimizer == "scpo" else "100000"
        assert f"/{total} {unit}  best " in first and "\r" not in first, first
        victim.send_signal(signal.SIGINT)
        out, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["message"] == "interrupted" and 0 <= report["metrics"]["p@1"] <= 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted at ") and "m.json" in last and "Traceback" not in err, err
    assert (tmp_path / "m" / "weights.safetensors").exists() and (tmp_path / "ck").exists()
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left


def test_a_second_ctrl_c_exits_train_at_once_without_half_written_files(tmp_path, small_tweets):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [small_tweets, *SMALL[1:], "--optimizer", "scpo", "--evals", "10000000", "--out", "m", "--json", "m.json",
            "--checkpoint", "ck", "--checkpoint-every", "1"]
    with child([SCPO, "train", *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True, env=env) as victim:
        assert "evals  best" in victim.stderr.readline()
        victim.send_signal(signal.SIGINT)
        time.sleep(0.01)
        victim.send_signal(signal.SIGINT)
        victim.communicate(timeout=60)
    assert victim.returncode == 130
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left
    if (tmp_path / "m.json").exists():
        assert json.loads((tmp_path / "m.json").read_text())["message"] == "interrupted"
