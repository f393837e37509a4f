"""variant="invariant" of SCA and SCPO: translating the problem translates the search (issue #17).

Statistical level: two-sided Wilcoxon rank-sum (``scpo.benchmark.rank_sum``), 8 seeds per
side, fixed seeds; "agree" means p > 0.01. The translated side uses other seeds than the
original side, so the test compares distributions, not one trajectory.
"""

import numpy as np
import pytest

import scpo
from scpo import problems
from scpo.algorithms.sca import sca_move
from scpo.algorithms.scpo_hybrid import scpo_case1, scpo_case1_invariant
from scpo.benchmark import rank_sum
from scpo.problem import Problem

SEEDS = range(8)
LEVEL = 0.01
SHIFT = 40.0  # every coordinate: the box [-5.12, 5.12] moves to about [34.9, 45.1]


def sphere(X):
    return np.sum(X**2, axis=1)


def rastrigin(X):
    return 10 * X.shape[1] + np.sum(X**2 - 10 * np.cos(2 * np.pi * X), axis=1)


def translated(function, dim, shift):
    """f(x - c) on the box moved by c: the whole problem translated."""
    c = np.full(dim, shift) * np.linspace(0.5, 1.5, dim)  # not on the diagonal
    return Problem(lambda X: function(X - c), -5.12 + c, 5.12 + c, name=f"{function.__name__}+c")


def finals(problem, algorithm, seeds, **options):
    return [scpo.minimize(problem, algorithm=algorithm, max_evals=3000, seed=s, **options).fun for s in seeds]


@pytest.mark.parametrize("algorithm", ["sca", "scpo"])
@pytest.mark.parametrize("function", [sphere, rastrigin])
def test_invariant_variant_gives_the_same_distribution_when_translated(algorithm, function):
    dim = 10
    original = finals(Problem(function, -5.12, 5.12, dim=dim), algorithm, SEEDS, variant="invariant")
    moved = finals(translated(function, dim, SHIFT), algorithm, [100 + s for s in SEEDS], variant="invariant")
    p, _ = rank_sum(original, moved)
    assert p > LEVEL, (np.median(original), np.median(moved), p)


@pytest.mark.parametrize("algorithm", ["sca", "scpo"])
def test_published_variant_does_not_translate(algorithm):
    """The same test fails for the published moves: the origin is special to them."""
    dim = 10
    original = finals(Problem(sphere, -5.12, 5.12, dim=dim), algorithm, SEEDS)
    moved = finals(translated(sphere, dim, SHIFT), algorithm, [100 + s for s in SEEDS])
    p, effect = rank_sum(original, moved)
    assert p < LEVEL and effect < 0.5, (np.median(original), np.median(moved), p)


def test_moves_commute_with_translation():
    rng = np.random.default_rng(0)
    X, P, c = rng.normal(size=(6, 4)), rng.normal(size=4), rng.normal(size=4) * 50
    r2, r3, r4 = 2 * np.pi * rng.random((6, 4)), 2 * rng.random((6, 4)), rng.random((6, 4))
    assert np.allclose(sca_move(X + c, P + c, 1.3, r2, r3, r4, invariant=True) - c,
                       sca_move(X, P, 1.3, r2, r3, r4, invariant=True))
    assert not np.allclose(sca_move(X + c, P + c, 1.3, r2, r3, r4) - c, sca_move(X, P, 1.3, r2, r3, r4))
    S, d = rng.normal(size=(6, 4)), rng.random((6, 4))
    d2, d3, d4 = 2 * np.pi * rng.random((6, 4)), 2 * rng.random((6, 4)), rng.random((6, 4))
    moved, safe = scpo_case1_invariant(S + c, P + c, d, 1.1, d2, d3, d4)
    here, _ = scpo_case1_invariant(S, P, d, 1.1, d2, d3, d4)
    assert safe.all() and np.allclose(moved - c, here)
    # the cleared-fraction form: R' (1 - k d3 + d) = (1 - k d3)(1 + d) s* + d k d3 G
    k = 1.1 * np.where(d4 < 0.5, np.sin(d2), np.cos(d2))
    assert np.allclose(here * (1 - k * d3 + d), (1 - k * d3) * (1 + d) * S + d * k * d3 * P)
    # with d3 = 1 it is the derived (published) form, which is then affine too
    published, _ = scpo_case1(S, P, d, 1.1, d2, np.ones_like(d3), d4)
    assert np.allclose(scpo_case1_invariant(S, P, d, 1.1, d2, np.ones_like(d3), d4)[0], published)


def test_denominator_guard_never_gives_nan():
    k_d3 = 1.5  # 1 + d - k d3 = 0 at d = 0.5
    update, safe = scpo_case1_invariant(np.zeros((1, 1)), np.ones(1), np.full((1, 1), 0.5), 1.5,
                                        np.full((1, 1), np.pi / 2), np.full((1, 1), k_d3 / 1.5), np.zeros((1, 1)))
    assert not safe.any() and np.isfinite(update).all()


def test_must_show_sphere_30d_15000_evaluations():
    """Registry's shifted sphere (optimum off the diagonal, same box), d = 30, 15,000 evaluations, 8 seeds:
    the invariant median gap is below 100x for SCA and SCPO; the published one is above 1000x."""
    gaps = {}
    for algorithm in ("sca", "scpo"):
        for variant in ("invariant", None):
            options = {} if variant is None else {"variant": variant}
            medians = [np.median([scpo.minimize(problems.get("sphere", 30, shifted=shifted, seed=s),
                                                algorithm=algorithm, max_evals=15_000, seed=s, **options).fun
                                  for s in SEEDS]) for shifted in (False, True)]
            gaps[(algorithm, variant)] = medians[1] / medians[0]
    assert gaps[("sca", "invariant")] < 100 and gaps[("scpo", "invariant")] < 100, gaps
    assert gaps[("sca", None)] > 1000 and gaps[("scpo", None)] > 1000, gaps


def test_torch_runs_the_invariant_variants_and_numba_refuses():
    torch = pytest.importorskip("torch")
    problem = problems.get("sphere", 5)
    for algorithm in ("sca", "scpo"):
        here = scpo.minimize(problem, algorithm=algorithm, max_iter=5, seed=3, variant="invariant")
        there = scpo.minimize(problem, algorithm=algorithm, max_iter=5, seed=3, variant="invariant",
                              backend=scpo.backends.get("torch", draws="numpy"))
        assert np.isclose(here.fun, there.fun, rtol=1e-9), (algorithm, here.fun, there.fun)
        with pytest.raises(ValueError, match="variant='invariant' has no numba implementation"):
            scpo.minimize(problem, algorithm=algorithm, max_iter=2, seed=0, variant="invariant", backend="numba")
    assert torch is not None


def test_variant_names_are_checked():
    with pytest.raises(ValueError, match="variant must be one of 'published', 'invariant'"):
        scpo.minimize(problems.get("sphere", 2), algorithm="sca", max_iter=2, variant="shifted")
    with pytest.raises(ValueError, match="variant must be one of 'derived', 'printed', 'invariant'"):
        scpo.minimize(problems.get("sphere", 2), algorithm="scpo", max_iter=2, variant="bad")
