"""F1-F13: values at known points, optima, shifts."""

import numpy as np
import pytest

import scpo
from scpo import problems


def value(name, x, **kwargs):
    return problems.get(name, len(x), **kwargs).evaluate(np.asarray([x], dtype=float))[0]


def test_known_values():
    d = 5
    ones = np.ones(d)
    assert value("sphere", ones) == d
    assert value("schwefel222", ones) == d + 1
    assert value("schwefel12", ones) == sum(i * i for i in range(1, d + 1))
    assert value("schwefel221", np.arange(-3.0, 2.0)) == 3
    assert value("rosenbrock", np.zeros(d)) == d - 1
    assert value("step", np.full(d, 0.4)) == 0 and value("step", np.full(d, 0.6)) == d
    assert value("rastrigin", np.full(d, 0.5)) == pytest.approx(d * (0.25 + 20))
    assert 0 <= value("quartic", np.zeros(d)) < 1


@pytest.mark.parametrize("name", problems.names())
@pytest.mark.parametrize("shifted", [False, True])
def test_optimum_is_where_the_literature_says(name, shifted):
    problem = problems.get(name, 10, shifted=shifted, seed=3)
    assert np.all(problem.x_opt >= problem.lb) and np.all(problem.x_opt <= problem.ub)
    at_optimum = problem.evaluate(problem.x_opt[None, :])[0]
    tolerance = 1.0 if name == "quartic" else 1e-6 * max(1.0, abs(problem.f_opt))
    assert at_optimum == pytest.approx(problem.f_opt, abs=tolerance)
    rng = np.random.default_rng(0)
    around = problem.evaluate(rng.uniform(problem.lb, problem.ub, (200, 10)))
    assert np.all(around >= at_optimum - tolerance)


def test_shift_moves_the_optimum_off_the_diagonal_and_is_seeded():
    a = problems.get("rastrigin", 30, shifted=True, seed=1)
    b = problems.get("rastrigin", 30, shifted=True, seed=1)
    c = problems.get("rastrigin", 30, shifted=True, seed=2)
    assert np.array_equal(a.x_opt, b.x_opt) and not np.array_equal(a.x_opt, c.x_opt)
    assert np.ptp(a.x_opt) > 1.0


def test_rotated_keeps_the_optimum():
    problem = problems.get("rastrigin", 8, shifted=True, rotated=True, seed=4)
    assert problem.evaluate(problem.x_opt[None, :])[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="not offered rotated"):
        problems.get("step", 8, rotated=True)


def test_aliases_and_names():
    assert problems.names()[8] == "rastrigin"
    assert problems.get("f9", 3).name == "rastrigin"
    assert set(scpo.algorithm_names()) >= {"sca", "po", "scpo", "random"}
