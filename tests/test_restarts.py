"""Restarts (issue 26 item 5): IPOP doubles the population, BIPOP alternates its regimes, one budget, the best
over all runs, reproducible, resumable bit for bit, refused clearly when misused."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _cli import invoke

import scpo
from scpo.restarts import population_at_least

RASTRIGIN = scpo.problems.get("rastrigin", 4, shifted=True, seed=0)
SPHERE = scpo.problems.get("sphere", 3, shifted=True, seed=0)


def f_of(problem, x) -> float:
    return float(problem.evaluate(np.asarray(x)[None, :])[0])


@pytest.mark.parametrize(("algorithm", "first"), [("sep-cmaes", 8), ("de", 30), ("snes", 8)])
def test_ipop_doubles_the_population_at_each_restart(algorithm, first):
    result = scpo.minimize(RASTRIGIN, algorithm=algorithm, max_iter=10, max_evals=3000, seed=0, restarts="ipop")
    sizes = result.restart_pop_sizes
    assert result.restarts == len(sizes) - 1 >= 2
    assert sizes == [first * 2**k for k in range(len(sizes))]
    assert result.restart_regimes == ["large"] * len(sizes)
    assert sum(result.restart_evals) <= result.nfev <= 3000


def test_ipop_rounds_po_to_the_next_perfect_square():
    result = scpo.minimize(SPHERE, algorithm="po", parties=4, max_iter=5, max_evals=3000, seed=0, restarts="ipop")
    assert result.restart_pop_sizes[:3] == [16, 36, 64]  # 16, then 32 -> 36 (6 parties), 64
    assert population_at_least(scpo.algorithms.create("po"), 129, 3) == 144


def test_bipop_alternates_regimes_by_the_evaluations_each_has_spent():
    result = scpo.minimize(RASTRIGIN, algorithm="sep-cmaes", max_iter=20, max_evals=4000, seed=1,
                           restarts="bipop")
    regimes, sizes, evals = result.restart_regimes, result.restart_pop_sizes, result.restart_evals
    assert {"large", "small"} <= set(regimes) and regimes[0] == "large"
    assert regimes.count("large") >= 3 and regimes.count("small") >= 3
    for k in range(1, len(regimes)):  # the regime that has spent fewer evaluations runs next
        small = sum(e for e, r in zip(evals[:k], regimes[:k], strict=True) if r == "small")
        large = sum(e for e, r in zip(evals[:k], regimes[:k], strict=True) if r == "large")
        assert regimes[k] == ("small" if small < large else "large"), (k, small, large)
    large_sizes = [n for n, r in zip(sizes, regimes, strict=True) if r == "large"]
    assert large_sizes == [8 * 2**k for k in range(len(large_sizes))]
    for k, (n, r) in enumerate(zip(sizes, regimes, strict=True)):
        if r == "small":  # between the default and the last large run's population
            last_large = max(m for m, q in zip(sizes[:k], regimes[:k], strict=True) if q == "large")
            assert 8 <= n <= last_large
    assert len(set(sizes[i] for i, r in enumerate(regimes) if r == "small")) > 1  # drawn, not fixed


@pytest.mark.parametrize("algorithm", ["sca", "po", "scpo", "pso", "de", "random", "sep-cmaes", "snes", "pgpe",
                                       "openai-es"])
@pytest.mark.parametrize("strategy", ["ipop", "bipop"])
def test_budget_is_never_exceeded_and_fun_is_f_of_x(algorithm, strategy):
    for max_evals in (1001, 2777):
        result = scpo.minimize(RASTRIGIN, algorithm=algorithm, max_iter=12, max_evals=max_evals, seed=3,
                               restarts=strategy)
        assert result.nfev <= max_evals and result.restarts >= (max_evals > 2000), (max_evals, result.nfev)
        assert result.fun == f_of(RASTRIGIN, result.x) == min(result.history["best"])
        assert result.history["nfev"][-1] == result.nfev and np.all(np.diff(result.history["nfev"]) > 0)
        assert np.all(np.diff(result.history["best"]) <= 0)  # the best over all runs never rises


def test_default_triggers_restart_a_run_that_converged():
    """No max_iter: a run ends when it has converged (cma-style tol_f / tol_x / stagnation by default)."""
    result = scpo.minimize(SPHERE, algorithm="sep-cmaes", max_evals=6000, seed=0, restarts="ipop")
    assert result.restarts >= 2 and set(result.restart_stop_rules[:-1]) <= {"tol_f", "tol_x", "stagnation"}
    assert result.fun < 1e-10
    given = scpo.minimize(SPHERE, algorithm="sep-cmaes", max_evals=6000, seed=0, restarts="ipop", tol_x=1e-3)
    assert given.restart_stop_rules[0] == "tol_x" and given.restart_evals[0] < result.restart_evals[0]


def test_cmaes_restarts_when_cma_stops_with_the_doubled_population():
    result = scpo.minimize(SPHERE, algorithm="cmaes", max_evals=3000, seed=0, restarts="ipop")
    assert result.restarts >= 1 and result.restart_stop_rules[0] in ("converged", "tol_f", "tol_x")
    assert result.restart_pop_sizes[:2] == [7, 14] and result.fun == f_of(SPHERE, result.x)


def test_cmaes_default_population_is_cmas():
    for dim in (1, 3, 10, 30):
        assert scpo.make(scpo.problems.get("sphere", dim), "cmaes", max_evals=500).pop_size == \
            4 + math.floor(3 * math.log(dim))


def test_same_seed_same_run_and_the_seed_matters():
    a = scpo.minimize(RASTRIGIN, algorithm="de", max_iter=10, max_evals=2000, seed=4, restarts="bipop")
    b = scpo.minimize(RASTRIGIN, algorithm="de", max_iter=10, max_evals=2000, seed=4, restarts="bipop")
    c = scpo.minimize(RASTRIGIN, algorithm="de", max_iter=10, max_evals=2000, seed=5, restarts="bipop")
    assert a.history["best"] == b.history["best"] and a.restart_pop_sizes == b.restart_pop_sizes
    assert np.array_equal(a.x, b.x) and a.history["best"] != c.history["best"]


def test_first_run_is_the_plain_run():
    """Run 0 is the run without restarts (same seed, same draws) up to its end."""
    plain = scpo.minimize(RASTRIGIN, algorithm="de", max_iter=10, max_evals=300, seed=2)
    restarted = scpo.minimize(RASTRIGIN, algorithm="de", max_iter=10, max_evals=3000, seed=2, restarts="ipop")
    assert restarted.history["best"][:10] == plain.history["best"]


def test_target_and_callback_end_the_whole_run():
    reached = scpo.minimize(SPHERE, algorithm="sep-cmaes", max_iter=15, max_evals=5000, seed=0, restarts="ipop",
                            target=1e-3)
    assert reached.stop_rule == "target" and reached.fun <= 1e-3 and reached.nfev < 5000
    stopped = scpo.minimize(SPHERE, algorithm="de", max_iter=10, max_evals=5000, seed=0, restarts="ipop",
                            callback=lambda p: p.nit >= 25)
    assert stopped.stop_rule == "callback" and stopped.nit == 25 and stopped.restarts == 2


def test_ask_tell_with_restarts():
    opt = scpo.make(RASTRIGIN, "pso", seed=0, max_iter=8, max_evals=1500, restarts="ipop")
    while not opt.done:
        X = opt.ask()
        assert X.shape == (opt.pop_size, 4)
        opt.tell(RASTRIGIN.evaluate(X))
    result = opt.result()
    assert result.nfev <= 1500 and result.restarts == 2 and result.restart_pop_sizes == [30, 60, 120]
    with pytest.raises(RuntimeError, match="the run is over"):
        opt.ask()


@pytest.mark.parametrize(("algorithm", "strategy", "stop_at"), [
    ("de", "ipop", 22),  # inside the second run
    ("sep-cmaes", "bipop", 40),  # inside a small-regime run
    ("po", "bipop", 15),  # stopped and saved at the end of run 0, before the next run is drawn
])
def test_restarts_resume_from_a_checkpoint_exactly(tmp_path, algorithm, strategy, stop_at):
    settings = dict(algorithm=algorithm, max_iter=15, max_evals=2500, seed=5, restarts=strategy)
    full = scpo.minimize(RASTRIGIN, **settings)
    path = tmp_path / "run.ck"
    stopped = scpo.minimize(RASTRIGIN, **settings, checkpoint=path, checkpoint_every=5,
                            callback=lambda p: p.nit >= stop_at)
    assert stopped.nit == stop_at and stopped.restarts < full.restarts
    resumed = scpo.minimize(RASTRIGIN, **settings, checkpoint=path, checkpoint_every=5, resume=True)
    assert resumed.fun == full.fun and np.array_equal(resumed.x, full.x)
    assert resumed.history["best"] == full.history["best"]
    for key in ("restarts", "restart_pop_sizes", "restart_regimes", "restart_stop_rules", "nit"):
        assert resumed[key] == full[key], key
    # the resume re-evaluated the saved best point once: counted in nfev, not against max_evals
    assert resumed.nfev == full.nfev + 1
    at = stop_at
    assert resumed.history["nfev"] == full.history["nfev"][:at] + [n + 1 for n in full.history["nfev"][at:]]


def test_checkpoints_refuse_another_run_and_cmaes(tmp_path):
    path = tmp_path / "run.ck"
    settings = dict(algorithm="de", max_iter=10, max_evals=2000, seed=5)
    scpo.minimize(RASTRIGIN, **settings, restarts="ipop", checkpoint=path, callback=lambda p: p.nit >= 15)
    with pytest.raises(ValueError, match="belongs to another run: strategy='ipop'"):
        scpo.minimize(RASTRIGIN, **settings, restarts="bipop", checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="belongs to another run"):
        scpo.minimize(RASTRIGIN, **settings, checkpoint=path, resume=True)  # without restarts
    with pytest.raises(ValueError, match="'cmaes' does not support checkpoints"):  # cma's object, not ours
        scpo.minimize(SPHERE, algorithm="cmaes", implementation="cma", max_evals=500, restarts="ipop",
                      checkpoint=tmp_path / "c.ck")


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"restarts": "x"}, "restarts must be 'ipop', 'bipop' or None, got 'x'"),
    ({"restarts": 2}, "restarts must be 'ipop', 'bipop' or None, got 2"),
    ({"restarts": True}, "restarts must be 'ipop', 'bipop' or None, got True"),  # de has no own restarts
    ({"restarts": "ipop", "max_evals": None, "max_iter": 50}, "restarts='ipop' needs max_evals"),
])
def test_bad_restart_values_are_one_line_errors(kwargs, fragment):
    settings = {"algorithm": "de", "max_evals": 1000, "seed": 0, **kwargs}
    with pytest.raises(ValueError) as info:
        scpo.minimize(SPHERE, **settings)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_boolean_still_reaches_cmaes_own_option():
    opt = scpo.make(SPHERE, "cmaes", seed=0, max_evals=400, restarts=False)
    assert isinstance(opt, scpo.Optimizer) and opt.algorithm.restarts is False


def test_cli_restarts(tmp_path):
    done = invoke("optimize", "sphere", "--algo", "de", "--dim", "3", "--evals", "2000", "--iters", "10",
                  "--restarts", "ipop", "--quiet", "--out", tmp_path / "run", "--json", tmp_path / "r.json",
                  cwd=tmp_path)
    assert done.exit_code == 0, done.output
    import json

    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["restarts"] >= 1 and summary["restart_pop_sizes"][:2] == [30, 60] and summary["nfev"] <= 2000
    bad = invoke("optimize", "sphere", "--algo", "de", "--dim", "3", "--evals", "500", "--restarts", "x",
                 "--quiet", "--out", tmp_path / "bad", cwd=tmp_path)
    assert bad.exit_code == 2 and "restarts must be 'ipop', 'bipop' or None, got 'x'" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_constraints_keep_the_best_feasible_point_over_all_runs():
    """min |x|^2 subject to x_0 >= 1: the optimum (1, 0, 0) on the constraint's boundary, f = 1."""
    def sphere(X):
        return (X**2).sum(1)

    result = scpo.minimize(sphere, [(-5.0, 5.0)] * 3, algorithm="de", max_iter=40, max_evals=6000, seed=0,
                           vectorized=True, constraints=lambda X: 1.0 - X[:, 0], restarts="bipop")
    assert result.restarts >= 2 and result.success and result.constraint_violation == 0.0
    assert result.x[0] >= 1.0 and result.fun == float(sphere(result.x[None])[0]) and abs(result.fun - 1.0) < 1e-2
    assert result.history["best"][-1] == result.fun and np.all(np.diff(result.history["best"]) <= 0)
