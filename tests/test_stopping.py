"""Stopping rules (scpo.stopping): each fires where it must and not before, and is named in
``result.message`` and ``result.stop_rule``; through minimize, ask/tell, the CLI, numba and torch, and a resume."""

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import scpo
from scpo.observers import Observer

BOX2, BOX5 = [(-5.0, 5.0)] * 2, [(-5.0, 5.0)] * 5


def sphere(X):
    return (X ** 2).sum(1)


def constant(X):
    return np.ones(len(X))


class Batches(Observer):
    """What the engine holds after every evaluated batch: nfev, best so far, the batch's spread."""

    def __init__(self):
        self.nfev, self.best, self.spread = [], [], []

    def on_evaluation(self, optimizer, candidates, fitness):
        self.nfev.append(optimizer.nfev)
        self.best.append(float(optimizer.best_fitness))
        self.spread.append(float(np.asarray(candidates).std(axis=0).max()))


@pytest.mark.parametrize("algorithm", ["de", "po"])
def test_target_stops_in_the_batch_where_it_is_reached(algorithm):
    batches = Batches()
    result = scpo.minimize(sphere, BOX5, algorithm=algorithm, seed=1, max_evals=200_000, vectorized=True,
                           target=1e-6, observers=[batches])
    assert result.stop_rule == "target" and result.message == "target 1e-06 reached"
    assert result.fun <= 1e-6 and batches.best[-1] == result.fun
    assert all(best > 1e-6 for best in batches.best[:-1])  # not one batch earlier
    assert result.nfev == batches.nfev[-1] < 200_000


def test_stagnation_on_a_constant_objective_fires_after_exactly_k_iterations():
    for algorithm in ("de", "sca", "po"):
        result = scpo.minimize(constant, BOX2, algorithm=algorithm, seed=0, max_evals=50_000, vectorized=True,
                               stagnation=7)
        initial = 1 if scpo.algorithms.create(algorithm).initial_counts_as_iteration else 0
        assert result.stop_rule == "stagnation", algorithm
        assert result.message == "stagnation: 7 iterations without improvement"
        assert result.nit == initial + 7, algorithm  # the best was set by the initial population


def test_stagnation_counts_from_the_last_improvement():
    staircase = lambda X: np.floor((X ** 2).sum(1))  # noqa: E731 -- reaches 0, then cannot improve
    result = scpo.minimize(staircase, BOX2, algorithm="de", seed=0, max_evals=50_000, vectorized=True,
                           stagnation=15)
    best = result.history["best"]
    improved = max(i for i in range(1, len(best)) if best[i] < best[i - 1]) + 1  # iteration numbers are 1-based
    assert result.stop_rule == "stagnation" and result.nit == improved + 15 and result.fun == 0.0


def test_tol_f_fires_when_the_window_is_full_on_a_flat_objective():
    result = scpo.minimize(constant, BOX2, algorithm="de", seed=0, max_evals=50_000, vectorized=True, tol_f=1e-12)
    window = 10 + math.ceil(30 * 2 / result.pop_size)  # cma's tolfun history length
    assert result.stop_rule == "tol_f" and result.nit == window
    assert result.message == f"tol_f: fitness range 0 below 1e-12 over {window} iterations"


def test_tol_f_on_sphere_stops_a_converged_run():
    result = scpo.minimize(sphere, BOX5, algorithm="de", seed=2, max_evals=200_000, vectorized=True, tol_f=1e-10)
    assert result.stop_rule == "tol_f" and result.message.startswith("tol_f: fitness range ")
    window = 10 + math.ceil(30 * 5 / result.pop_size)
    recent = result.history["best"][-window:]
    assert max(recent) - min(recent) < 1e-10 and result.nfev < 200_000 and result.fun < 1e-9


