"""Our own CMA-ES (issue #27 item 2) against ``cma``, the oracle: it solves the classic unimodal functions in a
budget near ``cma``'s, and its evaluations to a target on the ellipsoid stay within 1.5x of ``cma``'s for the
same seeds (the comparison that can fail). The full rank-sum comparison on F1-F13 and BBOB is
experiments/cmaes_oracle.py (results in experiments/results/cmaes_oracle.md)."""

from __future__ import annotations

import numpy as np
import pytest

import scpo
from scpo.algorithms.cmaes import CMAES, CRITERIA, cma_params

DIM = 5
BOX = [(-5.0, 5.0)] * DIM


def sphere(X):
    return (X ** 2).sum(1)


def ellipsoid(X):
    return (10 ** (6 * np.arange(X.shape[1]) / (X.shape[1] - 1)) * X ** 2).sum(1)


def rosenbrock(X):
    return (100 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1 - X[:, :-1]) ** 2).sum(1)


def evals_to(fn, seed: int, implementation: str, target: float = 1e-8, budget: int = 6000, **kwargs) -> float:
    """Evaluations until a sample's value is below ``target`` (inf if never), without restarts."""
    opt = scpo.make(fn, "cmaes", bounds=BOX, vectorized=True, seed=seed, max_evals=budget,
                    implementation=implementation, restarts=False, **kwargs)
    while not opt.done:
        f = fn(opt.ask())
        opt.tell(f)
        if f.min() < target:
            return opt.nfev
    return np.inf


@pytest.mark.parametrize(("fn", "budget"), [(sphere, 1200), (ellipsoid, 2500), (rosenbrock, 4000)])
def test_solves_the_unimodal_functions_in_a_budget_near_cmas(fn, budget):
    # cma 4.5 with the same population (8), sigma0 and start needs about 800, 1,400 and 1,900 evaluations here
    # (the median of 5 seeds); on rosenbrock both end in its local optimum for seed 0: the median of 3 seeds
    needed = [evals_to(fn, seed, "own", budget=budget) for seed in range(3)]
    assert np.median(needed) <= budget, (fn.__name__, needed)


def test_ellipsoid_evaluations_to_target_are_within_1_5x_of_cma():
    ours = np.median([evals_to(ellipsoid, seed, "own") for seed in range(5)])
    theirs = np.median([evals_to(ellipsoid, seed, "cma") for seed in range(5)])
    assert ours <= 1.5 * theirs, (ours, theirs)


def test_an_optimum_in_a_corner_of_the_box_is_reached():
    """Bound handling: the samples clipped to the box teach the distribution (its mean stays inside)."""
    corner = np.array([5.0, -5.0, 5.0, 5.0, -5.0])
    result = scpo.minimize(lambda X: ((X - corner) ** 2).sum(1), bounds=BOX, vectorized=True, algorithm="cmaes",
                           max_evals=1500, seed=0, restarts=False)
    assert result.fun < 1e-10 and np.all(np.abs(result.center) <= 5.0), (result.fun, result.center)


def test_nonfinite_values_rank_last_and_leave_the_state_finite():
    def holes(X):
        f = sphere(X)
        f[X[:, 0] > 2.0] = np.nan
        f[X[:, 1] > 2.0] = np.inf
        return f

    opt = scpo.make(holes, "cmaes", bounds=BOX, vectorized=True, seed=1, max_evals=1500, restarts=False)
    while not opt.done:
        opt.tell(holes(opt.ask()))
    state = opt.state
    assert opt.result().fun < 1e-8 and all(np.isfinite(v).all() for v in (state.m, state.C, state.sigma))


def test_flat_fitness_stops_and_restarts():
    opt = scpo.make(lambda X: np.ones(len(X)), "cmaes", bounds=BOX, vectorized=True, seed=0, max_iter=4,
                    restarts=False)
    for _ in range(3):  # the initial population, then two flat generations
        opt.tell(np.ones(len(opt.ask())))
        assert opt.nit < 3 or "tolflatfitness" in opt.algorithm.converged(opt.state)
    assert opt.algorithm.converged(opt.state) == "cmaes stopped: tolfun, tolflatfitness"
    restarted = scpo.minimize(lambda X: np.ones(len(X)), bounds=BOX, vectorized=True, algorithm="cmaes",
                              max_iter=8, seed=0)
    assert restarted.nit == 8


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_own_restarts_happen_on_numpy_and_torch(backend):
    if backend == "torch":
        pytest.importorskip("torch")
    fn = scpo.problems.get("sphere", 2, seed=0)
    opt = scpo.make(fn, "cmaes", seed=0, max_evals=1200, pop_size=6, backend=backend)
    while not opt.done:
        opt.tell(fn.evaluate(opt.ask()))
    assert float(opt.state.restarts) >= 1 and opt.result().fun < 1e-10


def test_parameters_are_the_tutorials():
    p = cma_params(10, 10)
    assert p.mu == 5 and p.weights[:5].sum() == pytest.approx(1.0) and np.all(p.weights[5:] <= 0)
    assert p.mu_eff == pytest.approx(3.1672, abs=1e-4)  # Hansen's tutorial, lambda = 10
    assert p.c1 == pytest.approx(2 / (11.3 ** 2 + p.mu_eff))
    assert len(CRITERIA) == 7


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"implementation": "pycma"}, "implementation must be one of auto, own, cma, got 'pycma'"),
    ({"implementation": "own", "cma_options": {"tolx": 1e-3}}, "give implementation='cma' with them"),
])
def test_bad_implementation_options_are_one_line_errors(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        CMAES(**kwargs)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_cma_options_alone_still_select_cma():
    assert CMAES(cma_options={"tolx": 1e-3}).implementation == "cma" and CMAES().implementation == "own"
    assert CMAES().checkpointable and not CMAES(implementation="cma").checkpointable
