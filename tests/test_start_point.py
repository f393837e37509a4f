"""A start point: ``x0=``/``sigma0=`` for every algorithm (issue 26, item 3).

Distribution algorithms start their mean at ``x0`` with step ``sigma0`` and evaluate no initial
population; population algorithms sample their initial population around ``x0``; ``result.center``
is a distribution's mean; bad values are one-line errors; checkpoints and the CLI carry them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scpo

DISTRIBUTION = ["cmaes", "sep-cmaes", "openai-es", "snes", "pgpe"]
POPULATION = ["sca", "po", "scpo", "pso", "de", "random"]
BOX = [(-10.0, 10.0)] * 4
X0 = np.array([2.0, -3.0, 1.0, 0.5])
N = 16  # even (mirrored samplers), a perfect square (PO, SCPO), >= 4 (sep-CMA-ES, DE)
SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")


def sphere(X):
    return ((np.asarray(X) - 1.0) ** 2).sum(axis=1)


def first_batch(name, sigma0, x0=X0, **kw):
    return np.asarray(scpo.make(BOX, name, seed=0, pop_size=N, max_evals=2000, x0=x0, sigma0=sigma0, **kw).ask())


@pytest.mark.parametrize("name", DISTRIBUTION)
def test_distribution_algorithms_sample_their_first_batch_around_x0(name):
    X = first_batch(name, 0.2)
    assert X.shape == (N, 4)
    assert np.all(np.abs(X.mean(axis=0) - X0) < 4 * 0.2 / np.sqrt(N)), X.mean(axis=0)
    assert np.all(np.abs(X - X0) < 6 * 0.2)  # no uniform population over the box [-10, 10]


@pytest.mark.parametrize("name", POPULATION)
def test_population_algorithms_start_around_x0_with_x0_a_member(name):
    X = first_batch(name, 0.2)
    assert X.shape == (N, 4) and np.array_equal(X[0], X0)
    assert np.all(np.abs(X - X0) <= 4 * 0.2)
    assert len(np.unique(X, axis=0)) == N  # sampled, not N copies of x0


@pytest.mark.parametrize("name", DISTRIBUTION + POPULATION)
def test_sigma0_sets_the_spread_scalar_and_per_coordinate(name):
    small, large = first_batch(name, 0.05), first_batch(name, 0.2)
    ratio = np.std(large - X0) / np.std(small - X0)
    assert 3.0 < ratio < 5.0, ratio  # sigma0 four times larger: four times the spread
    X = first_batch(name, [0.02, 0.02, 0.5, 0.5])
    per_coordinate = np.sqrt(((X - X0) ** 2).mean(axis=0))
    assert per_coordinate[2:].min() > 5 * per_coordinate[:2].max(), per_coordinate


@pytest.mark.parametrize("name", DISTRIBUTION)
def test_no_initial_population_is_evaluated_and_spent_with_x0(name):
    seen = []

    def counted(X):
        seen.append(np.array(X))
        return sphere(X)

    opt = scpo.make(counted, name, bounds=BOX, vectorized=True, seed=1, pop_size=N, max_evals=10 * N, x0=X0,
                    sigma0=0.3)
    opt.ask()
    assert opt.state is not None  # started at x0 before anything was evaluated
    result = scpo.minimize(counted, BOX, algorithm=name, vectorized=True, seed=1, pop_size=N, max_evals=10 * N,
                           x0=X0, sigma0=0.3)
    rows = sum(len(X) for X in seen)
    assert result.nfev == rows == 10 * N and result.nit == 10  # every batch seen was an update of the distribution
    assert np.all(np.abs(seen[0] - X0) < 6 * 0.3)  # the first batch seen is the distribution's, not uniform
    assert result.fun == sphere(result.x[None])[0]  # fun is f(x), the best evaluated sample


@pytest.mark.parametrize(("name", "step"), [("openai-es", 0.002), ("snes", 0.1), ("pgpe", 0.1), ("sep-cmaes", 0.3)])
def test_by_default_the_strategies_start_at_the_box_centre_without_a_uniform_population(name, step):
    """init="center" (the default) used to evaluate a uniform population and throw it away."""
    opt = scpo.make(BOX, name, seed=0, pop_size=N, max_evals=2000)
    X = np.asarray(opt.ask())
    assert opt.state is not None  # the first ask is the distribution's own sample
    assert np.all(np.abs(X.mean(axis=0)) < 4 * step * 20 / np.sqrt(N))  # around the centre 0
    assert np.std(X) < 1.5 * step * 20  # the default step (a share of the side 20), not uniform's std 5.8


@pytest.mark.parametrize("name", DISTRIBUTION)
def test_result_center_is_the_distributions_mean_and_is_not_evaluated(name):
    opt = scpo.make(sphere, name, bounds=BOX, vectorized=True, seed=2, pop_size=N, max_evals=20 * N, x0=X0)
    first = opt.result().center  # before any ask: no distribution yet
    while not opt.done:
        X = opt.ask()
        opt.tell(sphere(X))
    result, state = opt.result(), opt.state
    mean = {"cmaes": lambda: state.m, "sep-cmaes": lambda: state.m,
            "openai-es": lambda: state.theta}.get(name, lambda: state.mu)()
    lb, ub = np.array(BOX).T
    assert first is None and result.center.shape == (4,)
    assert np.allclose(result.center, lb + np.clip(mean, 0, 1) * (ub - lb), rtol=0, atol=1e-12)
    assert result.nfev == 20 * N and result.fun == sphere(result.x[None])[0]


@pytest.mark.parametrize("name", POPULATION)
def test_population_algorithms_have_no_center(name):
    assert scpo.minimize(sphere, BOX, algorithm=name, seed=0, pop_size=N, max_evals=4 * N, x0=X0).center is None


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"x0": [0.0, 0.0, 11.0, 0.0]}, "x0 must lie inside the bounds, got x0[2]=11.0 outside [-10.0, 10.0]"),
    ({"x0": [0.0, 0.0, 0.0]}, "x0 must have length dim=4 (or be one number), got shape (3,)"),
    ({"x0": [0.0, np.nan, 0.0, 0.0]}, "x0 must be finite, got x0[1]=nan"),
    ({"x0": "0,0,0,0"}, "x0 must be a point"),
    ({"x0": X0, "sigma0": 0.0}, "sigma0 must be positive and finite, got sigma0[0]=0.0"),
    ({"x0": X0, "sigma0": [1.0, -1.0, 1.0, 1.0]}, "sigma0 must be positive and finite, got sigma0[1]=-1.0"),
    ({"x0": X0, "sigma0": [1.0, 1.0]}, "sigma0 must have length dim=4 (or be one number), got shape (2,)"),
    ({"x0": X0, "sigma0": np.inf}, "sigma0 must be positive and finite, got sigma0[0]=inf"),
    ({"x0": X0, "sigma0": "big"}, "sigma0 must be a number"),
    ({"x0": X0, "initial_population": np.zeros((N, 4))}, "x0= and initial_population= both set the start"),
    ({"sigma0": 1.0}, "sigma0= needs x0= for 'pso'"),
])
def test_bad_x0_and_sigma0_are_one_line_value_errors(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        scpo.make(BOX, "pso", seed=0, pop_size=N, max_evals=200, **kwargs)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_x0_contradicting_an_es_init_or_cma_stds_is_refused():
    with pytest.raises(ValueError, match="leave init at 'center'"):
        scpo.minimize(sphere, BOX, algorithm="snes", x0=X0, init="best", max_evals=200)
    with pytest.raises(ValueError, match="CMA_stds"):
        scpo.minimize(sphere, BOX, algorithm="cmaes", sigma0=1.0, cma_options={"CMA_stds": [1, 1, 1, 1]},
                      max_evals=200)


def test_sigma0_alone_sets_a_distributions_step_around_its_default_start():
    X = first_batch("snes", 0.01, x0=None)
    assert np.all(np.abs(X) < 6 * 0.01)  # the box centre, step 0.01 (the default would be 0.1 of 20)
    given = np.full((N, 4), 5.0)  # with an initial population, sigma0 is still the step (init="best" starts there)
    opt = scpo.make(BOX, "snes", seed=0, pop_size=N, max_evals=2000, sigma0=0.01, initial_population=given,
                    init="best")
    assert np.array_equal(opt.ask(), given)
    opt.tell(np.arange(N, dtype=float))
    assert np.all(np.abs(np.asarray(opt.ask()) - 5.0) < 6 * 0.01)


@pytest.mark.parametrize(("backend", "name"), [("numba", "sca"), ("numba", "scpo"), ("torch", "po"),
                                               ("torch", "random"), ("torch", "snes"), ("torch", "openai-es"),
                                               ("torch", "pgpe"), ("torch", "sep-cmaes")])
def test_x0_works_on_the_compiled_backends(backend, name):
    if backend == "torch":
        pytest.importorskip("torch")
    opt = scpo.make(BOX, name, seed=0, pop_size=N, max_evals=20 * N, x0=X0, sigma0=0.2, backend=backend)
    X = np.asarray(opt.impl.to_numpy(opt.ask()), dtype=float)
    if name in POPULATION:
        assert np.array_equal(X[0], X0)
    else:
        assert np.all(np.abs(X.mean(axis=0) - X0) < 4 * 0.2 / np.sqrt(N)) and np.all(np.abs(X - X0) < 6 * 0.2)
    opt.tell(sphere(X) if backend == "numba" else opt.impl.as_population(sphere(X)))
    center = opt.result().center
    assert (center is None) == (name in POPULATION)


@pytest.mark.parametrize("name", ["snes", "pso"])
def test_a_run_with_x0_resumes_identically_and_another_x0_is_refused(tmp_path, name):
    problem = scpo.problems.get("rastrigin", 4, shifted=True, seed=3)
    settings = dict(algorithm=name, max_iter=30, seed=5, pop_size=N, x0=[1.0, 2.0, 3.0, 4.0], sigma0=0.5)
    full = scpo.minimize(problem, **settings)
    path = tmp_path / "run.ck"
    stopped = scpo.minimize(problem, **settings, checkpoint=path, checkpoint_every=5, callback=lambda p: p.nit >= 12)
    assert stopped.nit < 30 and path.exists()
    with pytest.raises(ValueError, match="belongs to another run: x0="):
        scpo.minimize(problem, **{**settings, "x0": 0.0}, checkpoint=path, resume=True)
    resumed = scpo.minimize(problem, **settings, checkpoint=path, checkpoint_every=5, resume=True)
    assert resumed.fun == full.fun and np.array_equal(resumed.x, full.x)
    assert resumed.history["best"] == full.history["best"]
    assert (resumed.center is None) == (name == "pso") and np.array_equal(resumed.center, full.center)


def test_cli_x0_and_sigma0(tmp_path):
    args = [SCPO, "optimize", "sphere", "--algo", "snes", "--dim", "3", "--evals", "200", "--quiet"]
    done = subprocess.run([*args, "--x0", "1,2,3", "--sigma0", "0.5", "--out", "run"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "result.json").read_text())
    assert summary["x0"] == [1.0, 2.0, 3.0] and summary["sigma0"] == 0.5 and len(summary["center"]) == 3
    bad = subprocess.run([*args, "--x0", "1,2,300", "--out", "bad"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "x0 must lie inside the bounds, got x0[2]=300.0" in bad.stderr
    old = subprocess.run([*args, "-o", "sigma0=0.2", "--out", "old"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)  # the option's share of the range is not read as units of x
    assert old.returncode == 2 and "the initial step is --sigma0, in the units of x" in old.stderr
