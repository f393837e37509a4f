"""A user's own objective through the API: read the right way at any population size, arguments that would be
ignored refused, and a failing objective reported with the user's exception, its place and what it returned."""

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scpo
from scpo.problem import _failure

BOX = [(-1.0, 1.0)] * 3


def two_coordinates(x):
    """Per-vector: on a population it indexes rows, and at N == D returns N numbers that mean nothing."""
    return (x[0] - 1) ** 2 + (x[1] - 2) ** 2


# ---- item 1: a Problem wrapping a user function probes whether it is vectorized


def test_a_per_vector_function_in_a_problem_at_population_equal_to_dimension_is_read_per_vector():
    result = scpo.minimize(scpo.Problem(two_coordinates, lb=-5, ub=5, dim=30), algorithm="de", max_evals=3000,
                           seed=0)  # DE's default population is 30 = dim
    assert result.fun == two_coordinates(result.x)
    assert result.fun < 1e-6  # the optimum is 0, at x[0] = 1, x[1] = 2


@pytest.mark.parametrize("algorithm, dim", [("de", 10), ("pso", 10), ("scpo", 9), ("sca", 10)])
def test_per_vector_and_vectorized_functions_both_work_at_population_equal_to_dimension(algorithm, dim):
    def per_vector(x):
        return float(((x - 0.25) ** 2).sum())

    def vectorized(X):
        return ((X - 0.25) ** 2).sum(axis=1)

    results = [scpo.minimize(scpo.Problem(f, -1, 1, dim=dim), algorithm=algorithm, pop_size=dim, max_iter=20, seed=3)
               for f in (per_vector, vectorized)]
    for result in results:
        assert result.fun == per_vector(result.x)
    assert results[0].fun == results[1].fun and np.array_equal(results[0].x, results[1].x)


def test_the_probe_of_a_direct_evaluate_uses_the_callers_tensors():
    torch = pytest.importorskip("torch")
    problem = scpo.Problem(lambda X: torch.sum(X**2, dim=1), -1, 1, dim=3)  # a torch-only objective
    assert problem.evaluate(torch.full((4, 3), 0.5, dtype=torch.float64)).tolist() == [0.75] * 4
    assert problem.vectorized is True


def test_benchmark_problems_say_they_are_vectorized():
    assert scpo.problems.get("sphere", 4).vectorized is True  # no probe call for the library's own objectives


def test_a_batch_of_one_that_returns_many_values_is_an_error_not_its_first_value():
    def rows_only_in_batches(X):  # a vectorized objective that fails on whole batches, per row returns a vector
        if len(X) > 1:
            raise ValueError("batch")
        return X[0]

    problem = scpo.Problem(rows_only_in_batches, -1, 1, dim=3, vectorized=True, on_error="penalize")
    fitness = problem.evaluate(np.full((4, 3), 0.5))
    assert np.isinf(fitness).all() and problem.error_count == 4  # not X[:, 0], the first entry of each vector


# ---- item 2: arguments a Problem would ignore are refused


@pytest.mark.parametrize("argument", [{"bounds": [(-1, 1)] * 5}, {"vectorized": False}, {"vectorized": True},
                                      {"on_error": "penalize"}, {"timeout": 1.0}, {"bounds": [(-1, 1)] * 2}])
def test_settings_passed_with_a_problem_are_refused(argument):
    problem = scpo.Problem(lambda X: (X**2).sum(1), -10, 10, dim=5, vectorized=True)
    (key,) = argument
    with pytest.raises(ValueError, match=f"^{key}= cannot be combined with a Problem: the Problem carries its own"):
        scpo.minimize(problem, algorithm="de", max_evals=200, seed=0, **argument)
    with pytest.raises(ValueError, match=f"^{key}= cannot be combined with a Problem"):
        scpo.make(problem, "de", seed=0, **argument)


def test_bounds_shorter_than_the_function_reads_are_named():
    def reads_five(x):
        return float(x[4] ** 2 + x[0] ** 2)

    with pytest.raises(scpo.ObjectiveError, match=r"IndexError .*the bounds give 3 variables; pass one \(lb, ub\)"):
        scpo.minimize(reads_five, BOX, algorithm="de", max_evals=200, seed=0)
    with pytest.raises(scpo.ObjectiveError, match=r"candidates have 3 variables, one per \(lb, ub\) pair"):
        scpo.minimize(reads_five, BOX, algorithm="de", max_evals=200, seed=0, vectorized=False)