def test_tol_x_population_spread_with_de():
    batches = Batches()
    result = scpo.minimize(sphere, BOX5, algorithm="de", seed=0, max_evals=200_000, vectorized=True, tol_x=1e-6,
                           observers=[batches])
    assert result.stop_rule == "tol_x" and result.message.startswith("tol_x: population spread ")
    assert result.message.endswith(" below 1e-06")
    assert batches.spread[-1] < 1e-6 and min(batches.spread[:-1]) >= 1e-6  # DE: one batch per iteration


class Steps(Observer):
    def __init__(self):
        self.steps = []

    def on_iteration(self, optimizer):
        state = optimizer.state  # cmaes's per-coordinate step: sigma sqrt(diag C), in the unit box
        width = optimizer.problem.ub - optimizer.problem.lb
        self.steps.append(float((state.sigma * np.sqrt(np.diag(state.C)) * width).max()))


def test_tol_x_step_size_with_cmaes():
    steps = Steps()
    result = scpo.minimize(sphere, BOX5, algorithm="cmaes", seed=0, max_evals=200_000, vectorized=True,
                           tol_x=1e-6, observers=[steps])
    assert result.stop_rule == "tol_x" and result.message.startswith("tol_x: step size ")
    assert steps.steps[-1] < 1e-6 and min(steps.steps[:-1]) >= 1e-6 and result.fun < 1e-9


def test_max_time_on_the_runs_clock():
    clock = {"t": 0.0}

    def ticking(X):  # each batch takes one (fake) second
        clock["t"] += 1.0
        return sphere(X)

    optimizer = scpo.make(ticking, "de", bounds=BOX2, seed=0, max_evals=10_000, vectorized=True, max_time=5.5)
    optimizer.elapsed = lambda: clock["t"]
    result = optimizer.run()
    assert result.stop_rule == "max_time" and result.message == "max_time 5.5 s reached"
    assert result.nfev == 6 * optimizer.pop_size  # the sixth batch passed 5.5 s: not the fifth, not the seventh


def test_max_time_with_a_slow_objective():
    def slow(X):
        time.sleep(0.02)
        return sphere(X)

    result = scpo.minimize(slow, BOX2, algorithm="de", seed=0, max_evals=100_000, vectorized=True, max_time=0.2)
    assert result.stop_rule == "max_time" and result.message == "max_time 0.2 s reached"
    assert result.wall_time_s >= 0.2 and result.nfev < 100_000


def test_ask_tell_users_see_done_and_the_message():
    optimizer = scpo.make(BOX5, "de", seed=0, target=1.0)
    while not optimizer.done:
        X = optimizer.ask()
        optimizer.tell(sphere(X))
    result = optimizer.result()
    assert result.stop_rule == "target" and result.message == "target 1 reached" and result.fun <= 1.0
    with pytest.raises(RuntimeError, match="the run is over: target 1 reached"):
        optimizer.ask()


def test_budget_and_callback_keys():
    assert scpo.minimize(sphere, BOX2, algorithm="de", seed=0, max_iter=5, vectorized=True).stop_rule == "max_iter"
    cut = scpo.minimize(sphere, BOX2, algorithm="po", seed=0, max_evals=1000, vectorized=True, max_iter=10**6)
    assert cut.stop_rule == "max_evals" and cut.message.startswith("evaluation budget reached")
    stopped = scpo.minimize(sphere, BOX2, algorithm="de", seed=0, max_iter=50, vectorized=True,
                            callback=lambda progress: progress.nit >= 3)
    assert stopped.stop_rule == "callback" and stopped.nit == 3
    assert scpo.make(BOX2, "de", seed=0).result().stop_rule is None  # not over yet


@pytest.mark.parametrize("key, value", [
    ("target", float("nan")), ("target", float("inf")), ("target", "1e-8"), ("target", True),
    ("tol_f", -1e-3), ("tol_f", 0.0), ("tol_x", -1.0), ("tol_x", float("nan")),
    ("max_time", 0), ("max_time", -2.0), ("stagnation", 0), ("stagnation", 2.5), ("stagnation", True),
])
def test_bad_values_are_one_line_errors_naming_the_value(key, value):
    with pytest.raises(ValueError, match=rf"^{key} must .*got {value!r}$".replace("(", r"\(")) as caught:
        scpo.minimize(sphere, BOX2, algorithm="de", seed=0, max_iter=5, vectorized=True, **{key: value})
    assert "\n" not in str(caught.value)


