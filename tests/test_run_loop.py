"""The engine's one run loop: observers, run state and counters, evaluators, Ctrl-C, API order."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _children import child

import scpo
from scpo import problems
from scpo.algorithms import create
from scpo.observers import Observer

ROOT = Path(__file__).resolve().parents[1]
SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")


def per_vector(x):
    return float(np.sum(x**2))


# ---- one loop -------------------------------------------------------------------------------------

# The engine's loop, and the restart driver's around its runs (scpo.restarts: each run is an engine Optimizer
# whose ask/tell it drives, switching runs between two tells).
DRIVERS = (Path("scpo/engine.py"), Path("scpo/restarts.py"))


def test_the_engine_loop_is_the_only_loop_over_iterations():
    pattern = re.compile(r"while not [\w.]+\.done|\.done:")
    found = []
    # hidden folders hold virtual environments (.venv, .venv-peers) and caches: not walked at all
    skipped = ("tests", "runs", "build", "site")
    tops = [p for p in ROOT.iterdir() if not p.name.startswith(".") and p.name not in skipped]
    paths = [p for top in tops for p in ([top] if top.is_file() else top.rglob("*.py")) if p.suffix == ".py"]
    for path in paths:
        relative = path.relative_to(ROOT)
        if relative in DRIVERS:
            continue  # tests drive ask/tell by hand on purpose: they are its documentation examples
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []


class Recorder(Observer):
    def __init__(self, stop_at=None):
        self.events, self.stop_at = [], stop_at

    def on_start(self, optimizer):
        self.events.append("start")

    def on_evaluation(self, optimizer, candidates, fitness):
        self.events.append(("evaluation", len(candidates)))

    def on_iteration(self, optimizer):
        self.events.append(("iteration", optimizer.nit))
        if optimizer.nit == self.stop_at:
            optimizer.request_stop("enough")

    def on_end(self, optimizer, result):
        self.events.append(("end", result.message))


def test_observers_see_every_hook_in_order_and_may_stop_the_run():
    recorder = Recorder(stop_at=2)
    result = scpo.minimize(problems.get("sphere", 3), algorithm="po", parties=2, max_iter=10, seed=0,
                           observers=[recorder])
    assert recorder.events == ["start", ("evaluation", 4), ("evaluation", 4), ("evaluation", 2), ("iteration", 1),
                               ("evaluation", 4), ("evaluation", 2), ("iteration", 2), ("end", "enough")]
    assert result.nit == 2 and result.message == "enough" and len(result.history["best"]) == 2


class ErrorRecorder(Observer):
    def __init__(self):
        self.events = []

    def on_iteration(self, optimizer):
        self.events.append(("iteration", optimizer.nit))

    def on_interrupt(self, optimizer):
        self.events.append("interrupt")

    def on_end(self, optimizer, result):
        self.events.append("end")

    def on_error(self, optimizer, error):
        self.events.append(("error", type(error).__name__))


def fails_on_call(n, error):
    calls = []

    def objective(X):
        calls.append(1)
        if len(calls) == n:
            raise error
        return (X**2).sum(1)
    return objective


@pytest.mark.parametrize("restarts", [None, "ipop"])
@pytest.mark.parametrize("error", [RuntimeError("boom"), SystemExit(130)])
def test_an_exception_leaving_the_run_reaches_on_error_and_restores_the_signal_handlers(restarts, error):
    """The objective raising (or a second Ctrl-C's SystemExit) ends the run through on_error, not
    on_end: StopOnSigint gives SIGINT and SIGTERM back, so Ctrl-C interrupts the caller again."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    recorder = ErrorRecorder()
    try:
        with pytest.raises(scpo.ObjectiveError if isinstance(error, Exception) else SystemExit):
            scpo.minimize(fails_on_call(4, error), [(-1.0, 1.0)] * 3, algorithm="pso", pop_size=8, max_evals=200,
                          seed=0, vectorized=True, restarts=restarts,
                          observers=[recorder, scpo.observers.StopOnSigint()])
        assert {signum: signal.getsignal(signum) for signum in before} == before
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    assert recorder.events[-1][0] == "error" and "end" not in recorder.events
    assert recorder.events[:-1] == [("iteration", i) for i in range(1, len(recorder.events))]


def test_a_propagating_keyboard_interrupt_restores_the_handlers_a_requested_stop_waits_for_on_end():
    """A KeyboardInterrupt from the objective (a worker's Ctrl-C) ends the run without on_end, so
    on_interrupt restores the handlers; a stop StopOnSigint requested keeps its handler until on_end."""
    before = signal.getsignal(signal.SIGINT)
    sigint = scpo.observers.StopOnSigint()
    try:
        with pytest.raises(KeyboardInterrupt):
            scpo.minimize(fails_on_call(3, KeyboardInterrupt()), [(-1.0, 1.0)] * 3, algorithm="pso", pop_size=8,
                          max_iter=20, seed=0, vectorized=True, observers=[sigint])
        assert signal.getsignal(signal.SIGINT) is before

        seen = []

        class Watch(Observer):
            def on_interrupt(self, optimizer):
                seen.append(signal.getsignal(signal.SIGINT) is before)

        class CtrlC(Observer):
            def on_iteration(self, optimizer):
                if optimizer.nit == 2:
                    signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # StopOnSigint's handler

        result = scpo.minimize(per_vector, [(-1.0, 1.0)] * 3, algorithm="pso", pop_size=8, max_iter=20, seed=0,
                               observers=[sigint, CtrlC(), Watch()])
        assert result.message == "interrupted" and seen == [False]
        assert signal.getsignal(signal.SIGINT) is before
    finally:
        signal.signal(signal.SIGINT, before)


def test_callback_stops_and_history_matches_ask_tell():
    problem = problems.get("rastrigin", 6, shifted=True, seed=1)
    stopped = scpo.minimize(problem, algorithm="sca", pop_size=8, max_iter=20, seed=2, callback=lambda p: p.nit >= 5)
    assert stopped.nit == 5 and stopped.message == "stopped by callback"
    opt = scpo.make(problem, "sca", seed=2, pop_size=8, max_iter=20)
    for _ in range(5):
        opt.tell(problem.evaluate(opt.ask()))
    assert opt.result().history["best"] == stopped.history["best"]


# ---- evaluators -------------------------------------------------------------------------------------

def test_backends_evaluate_benchmarks_with_their_compiled_objectives(monkeypatch):
    def numpy_code_must_not_run(self, X):
        raise AssertionError("the numpy objective was called")

    from scpo.backends import numba_problems

    calls = []
    compiled = numba_problems.objective
    monkeypatch.setattr(numba_problems, "objective", lambda bench, X: calls.append(len(X)) or compiled(bench, X))
    monkeypatch.setattr(problems.Benchmark, "__call__", numpy_code_must_not_run)
    problem = problems.get("rastrigin", 5, shifted=True, seed=0)
    numba_opt = scpo.make(problem, "scpo", pop_size=9, max_iter=3, seed=0, backend="numba")
    calls.clear()  # the warm-up (compilation, before the clock) calls it on a throwaway population
    numba_run = numba_opt.run()
    torch_run = scpo.minimize(problem, algorithm="scpo", pop_size=9, max_iter=3, seed=0, backend="torch")
    assert numba_run.evaluator == "numba" and len(calls) == 1 + 2 * 3
    assert torch_run.evaluator == "torch" and np.isfinite(torch_run.fun)
    with pytest.raises(scpo.ObjectiveError, match="numpy objective was called"):
        scpo.minimize(problem, algorithm="scpo", pop_size=9, max_iter=3, seed=0)


def test_cli_numba_uses_the_compiled_objective_and_torch_runs(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    def numpy_code_must_not_run(self, X):
        raise AssertionError("the numpy objective was called")

    monkeypatch.setattr(problems.Benchmark, "__call__", numpy_code_must_not_run)
    runner = CliRunner()
    args = ["optimize", "sphere", "--dim", "5", "--pop", "9", "--iters", "4", "--quiet"]
    for backend in ("numba", "torch"):
        done = runner.invoke(app, [*args, "--backend", backend, "--out", str(tmp_path / backend)])
        assert done.exit_code == 0, done.output
        summary = json.loads((tmp_path / backend / "result.json").read_text())
        assert summary["evaluator"] == backend and summary["nit"] == 4 and summary["backend"] == backend
    numpy_run = runner.invoke(app, [*args, "--out", str(tmp_path / "numpy")])
    assert numpy_run.exit_code != 0  # the numpy backend does call the numpy code


# ---- run state and counters -------------------------------------------------------------------------

def flaky(x):
    if x[0] > 0.6:
        raise RuntimeError("cannot evaluate")
    return np.nan if x[1] > 0.5 else float(np.sum(x**2))


def test_counters_belong_to_the_run_and_count_each_evaluation_once():
    problem = scpo.Problem(flaky, -1, 1, dim=3, vectorized=False, on_error="penalize")
    first = scpo.minimize(problem, algorithm="sca", pop_size=10, max_iter=6, seed=0)
    second = scpo.minimize(problem, algorithm="sca", pop_size=10, max_iter=6, seed=0)
    assert first.nonfinite > 0 and first.errors > 0
    assert (second.nonfinite, second.errors) == (first.nonfinite, first.errors)
    assert problem.error_count == 2 * first.errors and problem.nonfinite_count == 2 * first.nonfinite
    assert first.nonfinite + first.errors <= first.nfev


def test_all_nan_objective_fails_with_one_line_and_counts_once():
    result = scpo.minimize(lambda X: np.full(len(X), np.nan), [(-1, 1)] * 2, algorithm="sca", pop_size=10,
                           max_iter=5, seed=0)
    # nfev: 50 told + the vectorized="auto" probe's 2 rows (a per-vector reading: one more row)
    assert result.success is False and result.nonfinite == 50 and result.nfev == 50 + 3
    assert "no finite fitness" in result.message and "\n" not in result.message

    def always_raises(x):
        raise RuntimeError("no")

    penalized = scpo.minimize(scpo.Problem(always_raises, -1, 1, dim=2, vectorized=False, on_error="penalize"),
                              algorithm="sca", pop_size=4, max_iter=3, seed=0)
    assert penalized.success is False and penalized.errors == penalized.nfev == 12 and penalized.nonfinite == 0
    numba_nan = scpo.minimize(lambda X: np.full(len(X), np.nan), [(-1, 1)] * 2, algorithm="sca", pop_size=10,
                              max_iter=5, seed=0, backend="numba", vectorized=True)
    assert numba_nan.nonfinite == numba_nan.nfev == 50 and not numba_nan.success


def test_cli_all_nan_objective_exits_2_with_one_line(tmp_path):
    (tmp_path / "obj.py").write_text("def nan(x):\n    return float('nan')\n")
    done = subprocess.run([SCPO, "optimize", "obj.py:nan", "--bounds", "-1,1", "--dim", "3", "--algo", "sca",
                           "--iters", "3", "--quiet", "--out", "r"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no finite fitness in 93 evaluations")  # 3: the probe


def test_po_population_size_does_not_change_the_algorithm():
    algorithm = create("po")
    problem = problems.get("sphere", 3)
    small = scpo.Optimizer(algorithm, problem, pop_size=16, max_iter=2)
    large = scpo.Optimizer(algorithm, problem, pop_size=25, max_iter=2)  # formerly: contradicts parties=4
    assert algorithm.parties is None and small.algorithm.parties == 4 and large.algorithm.parties == 5
    assert scpo.Optimizer(algorithm, problem, max_iter=2).pop_size == 64


@pytest.mark.parametrize("algorithm", ["sca", "po", "pso", "de"])
def test_numpy_tell_is_functional(algorithm):
    problem = problems.get("sphere", 4)
    opt = scpo.make(problem, algorithm, seed=0, pop_size=9, max_iter=5)
    for _ in range(3):
        opt.tell(problem.evaluate(opt.ask()))
    before = {k: np.array(v, copy=True) for k, v in vars(opt.state).items() if isinstance(v, np.ndarray)}
    held = {k: v for k, v in vars(opt.state).items() if isinstance(v, np.ndarray)}
    opt.tell(problem.evaluate(opt.ask()))
    for key, array in held.items():
        np.testing.assert_array_equal(array, before[key])


# ---- checkpoints --------------------------------------------------------------------------------------

def test_checkpoint_refuses_another_shift_seed_dtype_or_draws(tmp_path):
    path = tmp_path / "run.ck"
    settings = dict(algorithm="sca", pop_size=8, max_iter=6, seed=0)
    scpo.minimize(problems.get("sphere", 4, shifted=True, seed=1), **settings, checkpoint=path)
    with pytest.raises(ValueError, match=r"belongs to another run: shift_seed=1, this run has 2"):
        scpo.minimize(problems.get("sphere", 4, shifted=True, seed=2), **settings, checkpoint=path, resume=True)
    numba_path = tmp_path / "numba.ck"
    scpo.minimize(problems.get("sphere", 4), **settings, checkpoint=numba_path, backend="numba")
    with pytest.raises(ValueError, match="belongs to another run: dtype='float64', this run has 'float32'"):
        scpo.minimize(problems.get("sphere", 4), **settings, checkpoint=numba_path, resume=True, backend="numba",
                      dtype="float32")
    from scpo import backends

    with pytest.raises(ValueError, match="belongs to another run: draws='native', this run has 'numpy'"):
        scpo.minimize(problems.get("sphere", 4), **settings, checkpoint=numba_path, resume=True,
                      backend=backends.get("numba", draws="numpy"))


def test_a_checkpoint_holds_the_state_and_the_history_lives_in_an_appended_sidecar(tmp_path):
    from scpo.checkpoint import ROW, history_path

    path = tmp_path / "run.ck"
    problem = problems.get("rastrigin", 5)
    opt = scpo.make(problem, "sca", seed=0, pop_size=8, max_iter=40)
    opt.enable_checkpoints(path, every=10)
    sizes = []
    opt.attach(type("Sizes", (Observer,), {"on_iteration": lambda self, o: sizes.append(path.stat().st_size)
                                           if path.exists() and o.nit % 10 == 1 else None})())
    result = opt.run()
    assert history_path(path).stat().st_size == ROW.itemsize * result.nit
    assert len(sizes) == 3 and max(sizes) - min(sizes) < 16  # only digits of nit, nfev change: no history inside
    with np.load(path) as archive:
        meta = json.loads(archive["meta"].tobytes())
    assert "history" not in meta and meta["history_rows"] == 40


# ---- Ctrl-C --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def long_run(tmp_path):
    """A long CLI run (SIGINT at its default, killed at the end), once its loop has started."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with child([SCPO, "optimize", "sphere", "--evals", "100000000", "--out", "D"], cwd=tmp_path,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as victim:
        first = victim.stderr.readline()  # a plain progress line (stderr is not a terminal): the loop runs
        assert "iteration" in first, first
        yield victim


def test_sigint_ends_the_cli_run_with_complete_files_and_exit_130(tmp_path):
    with long_run(tmp_path) as victim:
        victim.send_signal(signal.SIGINT)
        out, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    summary = json.loads((tmp_path / "D" / "result.json").read_text())
    assert summary["message"] == "interrupted" and summary["nit"] > 0
    assert len(summary["history"]["best"]) == summary["nit"] and summary["best_fitness"] == min(
        summary["history"]["best"])
    assert len((tmp_path / "D" / "history.csv").read_text().splitlines()) == summary["nit"] + 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted at iteration") and "D" in last and "Traceback" not in err
    assert not [p for p in (tmp_path / "D").iterdir() if p.name.startswith(".")]


def test_a_second_sigint_exits_at_once_without_half_written_files(tmp_path):
    with long_run(tmp_path) as victim:
        victim.send_signal(signal.SIGINT)
        time.sleep(0.01)
        victim.send_signal(signal.SIGINT)
        victim.communicate(timeout=60)
    assert victim.returncode == 130
    run_dir = tmp_path / "D"
    if run_dir.exists():
        assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]
        if (run_dir / "result.json").exists():
            assert json.loads((run_dir / "result.json").read_text())["message"] == "interrupted"


# ---- API ---------------------------------------------------------------------------------------------

def test_per_vector_function_is_detected_even_when_the_population_equals_the_dimension():
    result = scpo.minimize(per_vector, [(-5, 5)] * 30, algorithm="sca", seed=0)
    assert result.pop_size == 30 and result.fun == per_vector(result.x)
    from scpo.problem import detect_vectorized

    lb, ub = np.full(2, -1.0), np.full(2, 1.0)
    assert detect_vectorized(lambda X: (X**2).sum(axis=1), 2, lb, ub) is True
    assert detect_vectorized(lambda x: x[0] ** 2 + x[1] ** 2, 2, lb, ub) is False  # indexes a vector
    assert detect_vectorized(per_vector, 2, lb, ub) is False


def test_make_takes_minimize_order_and_the_old_order():
    problem = problems.get("sphere", 4)
    new, old = scpo.make(problem, "sca", seed=0, pop_size=6, max_iter=3), scpo.make("sca", problem, seed=0,
                                                                                   pop_size=6, max_iter=3)
    assert np.array_equal(new.ask(), old.ask()) and new.algorithm.name == "sca"
    external = scpo.make([(-1, 1)] * 4, algorithm="po", seed=0, max_iter=2)
    assert external.pop_size == 64 and external.problem.dim == 4
    function = scpo.make(per_vector, "sca", bounds=[(-1, 1)] * 3, max_iter=2)
    assert function.problem.vectorized is False


def test_ask_without_copy_is_the_engine_array():
    opt = scpo.make(problems.get("sphere", 3), "sca", seed=0, pop_size=5, max_iter=3)
    X = opt.ask(copy=False)
    assert X is opt.run_state.pending
    opt.tell((X**2).sum(axis=1))
    assert opt.ask() is not opt.run_state.pending


def test_replace_members_for_memetic_refinement():
    problem = problems.get("sphere", 4, shifted=True, seed=3)

    class Lamarck(Observer):  # puts the optimum into member 2 after the first iteration
        def on_iteration(self, optimizer):
            if optimizer.nit == 1:
                optimizer.replace_members([2], problem.x_opt[None], [0.0], evaluations=1)

    for algorithm in ("sca", "po", "scpo", "pso", "de", "random"):
        result = scpo.minimize(problem, algorithm=algorithm, pop_size=16, max_iter=3, seed=0, observers=[Lamarck()])
        assert result.fun == 0.0 and np.array_equal(result.x, problem.x_opt), algorithm
    opt = scpo.make(problem, "po", seed=0, pop_size=9, max_iter=3)
    opt.tell(problem.evaluate(opt.ask()))
    party_of_4 = opt.state.X[3:6].copy()
    opt.replace_members([4], problem.x_opt[None], [0.0])
    assert np.array_equal(opt.state.X[4], problem.x_opt) and opt.state.fitness[4] == 0.0  # slot 4 kept
    assert np.array_equal(opt.state.leader_pos[1], problem.x_opt)  # party 1 (rows 3-5): new leader
    assert np.array_equal(opt.state.X[[3, 5]], party_of_4[[0, 2]])
    with pytest.raises(ValueError, match="outside the bounds"):
        opt.replace_members([0], np.full((1, 4), 1e9), [0.0])
    cma = scpo.make(problem, "cmaes", seed=0, pop_size=8, max_iter=3)
    cma.tell(problem.evaluate(cma.ask()))
    with pytest.raises(ValueError, match="'cmaes' cannot take replaced members"):
        cma.replace_members([0], problem.x_opt[None], [0.0])
