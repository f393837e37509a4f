"""Clean stops and one-line refusals (issue #25): Ctrl-C before the first iteration, SIGTERM in every long
command, checkpoints an algorithm cannot hold, a resume after the objective changed, option values, paths."""

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
from _children import child
from typer.testing import CliRunner

import scpo
from cli import app

SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")
ENV = dict(os.environ, PYTHONUNBUFFERED="1")
PIPES = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
STOPS = [(signal.SIGINT, "interrupted", 130), (signal.SIGTERM, "terminated", 143)]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SCPO, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=ENV)


def invoke(*args: str):
    """The CLI in this process (fast), standard error apart."""
    return CliRunner().invoke(app, list(args))


def one_line_error(done, *words: str) -> None:
    """Exit 2, one line on stderr holding ``words``, no traceback (a subprocess or an in-process result)."""
    stderr = done.stderr
    code = done.exit_code if hasattr(done, "exit_code") else done.returncode
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "the child never got there"
        time.sleep(0.02)


# ---- item 12 (and 13): a stop before the first iteration ends ---------------------------------------

SLOW = """
import time
from pathlib import Path


def f(X):  # the first evaluation waits until the test has signalled
    Path("evaluating").touch()
    deadline = time.time() + 60
    while not Path("go").exists() and time.time() < deadline:
        time.sleep(0.01)
    return (X ** 2).sum(axis=1)
"""


@pytest.mark.parametrize("signum, message, status", STOPS)
def test_a_stop_during_the_first_evaluation_writes_what_exists(tmp_path, signum, message, status):
    (tmp_path / "slow.py").write_text(SLOW)
    args = [SCPO, "optimize", "slow.py:f", "--bounds", "-5,5", "--dim", "3", "--algo", "po", "--iters", "5",
            "--vectorized", "--out", "D"]
    with child(args, cwd=tmp_path, **PIPES) as victim:
        wait_for(lambda: (tmp_path / "evaluating").exists())
        victim.send_signal(signum)
        (tmp_path / "go").touch()
        _, err = victim.communicate(timeout=120)
    assert victim.returncode == status and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith(f"{message} at iteration 0/5")
    summary = json.loads((tmp_path / "D" / "result.json").read_text())
    assert summary["message"] == message and summary["nit"] == 0 and summary["history"]["best"] == []
    assert len((tmp_path / "D" / "history.csv").read_text().splitlines()) == 1  # the header
    assert not (tmp_path / "D" / "convergence.png").exists()  # no curve yet: nothing drawn


# ---- item 13: SIGTERM (a batch scheduler's time limit) in every long command ------------------------

def test_sigterm_ends_optimize_with_complete_files_and_exit_143(tmp_path):
    with child([SCPO, "optimize", "sphere", "--evals", "100000000", "--out", "D"], cwd=tmp_path, **PIPES) as victim:
        assert "iteration" in victim.stderr.readline()  # a plain progress line: the loop runs
        victim.send_signal(signal.SIGTERM)
        _, err = victim.communicate(timeout=60)
    assert victim.returncode == 143, err
    summary = json.loads((tmp_path / "D" / "result.json").read_text())
    assert summary["message"] == "terminated" and summary["nit"] == len(summary["history"]["best"]) > 0
    last = err.strip().splitlines()[-1]
    assert last.startswith("terminated at iteration") and "D" in last and "Traceback" not in err


def test_sigterm_ends_benchmark_keeping_finished_rows(tmp_path):
    results = tmp_path / "D" / "results.csv"
    args = [SCPO, "benchmark", "--algos", "sca", "--problems", "sphere", "--runs", "500", "--evals", "30000",
            "--out", "D", "--quiet"]
    with child(args, cwd=tmp_path, **PIPES) as victim:
        wait_for(lambda: results.exists() and len(results.read_text().splitlines()) >= 2)
        victim.send_signal(signal.SIGTERM)
        _, err = victim.communicate(timeout=60)
    assert victim.returncode == 143, err
    assert err.strip().splitlines()[-1] == ("terminated: finished runs kept in D/results.csv; "
                                            "run the same command again to resume")
    lines = results.read_text().splitlines()
    assert len(lines) >= 2 and all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)