@pytest.mark.parametrize("algorithm", ["pso", "snes", "cmaes", "random"])
def test_a_box_wider_than_its_float_type_is_refused_not_answered_at_the_bound(algorithm):
    """Every algorithm maps u in [0, 1] to lb + u (ub - lb): an infinite width gave numpy's OverflowError
    tracebacks or, for the ES, the upper bound as the answer (inf, then clipped), whatever the objective."""
    with pytest.raises(ValueError, match=r"^the box is wider than float64 holds: ub\[1\] - lb\[1\]"):
        scpo.minimize(lambda X: X.sum(1), [(-1.0, 1.0), (-1e308, 1e308)], algorithm=algorithm, max_evals=100,
                      vectorized=True)
    if algorithm == "cmaes":
        return  # float32 is numba's and torch's
    with pytest.raises(ValueError, match=r"^dtype='float32' cannot hold the box: lb\[0\]=-3e\+38"):
        scpo.minimize(lambda X: X.sum(1), [(-3e38, 3e38)] * 2, algorithm=algorithm, max_evals=100,
                      vectorized=True, backend="numba", dtype="float32")
    result = scpo.minimize(lambda X: (X / 1e37).sum(1), [(-1e38, 1e38)] * 2, algorithm=algorithm, max_evals=200,
                           vectorized=True, backend="numba", dtype="float32", seed=0)
    assert result.fun < 0  # the lower half of a box float32 holds


def test_make_from_bounds_alone_refuses_settings_of_an_objective():
    with pytest.raises(ValueError, match="^vectorized= describes an objective"):
        scpo.make(BOX, "de", vectorized=False)


# ---- the user's exception, where it happened, and what the objective returned


def fails_on_the_right_half(x):
    if x[0] > 0:
        raise KeyError("no such parameter")
    return float((x**2).sum())


def test_objective_error_keeps_the_users_exception_and_its_frames():
    with pytest.raises(scpo.ObjectiveError, match="raised KeyError") as caught:
        scpo.minimize(fails_on_the_right_half, BOX, algorithm="de", max_evals=300, seed=0)
    assert isinstance(caught.value.__cause__, KeyError) and caught.value.__cause__.__traceback__ is not None
    line = fails_on_the_right_half.__code__.co_firstlineno + 2
    assert caught.value.frames[-1] == (__file__, line)


def test_objective_error_keeps_the_exception_from_joblib_workers():
    X = np.array([[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0]])
    with scpo.Problem(fails_on_the_right_half, -1, 1, dim=3, vectorized=False, executor="joblib", n_jobs=2) as problem:
        with pytest.raises(scpo.ObjectiveError, match="failed on candidate 1: raised KeyError") as caught:
            problem.evaluate(X)
    assert isinstance(caught.value.__cause__, KeyError)
    assert caught.value.frames[-1] == (__file__, fails_on_the_right_half.__code__.co_firstlineno + 2)