def test_rules_on_numba_and_torch():
    pytest.importorskip("torch")
    sphere5 = scpo.problems.get("sphere", 5)
    numba = scpo.minimize(sphere5, algorithm="po", backend="numba", seed=0, max_evals=100_000, target=1e-3)
    assert numba.stop_rule == "target" and numba.fun <= 1e-3 < numba.history["best"][-2]
    torch_sca = scpo.minimize(sphere5, algorithm="sca", backend="torch", seed=0, max_evals=100_000, stagnation=30)
    assert torch_sca.stop_rule == "stagnation" and torch_sca.message == "stagnation: 30 iterations without improvement"
    torch_snes = scpo.minimize(sphere5, algorithm="snes", backend="torch", seed=0, max_evals=100_000, tol_x=1e-4,
                               tol_f=1e-30)
    assert torch_snes.stop_rule == "tol_x" and torch_snes.message.startswith("tol_x: step size ")
    eager = scpo.backends.get("torch", "cpu", "float32", step="eager")  # tensor code, as on cuda
    run = scpo.minimize(sphere5, algorithm="sca", backend=eager, seed=0, max_evals=100_000, target=1e-2,
                        stagnation=50, tol_f=1e-30, tol_x=1e-30)
    assert run.stop_rule in ("target", "stagnation") and run.nfev < 100_000


def test_a_resumed_run_with_stagnation_stops_at_the_same_iteration(tmp_path):
    staircase = lambda X: np.floor((X ** 2).sum(1))  # noqa: E731
    settings = dict(algorithm="de", seed=0, max_evals=50_000, vectorized=True, stagnation=15)
    whole = scpo.minimize(staircase, BOX2, **settings)
    assert whole.stop_rule == "stagnation"
    path = tmp_path / "run.npz"
    first = scpo.minimize(staircase, BOX2, checkpoint=path, callback=lambda p: p.nit >= whole.nit - 5, **settings)
    assert first.stop_rule == "callback"  # stopped while the counter is at 10 of 15
    resumed = scpo.minimize(staircase, BOX2, checkpoint=path, resume=True, **settings)
    assert resumed.stop_rule == "stagnation" and resumed.nit == whole.nit and resumed.fun == whole.fun


SCPO_CLI = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")


def test_cli_flags(tmp_path):
    done = subprocess.run([SCPO_CLI, "optimize", "sphere", "--dim", "5", "--algo", "de", "--target", "1e-6",
                           "--tol-f", "1e-30", "--tol-x", "1e-30", "--max-time", "60", "--stagnation", "500",
                           "--out", "r", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "r" / "result.json").read_text())
    assert summary["stop_rule"] == "target" and summary["message"] == "target 1e-06 reached"
    assert summary["best_fitness"] <= 1e-6 and "(target 1e-06 reached)" in done.stdout
    bad = subprocess.run([SCPO_CLI, "optimize", "sphere", "--dim", "5", "--stagnation", "0", "--out", "b",
                          "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: stagnation must be an integer >= 1 (iterations), got 0"


def test_torch_reads_device_values_once_per_iteration(monkeypatch):
    pytest.importorskip("torch")
    import scpo.stopping as stopping

    reads = []
    real = stopping._host
    monkeypatch.setattr(stopping, "_host", lambda values: reads.append(len(values)) or real(values))
    eager = scpo.backends.get("torch", "cpu", "float64", step="eager")  # tensor code, as on cuda
    sphere5 = scpo.problems.get("sphere", 5)
    result = scpo.minimize(sphere5, algorithm="sca", backend=eager, seed=0, max_iter=40, stagnation=1000,
                           tol_f=1e-300, tol_x=1e-300)
    assert result.stop_rule == "max_iter"
    assert reads == [3 + 1] * result.nit  # best, fitness low and high, spread: one transfer per iteration