def test_sigterm_ends_train_with_the_best_weights_and_exit_143(small_tweets, tmp_path):
    args = [SCPO, "train", small_tweets, "--top-k", "3", "--threads", "1", "--optimizer", "scpo", "--evals",
            "10000000", "--out", "m", "--json", "m.json"]
    with child(args, cwd=tmp_path, **PIPES) as victim:
        assert " evals  best " in victim.stderr.readline()  # training runs
        victim.send_signal(signal.SIGTERM)
        _, err = victim.communicate(timeout=120)
    assert victim.returncode == 143, err
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["message"] == "terminated" and 0 <= report["metrics"]["p@1"] <= 1
    assert err.strip().splitlines()[-1].startswith("terminated at ") and "Traceback" not in err, err
    assert (tmp_path / "m" / "weights.safetensors").exists()


def test_sigterm_stops_adam_after_the_current_step_as_terminated():
    """Adam's own stop (train's Adam path): SIGTERM ends training as Ctrl-C does, marked terminated."""
    import torch

    from networks.resnet import DeepResNet
    from networks.training import train_adam

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 6)).astype(np.float32), np.eye(2, dtype=np.float32)[rng.integers(0, 2, 40)]
    torch.manual_seed(0)

    def unhandled(signum, frame):  # a SIGTERM the trainer does not take fails the test, not the test runner
        raise AssertionError("SIGTERM reached the test's own handler: train_adam did not take it")

    before = signal.signal(signal.SIGTERM, unhandled)
    try:
        history = train_adam(DeepResNet(6, 2, width=4, depth=1, seed=0), X, Y, epochs=50, batch_size=8,
                             stop_on_sigint=True, callback=lambda h: os.kill(os.getpid(), signal.SIGTERM))
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert history.interrupted and history.terminated and len(history.loss) == 1
    assert after is unhandled  # the previous handler is back


def test_sigterm_ends_train_benchmark_keeping_finished_rows(small_tweets, tmp_path):
    results = tmp_path / "tb" / "results.csv"
    args = [SCPO, "train-benchmark", small_tweets, "--optimizers", "scpo", "--seeds", "1", "--evals", "10000000",
            "--top-k", "3", "--out", "tb", "--quiet"]
    with child(args, cwd=tmp_path, **PIPES) as victim:
        wait_for(lambda: results.exists() and len(results.read_text().splitlines()) >= 2)  # frequency: scpo runs
        victim.send_signal(signal.SIGTERM)
        _, err = victim.communicate(timeout=60)
    assert victim.returncode == 143, err
    assert "terminated: finished runs kept" in err and "Traceback" not in err
    assert [line.split(",")[0] for line in results.read_text().splitlines()[1:]] == ["frequency"]