class NeedsTwoArguments(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


def test_a_failure_travels_between_processes_even_when_its_exception_cannot():
    try:
        raise NeedsTwoArguments(1, 2)  # pickles, but cannot be rebuilt from its args
    except NeedsTwoArguments as exc:
        failure = _failure("raised NeedsTwoArguments: 1 and 2", exc, ((__file__, 7),))
    copy = pickle.loads(pickle.dumps(failure))
    assert copy == failure and copy.frames == ((__file__, 7),)
    assert isinstance(copy.exception, RuntimeError) and str(copy.exception) == "NeedsTwoArguments: 1 and 2"


@pytest.mark.parametrize("returned, named", [(None, "returned None"), ("abc", "returned a str 'abc'"),
                                             (1 + 2j, "returned a complex value"),
                                             ([1.0, 2.0], r"returned shape \(2,\)")])
def test_a_per_vector_return_that_is_not_a_number_is_named(returned, named):
    with pytest.raises(scpo.ObjectiveError, match=named):
        scpo.minimize(lambda x: returned, BOX, algorithm="de", max_evals=200, seed=0)
    with pytest.raises(scpo.ObjectiveError, match=f"failed on candidate 0: {named}"):
        scpo.Problem(lambda x: returned, -1, 1, dim=3, vectorized=False).evaluate(np.zeros((2, 3)))


@pytest.mark.parametrize("returned, named", [(lambda X: X.sum(1) + 1j, r"complex values of shape \(4,\)"),
                                             (lambda X: [None] * len(X), r"None among values of shape \(4,\)"),
                                             (lambda X: np.array(["1.5"] * len(X)), r"strings of shape \(4,\)")])
def test_a_vectorized_return_that_is_not_real_numbers_is_named_never_cast(returned, named):
    problem = scpo.Problem(returned, -1, 1, dim=3, vectorized=True)
    with pytest.raises(scpo.ObjectiveError, match=f"returned {named} for 4 candidates, expected 4 real numbers"):
        problem.evaluate(np.zeros((4, 3)))


def test_complex_fitness_told_is_refused_not_cast():
    optimizer = scpo.make(BOX, "de", seed=0)
    X = optimizer.ask()
    with pytest.raises(scpo.ObjectiveError, match="complex values"):
        optimizer.tell(X.sum(1) + 1j)


def test_a_complex_tensor_told_to_the_torch_backend_is_refused():
    torch = pytest.importorskip("torch")
    optimizer = scpo.make(BOX, "sca", seed=0, backend="torch")
    X = optimizer.ask()
    with pytest.raises(scpo.ObjectiveError, match="complex values"):
        optimizer.tell(X.sum(1).to(torch.complex128))


def test_the_cli_names_the_users_file_and_line(tmp_path):
    (tmp_path / "sim.py").write_text(
        "def f(x):\n"
        "    if x[1] > 0.5:\n"
        "        raise RuntimeError('simulator diverged\\nat step 3')\n"
        "    return float((x**2).sum())\n"
        "def g(x):\n"
        "    return f(x) + 1 / 0\n"  # fails in the probe, before the run
    )
    root = str(Path(__file__).resolve().parents[1])  # this checkout's cli.py and scpo, whatever is installed
    for function, shown in (("f", "raised RuntimeError: simulator diverged at step 3 (at sim.py:3)"),
                            ("g", "on one it raised ZeroDivisionError: division by zero; pass vectorized=True or False "
                                  "(at sim.py:6)")):
        done = subprocess.run([sys.executable, "-c", "from cli import app; app()", "optimize", f"sim.py:{function}",
                               "--bounds", "-1,1", "--dim", "3", "--evals", "300", "--quiet", "--out", "r"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": root})
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert shown in lines[0], lines[0]


# ---- argument checks of minimize, make and Optimizer


@pytest.mark.parametrize("seed", [1.5, True, "1", -1, np.float64(2.0)])
def test_a_seed_that_is_not_a_non_negative_integer_is_refused(seed):
    with pytest.raises(ValueError, match=re.escape(f"seed must be a non-negative integer or None, got {seed!r}")):
        scpo.minimize(lambda x: float(x @ x), BOX, algorithm="de", max_evals=200, seed=seed)
    with pytest.raises(ValueError, match="^seed must be a non-negative integer"):
        scpo.make(BOX, "de", seed=seed)
    with pytest.raises(ValueError, match="^seed must be a non-negative integer"):
        scpo.Optimizer(scpo.algorithms.create("de"), scpo.problems.get("sphere", 3), seed=seed)


def test_integer_seeds_of_any_integer_type_are_the_same_seed():
    a = scpo.minimize(scpo.problems.get("sphere", 3), algorithm="de", max_evals=200, seed=np.int64(4))
    b = scpo.minimize(scpo.problems.get("sphere", 3), algorithm="de", max_evals=200, seed=4)
    assert a.fun == b.fun and a.seed == b.seed == 4


@pytest.mark.parametrize("fun", [5, "sphere", None])
def test_a_fun_that_is_not_callable_is_refused(fun):
    with pytest.raises(ValueError, match="^fun must be callable"):
        scpo.minimize(fun, BOX)
    if fun is not None:
        with pytest.raises(ValueError, match="^fun must be callable"):
            scpo.make(fun, "de", bounds=BOX)


def test_minimize_passes_on_error_and_timeout_to_the_problem_it_builds():
    result = scpo.minimize(fails_on_the_right_half, BOX, algorithm="de", max_evals=300, seed=0, on_error="penalize",
                           timeout=30.0)
    assert result.success and result.errors > 0 and result.fun == fails_on_the_right_half(result.x)
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'penalize'"):
        scpo.minimize(fails_on_the_right_half, BOX, on_error="ignore")


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"^resume=True needs checkpoint=PATH"):
        scpo.minimize(scpo.problems.get("sphere", 3), algorithm="de", max_evals=200, seed=0, resume=True)
    with pytest.raises(ValueError, match=r"^checkpoint_every needs checkpoint=PATH"):
        scpo.minimize(scpo.problems.get("sphere", 3), algorithm="de", max_evals=200, seed=0, checkpoint_every=2)
