"""Integer and mixed variables (issue #26, item 2): ``integrality=`` as scipy's ``differential_evolution``.

The integral coordinates are integral in every row the objective is handed (the ``vectorized="auto"``
probe's included), on every backend, and in ``x``; ``nfev`` still counts exactly those rows.
"""

from __future__ import annotations

import numpy as np
import pytest

import scpo
from scpo.backends import numba_backend, torch_backend

BOUNDS = [(-5, 5), (-1.5, 1.5), (-3, 4)]
MASK = np.array([True, False, True])
CENTRE = np.array([2.3, 0.4, -1.7])  # the integral optimum: (2, 0.4, -2)
NUMBA = sorted(cls.name for cls in numba_backend.ADAPTED)
TORCH = sorted(cls.name for cls in torch_backend.ADAPTED)


class Recording:
    """A shifted sphere that keeps every row it is handed (numpy arrays or torch tensors, as float64)."""

    def __init__(self):
        self.rows: list[np.ndarray] = []

    def __call__(self, X):
        values = np.array(X.detach().cpu().numpy() if hasattr(X, "detach") else X, dtype=np.float64)
        self.rows.append(np.atleast_2d(values))
        centre = X.new_tensor(CENTRE) if hasattr(X, "new_tensor") else CENTRE
        return ((X - centre) ** 2).sum(-1)

    def seen(self) -> np.ndarray:
        return np.concatenate(self.rows)


def integral(X: np.ndarray, mask=MASK) -> bool:
    return bool(np.all(X[..., mask] == np.round(X[..., mask])))


def check_run(algorithm: str, backend: str = "numpy", max_evals: int = 301, **settings) -> scpo.OptimizeResult:
    f = Recording()
    result = scpo.minimize(f, BOUNDS, algorithm=algorithm, max_evals=max_evals, seed=1, backend=backend,
                           integrality=MASK, **settings)
    rows = f.seen()
    assert integral(rows), rows[~np.all(rows[:, MASK] == np.round(rows[:, MASK]), axis=1)][:3]
    assert integral(result.x), result.x
    assert len(rows) == result.nfev <= max_evals, (len(rows), result.nfev)
    assert not integral(rows, ~MASK)  # the continuous coordinate stays continuous
    return result


@pytest.mark.parametrize("algorithm", scpo.algorithm_names())
def test_every_row_and_x_are_integral_numpy(algorithm):
    check_run(algorithm)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("algorithm", NUMBA)
def test_every_row_and_x_are_integral_numba(algorithm, dtype):
    check_run(algorithm, "numba", dtype=dtype)


@pytest.mark.parametrize("step", ["fused", "eager"])
@pytest.mark.parametrize("algorithm", TORCH)
def test_every_row_and_x_are_integral_torch(algorithm, step):
    check_run(algorithm, scpo.backends.get("torch", step=step), vectorized=True)


@pytest.mark.skipif(not torch_backend.torch.cuda.is_available(), reason="no cuda device")
@pytest.mark.parametrize("algorithm", ["scpo", "snes"])
def test_every_row_is_integral_on_cuda_and_rounded_there(algorithm):
    seen = []

    def f(X):
        assert X.is_cuda
        seen.append(X.cpu().numpy().copy())
        return ((X - X.new_tensor(CENTRE)) ** 2).sum(1)

    result = scpo.minimize(f, BOUNDS, algorithm=algorithm, max_evals=301, seed=1, backend="torch", device="cuda",
                           vectorized=True, integrality=MASK)
    rows = np.concatenate(seen)
    assert integral(rows) and integral(result.x) and len(rows) == result.nfev <= 301


@pytest.mark.parametrize("algorithm", ["de", "pso", "scpo", "sep-cmaes"])
def test_a_mixed_problem_reaches_its_integral_optimum(algorithm):
    """Sphere centred at 2.3 and -1.7 in the integral coordinates: the optimum is x = (2, 0.4, -2)."""
    result = check_run(algorithm, max_evals=3000)
    assert result.x[0] == 2 and result.x[2] == -2, result.x
    assert abs(result.x[1] - 0.4) < 1e-2 and result.fun == pytest.approx(0.18, abs=1e-3)


def test_the_members_are_the_rounded_points():
    """Population algorithms keep the points that were evaluated: their members are integral."""
    optimizer = scpo.make(Recording(), "de", bounds=BOUNDS, seed=0, max_evals=300, integrality=MASK)
    optimizer.run()
    assert integral(optimizer.state.X)


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
def test_the_initial_population_gives_each_integer_the_same_chance(backend):
    """A uniform draw rounded would give 0 and 2 a quarter each and 1 a half: each gets a third."""
    optimizer = scpo.make([(0, 2), (0, 1)], "random", seed=0, pop_size=6000, backend=backend,
                          integrality=[True, False])
    X = np.asarray(optimizer.impl.to_numpy(optimizer.ask()))
    shares = np.bincount(X[:, 0].astype(int), minlength=3) / len(X)
    assert shares.size == 3 and np.allclose(shares, 1 / 3, atol=0.03), shares
    optimizer.tell(np.zeros(len(X)))
    later = np.asarray(optimizer.impl.to_numpy(optimizer.ask()))  # random search: every ask is uniform
    assert np.allclose(np.bincount(later[:, 0].astype(int), minlength=3) / len(later), 1 / 3, atol=0.03)


