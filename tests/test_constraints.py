"""Constraints (issue #26 item 1): Deb's feasibility rules in every algorithm's comparisons, on every backend.

The reference problem: minimise ``sum(x**2)`` subject to ``sum(x) >= 1`` in d = 3. The constraint is
active at the optimum, known analytically: ``x* = (1/3, 1/3, 1/3)``, ``f* = 1/3``; the unconstrained
optimum (f = 0) is infeasible, so a run that ignored the constraint would fail these tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cli import invoke
from scipy.optimize import LinearConstraint, NonlinearConstraint

import scpo
from scpo.constraints import feasibility_key

DIM, F_STAR = 3, 1 / 3
BOUNDS = [(-5.0, 5.0)] * DIM


def sphere(X):
    return (X**2).sum(1)


def at_least_one(X):
    """g(x) = 1 - sum(x) <= 0, vectorized: one constraint, shape (N,)."""
    return 1 - X.sum(1)


# how close each algorithm gets in 3,000 evaluations (random search: feasible, nothing more)
TOLERANCE = {"random": 0.5, "sca": 0.02, "sep-cmaes": 0.03, "snes": 0.03}


@pytest.mark.parametrize("algorithm", scpo.algorithm_names())
def test_every_algorithm_finds_the_optimum_on_the_active_constraint(algorithm):
    evaluated = []

    def f(X):
        evaluated.append(len(X))
        return sphere(X)

    result = scpo.minimize(f, BOUNDS, algorithm=algorithm, max_evals=3000, seed=1, constraints=at_least_one,
                           vectorized=True)
    assert result.success and result.constraint_violation == 0.0, result.message
    assert result.x.sum() >= 1 and np.all(np.abs(result.x) <= 5)
    assert result.fun == sphere(result.x[None])[0]
    assert F_STAR <= result.fun <= F_STAR + TOLERANCE.get(algorithm, 0.01), (algorithm, result.fun, result.x)
    assert result.nfev == sum(evaluated) <= 3000  # constraint evaluations are not objective evaluations


@pytest.mark.parametrize(("backend", "algorithm", "dtype"), [
    ("numba", "scpo", "float64"), ("numba", "sca", "float32"), ("torch", "scpo", "float64"),
    ("torch", "snes", "float32"), ("torch", "po", "float32"),
])
def test_other_backends_follow_the_same_rules(backend, algorithm, dtype):
    result = scpo.minimize(sphere, BOUNDS, algorithm=algorithm, max_evals=3000, seed=1, constraints=at_least_one,
                           backend=backend, dtype=dtype, vectorized=True)
    assert result.success and result.constraint_violation == 0.0
    assert result.x.sum() >= 1 - 1e-6 and F_STAR <= result.fun + 1e-6 <= F_STAR + 0.03
    assert len(result.history["violation"]) == len(result.history["best"]) and result.history["violation"][-1] == 0


def test_the_key_orders_by_debs_rules_on_numpy_and_torch():
    import torch

    rng = np.random.default_rng(0)
    f = np.concatenate([rng.normal(0, 1e6, 50), [-1e300, 1e300, np.inf]])
    v = np.where(rng.random(f.size) < 0.5, 0.0, rng.exponential(3, f.size) * 10.0 ** rng.integers(-12, 12, f.size))
    v[-3:] = [7.0, 0.0, 0.0]
    keys = feasibility_key(f, v)
    expected = sorted(range(f.size), key=lambda i: (v[i] > 0 or np.isinf(f[i]), np.isinf(f[i]),
                                                    v[i] if v[i] > 0 else f[i]))
    assert np.array_equal(np.argsort(keys, kind="stable"), np.array(expected))
    assert np.array_equal(keys[v == 0][np.isfinite(f[v == 0]) & (np.abs(f[v == 0]) < 1e200)],
                          f[v == 0][np.isfinite(f[v == 0]) & (np.abs(f[v == 0]) < 1e200)])  # feasible: f itself
    tensor_keys = feasibility_key(torch.as_tensor(f), torch.as_tensor(v)).numpy()
    assert np.array_equal(tensor_keys, keys)
    f32, v32 = np.array([1e35, -3.0, 2.0, 2.0], np.float32), np.array([0.0, 0.0, 1e-3, 5.0], np.float32)
    assert np.argsort(feasibility_key(f32, v32)).tolist() == [1, 0, 2, 3]  # no overflow in float32


def test_the_best_so_far_prefers_feasible_then_least_violation():
    """ask/tell from bounds alone: the engine evaluates the constraints itself."""
    opt = scpo.make(BOUNDS, "random", pop_size=4, max_evals=8, seed=0, constraints=at_least_one)
    X = opt.ask()
    infeasible_low_f, feasible = np.full(DIM, 0.1), np.full(DIM, 1.0)
    worse, better = np.full(DIM, -2.0), np.full(DIM, 0.0)  # violations 7 and 1
    told = np.array([infeasible_low_f, worse, feasible, better])
    opt.tell(sphere(told), candidates=np.clip(told, -5, 5))
    assert np.array_equal(opt.result().x, feasible) and opt.result().constraint_violation == 0
    X = opt.ask()
    only_infeasible = np.array([worse, better, worse, better])
    opt.tell(np.zeros(4), candidates=only_infeasible)  # a lower f never beats feasibility
    assert np.array_equal(opt.result().x, feasible)
    assert X.shape == (4, DIM)

    two = scpo.make(BOUNDS, "random", pop_size=2, max_evals=2, seed=0, constraints=at_least_one)
    two.ask()
    two.tell(np.array([0.0, 100.0]), candidates=np.array([worse, better]))
    result = two.result()
    assert np.array_equal(result.x, better) and result.constraint_violation == pytest.approx(1.0)
    assert result.fun == 100.0 and not result.success and "no feasible point" in result.message


def as_rows(fun):
    return lambda x: np.atleast_1d(fun(np.asarray(x)[None])[0])


@pytest.mark.parametrize("form", ["vectorized (N,)", "vectorized (N, m)", "per point", "nonlinear", "linear", "list"])
def test_every_form_of_constraint_gives_the_same_run(form):
    two = lambda X: np.column_stack([1 - X.sum(1), X[:, 0] - 4])  # noqa: E731 (the second is inactive)
    constraints = {
        "vectorized (N,)": at_least_one,
        "vectorized (N, m)": two,
        "per point": lambda x: [1 - x.sum(), x[0] - 4],
        "nonlinear": NonlinearConstraint(lambda x: x.sum(), 1, np.inf),
        "linear": LinearConstraint(np.ones((1, DIM)), 1, np.inf),
        "list": [at_least_one, LinearConstraint(np.eye(DIM)[:1], -np.inf, 4)],
    }[form]
    equivalent = two if form in ("vectorized (N, m)", "per point", "list") else at_least_one
    reference = scpo.minimize(sphere, BOUNDS, algorithm="de", max_evals=600, seed=3, constraints=equivalent)
    result = scpo.minimize(sphere, BOUNDS, algorithm="de", max_evals=600, seed=3, constraints=constraints)
    assert np.array_equal(result.x, reference.x) and result.fun == reference.fun
    X = np.random.default_rng(1).uniform(-5, 5, (50, DIM))
    X[:, 0] = np.where(np.arange(50) % 5 == 0, 4.5, X[:, 0])  # some rows break x0 <= 4 too
    problem = scpo.Problem(sphere, -5.0, 5.0, dim=DIM, constraints=constraints)
    expected = np.maximum(1 - X.sum(1), 0)
    if form in ("vectorized (N, m)", "per point", "list"):
        expected = expected + np.maximum(X[:, 0] - 4, 0)
    assert np.allclose(problem.violation(X), expected)


def test_a_nan_constraint_value_is_an_infinite_violation():
    problem = scpo.Problem(sphere, -1.0, 1.0, dim=2, constraints=lambda X: np.where(X[:, 0] > 0, np.nan, -1.0))
    assert problem.violation(np.array([[0.5, 0.0], [-0.5, 0.0]])).tolist() == [np.inf, 0.0]
    result = scpo.minimize(problem, algorithm="de", max_evals=400, seed=0)
    assert result.success and result.x[0] <= 0


def test_a_resumed_constrained_run_equals_the_uninterrupted_one(tmp_path):
    settings = dict(algorithm="de", max_iter=30, seed=5, pop_size=12, constraints=at_least_one)
    full = scpo.minimize(sphere, BOUNDS, **settings)
    path = tmp_path / "run.ck"
    stopped = scpo.minimize(sphere, BOUNDS, **settings, checkpoint=path, checkpoint_every=4,
                            callback=lambda p: p.nit >= 13)
    assert stopped.nit < 30
    resumed = scpo.minimize(sphere, BOUNDS, **settings, checkpoint=path, resume=True)
    assert resumed.fun == full.fun and np.array_equal(resumed.x, full.x)
    assert resumed.constraint_violation == full.constraint_violation == 0.0
    assert resumed.history["best"] == full.history["best"]
    assert resumed.history["violation"] == full.history["violation"]
    with pytest.raises(ValueError, match="constraints"):  # the same checkpoint, the constraint dropped
        scpo.minimize(sphere, BOUNDS, algorithm="de", max_iter=30, seed=5, pop_size=12, checkpoint=path, resume=True)


def test_the_history_shows_the_objective_and_the_violation_never_the_key():
    result = scpo.minimize(sphere, BOUNDS, algorithm="scpo", max_evals=2000, seed=2,
                           constraints=lambda X: 2.5 - X.sum(1))  # the start is mostly infeasible
    best, violation = np.array(result.history["best"]), np.array(result.history["violation"])
    assert np.all(best < 100) and violation[0] >= 0 and violation[-1] == 0
    feasible = violation == 0
    assert np.all(np.diff(best[feasible]) <= 0)  # once feasible, the best only improves
    assert np.all(np.diff(violation) <= 0)


@pytest.mark.parametrize(("constraints", "message"), [
    ("x <= 1", "constraints must be a callable"),
    (lambda X: np.ones((3, 2)), "returned shape"),
    (lambda X: 1 / 0, "ZeroDivisionError"),
    (LinearConstraint(np.ones((1, 2)), 1, np.inf), "LinearConstraint's A has 2 columns"),
])
def test_bad_constraints_are_one_line_errors(constraints, message):
    with pytest.raises(ValueError, match=message) as caught:
        scpo.minimize(sphere, BOUNDS, algorithm="de", max_evals=200, seed=0, constraints=constraints)
    assert "\n" not in str(caught.value)


def test_constraints_with_a_problem_are_refused():
    problem = scpo.Problem(sphere, -5.0, 5.0, dim=DIM)
    with pytest.raises(ValueError, match="constraints= cannot be combined with a Problem"):
        scpo.minimize(problem, constraints=at_least_one, max_evals=100)


def test_cli_constraints(tmp_path):
    (tmp_path / "obj.py").write_text("def f(X):\n    return (X**2).sum(1)\n\n"
                                     "def g(X):\n    return 1 - X.sum(1)\n\n"
                                     "def never(x):\n    return [100 - x.sum()]\n")
    common = ["optimize", "obj.py:f", "--bounds", "-5,5", "--dim", "3", "--quiet", "--algo", "de"]
    ok = invoke(*common, "--constraints", "obj.py:g", "--evals", "1500", "--out", "a", cwd=tmp_path)
    assert ok.exit_code == 0, ok.output
    saved = json.loads((tmp_path / "a" / "result.json").read_text())
    assert saved["constraint_violation"] == 0 and sum(saved["best_x"]) >= 1 and saved["constraints"] == "obj.py:g"
    never = invoke(*common, "--constraints", "obj.py:never", "--evals", "200", "--out", "b", cwd=tmp_path)
    assert never.exit_code == 1 and "no feasible point" in never.output
    assert json.loads((tmp_path / "b" / "result.json").read_text())["constraint_violation"] > 0
    missing = invoke(*common, "--constraints", "obj.py:nope", "--out", "c", cwd=tmp_path)
    assert missing.exit_code == 2 and "has no function 'nope'" in missing.output
