"""scpo.bbob_functions against COCO's own functions (cocoex.BareProblem), the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from scpo.bbob import DIMS, FUNCTIONS

cocoex = pytest.importorskip("cocoex")
from scpo.bbob_functions import BBOBFunction, compute_fopt, uniform  # noqa: E402

RTOL = 1e-9
RTOL_KATSUURA = 1e-8  # f23 is fractal: the rotation's last-bit differences come out near 1e-9 at some points


def instances_for(function: int, dim: int) -> list[int]:
    """Three of instances 1-15 per (function, dim); over the six dimensions every function meets each instance."""
    k = DIMS.index(dim)
    return sorted({(function + 5 * j + 3 * k) % 15 + 1 for j in range(3)})


@pytest.mark.parametrize("function", FUNCTIONS)
def test_matches_cocoex_at_random_points_and_the_optimum(function):
    rng = np.random.default_rng(function)
    rtol = RTOL_KATSUURA if function == 23 else RTOL
    for dim in DIMS:
        for instance in instances_for(function, dim):
            bare = cocoex.BareProblem("bbob", function, dim, instance)
            ours = BBOBFunction(function, dim, instance)
            assert ours.best_value() == bare.best_value(), (function, dim, instance)
            X = np.vstack([rng.uniform(-5, 5, (6, dim)),  # the domain
                           rng.uniform(-9, 9, (3, dim)),  # outside it: the penalties
                           rng.uniform(-1e-3, 1e-3, (1, dim)),  # near zero (T_osz, T_asy)
                           bare.best_parameter()[None]])
            expected = np.array([bare(x) for x in X])
            got = ours(X)
            # relative to the larger of f and f - f_opt: f can cancel to near 0 where f_opt < 0
            scale = np.maximum(np.abs(expected), np.abs(expected - bare.best_value()))
            assert np.all(np.abs(got - expected) <= rtol * scale), \
                (function, dim, instance, np.max(np.abs(got - expected) / scale))
            # f(x_opt) == f_opt (to the last bits: f20's own optimum is COCO's rounded 420.96874633)
            assert got[-1] == pytest.approx(bare.best_value(), rel=1e-14, abs=1e-14), (function, dim, instance)
            single = ours(X[0])  # one point as a vector
            assert abs(single - expected[0]) <= rtol * scale[0], (function, dim, instance)


def test_generator_matches_the_legacy_code():
    """COCO's uniform generator and fopt, through the values cocoex gives (f1: x_opt = 8 floor(1e4 u) / 1e4 - 4)."""
    u = uniform(5, 1 + 10000 * 3)
    bare = cocoex.BareProblem("bbob", 1, 5, 3)
    np.testing.assert_array_equal(8 * np.floor(1e4 * u) / 1e4 - 4, bare.best_parameter())
    assert compute_fopt(1, 3) == bare.best_value()
    assert np.all((u > 0) & (u < 1))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="function 25"):
        BBOBFunction(25, 2, 1)
    with pytest.raises(ValueError, match="dimension"):
        BBOBFunction(1, 1, 1)
    with pytest.raises(ValueError, match="instance"):
        BBOBFunction(1, 2, 0)
    with pytest.raises(ValueError, match="dimension 3"):
        BBOBFunction(1, 3, 1)(np.zeros((2, 4)))