def test_ask_returns_rounded_candidates_and_tell_refuses_non_integral_ones():
    optimizer = scpo.make(BOUNDS, "pso", seed=0, pop_size=8, integrality=MASK)
    X = optimizer.ask()
    assert integral(X) and not X.flags.writeable
    repaired = X.copy()
    repaired[0, 0] += 0.5
    with pytest.raises(ValueError, match=r"^candidates has 1 non-integral entries in the integral coordinates \[0, 2"):
        optimizer.tell(np.zeros(len(X)), candidates=repaired)
    optimizer.tell(np.zeros(len(X)), candidates=X.copy())
    with pytest.raises(ValueError, match="non-integral"):
        optimizer.replace_members([0], repaired[:1], [0.0])


def test_a_given_initial_population_is_rounded():
    start = np.full((8, 3), [0.6, 0.6, 1.4])
    optimizer = scpo.make(BOUNDS, "de", seed=0, pop_size=8, integrality=MASK, initial_population=start)
    X = optimizer.ask()
    assert np.array_equal(X, np.full((8, 3), [1.0, 0.6, 1.0]))


def test_a_scalar_broadcasts_and_all_false_is_continuous():
    assert scpo.Problem(Recording(), [0, 0], [3, 3], integrality=True).integrality.tolist() == [True, True]
    assert scpo.Problem(Recording(), [0, 0], [3, 3], integrality=[0, 1]).integrality.tolist() == [False, True]
    assert scpo.Problem(Recording(), [0, 0], [3.5, 3], integrality=[False, False]).integrality is None


@pytest.mark.parametrize("bounds, integrality, message", [
    ([(-5, 5.5), (0, 1)], [True, False], r"^integrality: dimension 0 is integral but its bound ub\[0\]=5\.5 is not "),
    ([(0, 1), (0.25, 3)], [False, True], r"^integrality: dimension 1 is integral but its bound lb\[1\]=0\.25 "),
    ([(0, 1), (0, 3)], [True, False, True], r"^integrality must give one boolean per dimension \(2\) or one for all, "
                                            r"got shape \(3,\)"),
    ([(0, 1), (0, 3)], [True], r"^integrality must give one boolean per dimension \(2\)"),
    ([(0, 1), (0, 3)], [0, 2], r"^integrality must be booleans"),
    ([(0, 1), (0, 3)], [0.0, 1.0], r"^integrality must be booleans"),
    ([(0, 1), (0, 3)], "yes", r"^integrality must be booleans"),
])
def test_bad_integrality_is_refused_in_one_line(bounds, integrality, message):
    for call in (lambda: scpo.minimize(Recording(), bounds, integrality=integrality, max_evals=100),
                 lambda: scpo.make(bounds, "de", integrality=integrality)):
        with pytest.raises(ValueError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)


def test_integrality_with_a_problem_that_carries_its_own_is_refused():
    problem = scpo.Problem(Recording(), *np.array(BOUNDS).T, integrality=MASK)
    with pytest.raises(ValueError, match=r"^integrality= cannot be combined with a Problem"):
        scpo.minimize(problem, integrality=[True, True, True])
    result = scpo.minimize(problem, algorithm="de", max_evals=200, seed=0)  # the Problem's own is honoured
    assert integral(result.x) and integral(problem.objective.seen())


def test_a_checkpoint_belongs_to_its_integrality(tmp_path):
    settings = dict(algorithm="de", max_iter=12, seed=3, pop_size=8, vectorized=True)
    full = scpo.minimize(Recording(), BOUNDS, integrality=MASK, **settings)
    path = tmp_path / "run.ck"
    scpo.minimize(Recording(), BOUNDS, integrality=MASK, checkpoint=path, checkpoint_every=2,
                  callback=lambda p: p.nit >= 6, **settings)
    with pytest.raises(ValueError, match=r"belongs to another run: integrality=\[0, 2\], this run has \[0\]"):
        scpo.minimize(Recording(), BOUNDS, integrality=[True, False, False], checkpoint=path, resume=True, **settings)
    resumed = scpo.minimize(Recording(), BOUNDS, integrality=MASK, checkpoint=path, resume=True, **settings)
    assert resumed.fun == full.fun and np.array_equal(resumed.x, full.x)


def test_cli_integrality(tmp_path):
    from test_cli import invoke, one_line_error

    (tmp_path / "obj.py").write_text("import numpy as np\n\ndef f(X):\n"
                                     "    return ((np.asarray(X) - [2.3, 0.4, -1.7]) ** 2).sum(-1)\n")
    common = ("optimize", "obj.py:f", "--bounds", "-5,5", "--dim", "3", "--algo", "de", "--evals", "900", "--quiet")
    done = invoke(*common, "--integrality", "1,0,1", "--json", "r.json", "--out", "run", cwd=tmp_path)
    assert done.exit_code == 0, done.output
    import json

    summary = json.loads((tmp_path / "r.json").read_text())
    x = np.array(summary["best_x"])
    assert summary["integrality"] == [1, 0, 1] and x[0] == 2 and x[2] == -2, summary
    one_line_error(invoke(*common, "--integrality", "1,2,0", cwd=tmp_path), "--integrality '1,2,0'", "0 or 1")
    one_line_error(invoke(*common, "--integrality", "1,0", cwd=tmp_path), "integrality", "(3)")
    one_line_error(invoke("optimize", "rastrigin", "--dim", "2", "--integrality", "1", cwd=tmp_path),
                   "bound lb[0]=-5.12 is not an integer")