def test_children_start_with_sigint_at_its_default_even_when_the_runner_ignores_it():
    """A runner started in the background ignores SIGINT and its children inherit that: a test's Ctrl-C would
    do nothing. tests/_children.py resets it in the child."""
    code = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        inherited = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        with child([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as victim:
            reset, _ = victim.communicate(timeout=60)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert inherited.stdout.strip() == "False" and reset.strip() == "True"


# ---- item 14: an algorithm whose state a checkpoint cannot hold is refused before any evaluation -----

def test_checkpoints_of_cmaes_are_refused_before_any_evaluation(tmp_path):
    calls = []

    def sphere(X):
        calls.append(len(X))
        return (X ** 2).sum(axis=1)

    problem = scpo.Problem(sphere, -5, 5, dim=3, vectorized=True)
    with pytest.raises(ValueError, match="'cmaes' does not support checkpoints"):  # implementation="cma" only
        scpo.make(problem, "cmaes", seed=0, max_evals=300, implementation="cma").enable_checkpoints(tmp_path / "ck")
    assert calls == [] and not (tmp_path / "ck").exists()
    for name in scpo.algorithm_names():  # every algorithm holds its state in arrays (our own cmaes too)
        scpo.make(problem, name, seed=0, max_evals=300).enable_checkpoints(tmp_path / name)
    done = run("optimize", "sphere", "--algo", "cmaes", "--dim", "3", "--evals", "300", "--checkpoint", "ck",
               "--option", "implementation=cma", "--out", "D", cwd=tmp_path)
    one_line_error(done, "'cmaes' does not support checkpoints")
    assert not (tmp_path / "D").exists() and not (tmp_path / "ck").exists()


# ---- item 3: a resume re-evaluates the best so far and refuses a changed objective -------------------

def quadratic(X):
    return (X ** 2).sum(axis=1)


def quadratic_plus_5(X):
    return (X ** 2).sum(axis=1) + 5.0


def test_resume_after_the_objective_changed_is_refused_naming_both_values(tmp_path):
    path = tmp_path / "ck"
    settings = dict(algorithm="sca", max_iter=20, seed=0, checkpoint=path)
    stopped = scpo.minimize(scpo.Problem(quadratic, -5, 5, dim=3, vectorized=True, name="f"), **settings,
                            callback=lambda p: p.nit >= 5)
    edited = scpo.Problem(quadratic_plus_5, -5, 5, dim=3, vectorized=True, name="f")
    now = float(quadratic_plus_5(stopped.x[None])[0])
    with pytest.raises(ValueError, match="objective changed") as error:
        scpo.minimize(edited, **settings, resume=True)
    assert repr(now) in str(error.value) and repr(stopped.fun) in str(error.value)
    assert "relative tolerance 1e-09" in str(error.value)
    same = scpo.minimize(scpo.Problem(quadratic, -5, 5, dim=3, vectorized=True, name="f"), **settings, resume=True)
    assert same.nit == 20


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_resume_checks_the_best_with_the_backends_own_evaluator(tmp_path, backend):
    """F1-F13 run compiled on numba: the check re-evaluates with that code (a tampered best is caught)."""
    path = tmp_path / "ck"
    settings = dict(algorithm="sca", max_iter=8, seed=0, backend=backend, checkpoint=path)
    problem = scpo.problems.get("sphere", 4)
    scpo.minimize(problem, **settings, callback=lambda p: p.nit >= 4)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["best_f"] += 5.0
    tampered = tmp_path / "tampered"
    shutil.copy(str(path) + ".history", str(tampered) + ".history")
    with open(tampered, "wb") as handle:
        np.savez(handle, **{**arrays, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    with pytest.raises(ValueError, match="objective changed"):
        scpo.minimize(problem, **{**settings, "checkpoint": tampered}, resume=True)
    optimizer = scpo.make(problem, "sca", seed=0, max_iter=8, backend=backend)
    assert optimizer.enable_checkpoints(path, resume=True) and optimizer.nfev == 4 * 30 + 1
    assert optimizer.evaluator().kind == ("numba" if backend == "numba" else "problem")


def test_a_noisy_benchmark_resumes_without_the_check(tmp_path):
    """F7's noise makes its value at a point irreproducible: no re-evaluation (nor a draw from its noise)."""
    problem = scpo.problems.get("quartic", 4)
    stopped = scpo.minimize(problem, algorithm="sca", max_iter=8, seed=0, checkpoint=tmp_path / "ck",
                            callback=lambda p: p.nit >= 4)
    optimizer = scpo.make(problem, "sca", seed=0, max_iter=8)
    assert optimizer.enable_checkpoints(tmp_path / "ck", resume=True) and optimizer.nfev == stopped.nfev


SIM = """
import numpy as np


def f(X):
    return ((np.asarray(X) - 0.5) ** 2).sum(axis=1){}
"""


def test_cli_resume_after_the_objective_changed_exits_2(tmp_path):
    (tmp_path / "sim.py").write_text(SIM.format(""))
    args = ["optimize", "sim.py:f", "--bounds", "-5,5", "--dim", "3", "--algo", "sca", "--iters", "10", "--quiet",
            "--checkpoint", "ck", "--out", "D"]
    assert run(*args, cwd=tmp_path).returncode == 0
    (tmp_path / "sim.py").write_text(SIM.format(" + 5.0"))
    one_line_error(run(*args, "--resume", cwd=tmp_path), "objective changed", "relative tolerance")


# ---- item 15: option values ---------------------------------------------------------------------------

def test_json_literals_in_option_dicts_and_unknown_cma_keys_in_one_line(tmp_path):
    parsed = scpo.options.parse_pairs(['cma_options={"CMA_diagonal": true, "tolfun": 1e-9, "x": null}'], "cmaes")
    assert parsed == {"cma_options": {"CMA_diagonal": True, "tolfun": 1e-9, "x": None}}
    assert scpo.options.parse_pairs(["cma_options={'a': 'true'}"], "cmaes") == {"cma_options": {"a": "true"}}
    with pytest.raises(ValueError, match="'tolfnu' is not an option of cma .did you mean tolfun"):
        scpo.make(scpo.problems.get("sphere", 2), "cmaes", seed=0, max_evals=100, cma_options={"tolfnu": 1})
    with pytest.raises(ValueError, match="must be one of published, invariant, got 'x'"):
        scpo.options.parse_pairs(["variant=x"], "sca")
    done = run("optimize", "sphere", "--algo", "cmaes", "--dim", "2", "--evals", "100", "--out", "D", "-o",
               'cma_options={"nosuch": true}', cwd=tmp_path)
    one_line_error(done, "'nosuch' is not an option of cma")


# ---- friction: objectives, --list, --seed, output paths --------------------------------------------------

def test_an_objective_file_without_function_is_named_and_one_with_siblings_and_prints_works(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper.py").write_text("OFFSET = 1.0\n")
    (tmp_path / "lib" / "my_obj.py").write_text(
        "import numpy as np\nfrom helper import OFFSET\n\n\ndef f(X):\n    print('evaluating', len(X))\n"
        "    return ((np.asarray(X) - OFFSET) ** 2).sum(axis=1)\n")
    missing = invoke("optimize", str(tmp_path / "lib" / "my_obj.py"), "--bounds", "-5,5")
    one_line_error(missing, "names no function", "my_obj.py:FUNCTION")
    done = run("optimize", "lib/my_obj.py:f", "--bounds", "-5,5", "--dim", "2", "--evals", "200", "--quiet",
               "--out", "D", "--json", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["nfev"] > 0 and "evaluating" in done.stderr  # the prints went to stderr


def test_list_names_an_unknown_algorithm_and_shows_choices_and_seed_is_checked():
    one_line_error(invoke("optimize", "--list", "nosuch"), "--list 'nosuch'", "choose from")
    listed = invoke("optimize", "--list", "sca")
    assert listed.exit_code == 0 and "one of published, invariant" in listed.stdout
    one_line_error(invoke("optimize", "sphere", "--seed", "-1"), "--seed")
    one_line_error(invoke("train", "--seed", "-1"), "--seed")


def test_output_paths_are_checked_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = ["optimize", "sphere", "--dim", "2", "--iters", "2", "--quiet"]
    for flag in ("--out", "--json", "--checkpoint"):
        one_line_error(invoke(*quick, flag, ""), flag, "empty path")
    for flag in ("--out", "--json"):
        one_line_error(invoke("train", flag, ""), flag, "empty path")
    one_line_error(invoke("plot", "RUN", "--out", ""), "--out", "empty path")
    for command in ("benchmark", "train-benchmark"):
        one_line_error(invoke(command, *(["apple"] if command == "train-benchmark" else []), "--out", ""), "--out")
    one_line_error(invoke(*quick, "--out", "D", "--checkpoint", "nodir/ck"), "--checkpoint nodir/ck", "nodir")
    one_line_error(invoke("train", "--checkpoint", "nodir/ck"), "--checkpoint nodir/ck")
    assert not (tmp_path / "D").exists()
    assert invoke(*quick, "--out", "D").exit_code == 0
    (tmp_path / "D" / "notes.txt").write_text("mine")
    one_line_error(invoke(*quick, "--out", "D"), "--out D exists and is not empty", "--force")
    assert invoke(*quick, "--out", "D", "--force").exit_code == 0
    assert (tmp_path / "D" / "notes.txt").read_text() == "mine"
    one_line_error(invoke("train", "apple", "--out", "D"), "--out D exists and is not empty", "--force")
