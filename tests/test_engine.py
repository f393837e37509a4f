"""SCA, PO and SCPO against the behaviour SPEC §1 states: hand-computed updates, reference statistics."""

import numpy as np
import pytest

import scpo
from scpo.algorithms.base import Context
from scpo.algorithms.po import apply_switch, campaign_move, switch_plan
from scpo.algorithms.scpo_hybrid import SCPO, scpo_case1

R = 0.25  # 2r - 1 = -0.5

# (q, p, c) -> expected position when improved, when deteriorated; r = 0.25
CAMPAIGN_CASES = {
    "case1 up": ((0.0, 1.0, 2.0), 2.0 + R * (2.0 - 1.0), 2.0 - 0.5 * 1.0),
    "case1 down": ((3.0, 2.0, 1.0), 1.0 + R * (1.0 - 2.0), 1.0 - 0.5 * 1.0),
    "case2 up": ((0.0, 3.0, 2.0), 2.0 - 0.5 * 1.0, 0.0 + R * 3.0),
    "case2 down": ((3.0, 0.0, 1.0), 1.0 - 0.5 * 1.0, 3.0 + R * (0.0 - 3.0)),
    "case3 up": ((2.5, 3.0, 2.0), 2.0 - 0.5 * 0.5, 2.0 - 0.5 * 0.5),
    "case3 down": ((0.5, 0.0, 1.0), 1.0 - 0.5 * 0.5, 1.0 - 0.5 * 0.5),
    "all equal is case 1": ((1.0, 1.0, 1.0), 1.0, 1.0),
}


@pytest.mark.parametrize("name", list(CAMPAIGN_CASES))
def test_campaign_cases_match_hand_computation(name):
    (q, p, c), if_improved, if_worse = CAMPAIGN_CASES[name]
    X, Q, C, r = (np.array([[v, v]]) for v in (p, q, c, R))
    got = campaign_move(X, Q, C, np.array([[True], [False]]), r)
    np.testing.assert_allclose(got[0], if_improved)
    np.testing.assert_allclose(got[1], if_worse)


def test_scpo_update_matches_hand_computation():
    centre, best = np.array([1.0, 1.0]), np.array([2.0, 2.0])
    # d4 < 0.5 -> k = d1 sin(d2) = 1: R' = [0 + d k d3 G] / (1 - k + d) = 0.5 * 2 / 0.5
    # d4 >= 0.5 with d2 = 0 -> k = d1 = 0.5: R' = [0.5 * 1.5 * 1 + 0.5 * 0.5 * 2] / 1
    d1 = np.array([1.0, 0.5])
    d2, d4 = np.array([np.pi / 2, 0.0]), np.array([0.2, 0.7])
    update, safe = scpo_case1(centre, best, 0.5, d1, d2, 1.0, d4)
    np.testing.assert_allclose(update, [2.0, 1.25])
    assert safe.all()
    printed, _ = scpo_case1(centre, best, 0.5, d1, d2, 1.0, d4, printed=True)  # no d on the G term
    np.testing.assert_allclose(printed, [4.0, (0.75 + 0.5 * 2) / 1.0])


class ConstantRng:
    """Stands in for numpy's Generator: every uniform draw is one fixed value per call, in order."""

    def __init__(self, values):
        self.values = list(values)

    def random(self, shape):
        return np.full(shape, self.values.pop(0))


def test_scpo_zero_denominator_falls_back_to_po_and_stays_finite():
    # d1 = a - t a / T = 1.5, sin(d2) = 1, d4 < 0.5 -> k = 1.5; with d = r = 0.5: 1 - k + d = 0
    algo = SCPO(parties=2, a=3.0)
    ctx = Context(ConstantRng([0.5, 0.25, 0.5, 0.1]), np.full(3, -10.0), np.full(3, 10.0), max_iter=2, t=1,
                  best_x=np.full(3, 2.0))
    X, Q, C = np.zeros((4, 3)), np.full((4, 3), -1.0), np.ones((4, 3))  # q <= p <= c: case 1
    moved = algo.campaign_stage(X, Q, C, np.ones((4, 1), dtype=bool), ctx)
    assert np.isfinite(moved).all()
    np.testing.assert_allclose(moved, C + 0.5 * (C - X))  # PO's own case-1 move


def test_scpo_never_produces_nan_or_inf_over_whole_runs():
    problem = scpo.problems.get("rastrigin", 10, shifted=True, seed=1)
    seen, nonfinite = [], []
    for variant in ("derived", "printed"):
        opt = scpo.make(problem, "scpo", seed=3, max_evals=5000, variant=variant)
        while not opt.done:
            X = opt.ask()
            seen.append(np.isfinite(X).all())
            opt.tell(problem.evaluate(X))
        nonfinite.append(opt.result().nonfinite)
    assert all(seen) and nonfinite == [0, 0] and problem.nonfinite_count == 0


def test_party_switching_swaps_with_least_fit_member_of_other_party():
    n = 2  # parties [0, 1] and [2, 3]; agent 0 switches into party 1, whose worst member is row 3
    fitness = np.array([1.0, 2.0, 3.0, 9.0])
    source, diagonal = switch_plan(fitness, n, np.array([True, False, False, False]), np.ones(4, dtype=int))
    assert source.tolist() == [3, 1, 2, 0] and not diagonal.any()
    X = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(apply_switch(X, source, diagonal), X[[3, 1, 2, 0]])
    # The authors' Positions(toPInd,:) = Positions(fromPInd): row 3 becomes X[0, 0] everywhere.
    source, diagonal = switch_plan(fitness, n, np.array([True, False, False, False]), np.ones(4, dtype=int), True)
    bugged = apply_switch(X, source, diagonal)
    np.testing.assert_array_equal(bugged[0], X[3])
    np.testing.assert_array_equal(bugged[3], np.full(3, X[0, 0]))


def test_party_switching_is_sequential_like_the_reference():
    # Agents 0 and 1 both move to party 1: the second sees the fitness the first swap left behind.
    fitness = np.array([5.0, 7.0, 1.0, 2.0])
    source, _ = switch_plan(fitness, 2, np.array([True, True, False, False]), np.ones(4, dtype=int))
    # first: 0 <-> 3 (fitness 2 is party 1's worst); now party 1 holds [1, 5]: second: 1 <-> 3
    assert source.tolist() == [3, 0, 2, 1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sphere", "rastrigin"])
def test_po_switch_bug_reaches_exact_zero_and_correct_swap_does_not(name):
    problem = scpo.problems.get(name, 30)
    for seed in (0, 1):
        bugged = scpo.minimize(problem, algorithm="po", max_evals=30000, parties=8, seed=seed,
                               reference_switch_bug=True)
        correct = scpo.minimize(problem, algorithm="po", max_evals=30000, parties=8, seed=seed)
        assert bugged.fun == 0.0
        assert correct.fun > 0.0


def test_po_switch_bug_loses_its_edge_when_shifted():
    problem = scpo.problems.get("sphere", 30, shifted=True, seed=2)
    bugged = [scpo.minimize(problem, algorithm="po", max_evals=30000, seed=s, reference_switch_bug=True).fun
              for s in range(3)]
    assert min(bugged) > 0.0


@pytest.mark.slow
def test_reference_sca_ends_in_the_tens_far_from_greedy_variant():
    problem = scpo.problems.get("rastrigin", 30)
    reference = [scpo.minimize(problem, algorithm="sca", pop_size=30, max_iter=500, seed=s).fun for s in range(8)]
    greedy = [scpo.minimize(problem, algorithm="sca", pop_size=30, max_iter=500, seed=s, greedy=True).fun
              for s in range(8)]
    assert 10.0 <= np.median(reference) <= 100.0
    assert np.median(greedy) < 1.0


def test_sca_counts_iterations_like_the_reference():
    result = scpo.minimize(scpo.problems.get("sphere", 5), algorithm="sca", pop_size=30, max_iter=500, seed=0)
    assert result.nit == 500 and result.nfev == 30 * 500 and len(result.history["best"]) == 500
    assert np.all(np.diff(result.history["best"]) <= 0)


def test_po_iterations_follow_the_authors_budget_rule():
    result = scpo.minimize(scpo.problems.get("sphere", 5), algorithm="po", max_evals=30000, parties=8, seed=0)
    iterations = round(30000 / (64 + 8))  # the schedule T, as the authors' code sets it
    assert result.max_iter == iterations == 417
    # max_evals is a hard cap: 64 initial + 415 whole iterations of 72, then 56 of the 417th's 64 campaign rows
    assert result.nfev == 30000 and result.nit == (30000 - 64) // 72 == 415


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sphere", "rastrigin", "ackley", "griewank", "rosenbrock"])
def test_scpo_beats_random_search_on_shifted_problems(name):
    problem = scpo.problems.get(name, dim=30, shifted=True, seed=7)
    for seed in (0, 1):
        ours = scpo.minimize(problem, algorithm="scpo", max_evals=20000, seed=seed)
        floor = scpo.minimize(problem, algorithm="random", max_evals=20000, seed=seed)
        assert ours.fun < floor.fun
        # the authors' rule sets T = round(max_evals / (N + n)); the budget is a hard cap
        assert ours.nfev == 20000 and ours.max_iter == round(20000 / 72)


@pytest.mark.parametrize("algorithm", ["sca", "po", "scpo", "random"])
def test_same_seed_same_result(algorithm):
    problem = scpo.problems.get("ackley", 8, shifted=True, seed=0)
    first = scpo.minimize(problem, algorithm=algorithm, max_evals=3000, seed=11)
    second = scpo.minimize(problem, algorithm=algorithm, max_evals=3000, seed=11)
    other = scpo.minimize(problem, algorithm=algorithm, max_evals=3000, seed=12)
    assert first.fun == second.fun and np.array_equal(first.x, second.x)
    assert first.history["best"] == second.history["best"]
    assert first.fun != other.fun


def test_ask_tell_reproduces_minimize_and_po_asks_twice_per_iteration():
    problem = scpo.problems.get("rastrigin", 6, shifted=True)
    opt = scpo.make("po", problem, seed=5, max_iter=4, parties=3)
    sizes = []
    while not opt.done:
        X = opt.ask()
        sizes.append(len(X))
        opt.tell(problem.evaluate(X))
    assert sizes == [9] + [9, 3] * 4
    direct = scpo.minimize(problem, algorithm="po", seed=5, max_iter=4, parties=3)
    assert opt.result().fun == direct.fun


def test_make_from_bounds_alone_for_external_evaluation():
    opt = scpo.make("sca", [(-1.0, 1.0)] * 4, seed=0, pop_size=10, max_iter=3)
    while not opt.done:
        X = opt.ask()
        assert X.shape == (10, 4) and (np.abs(X) <= 1).all()
        opt.tell((X**2).sum(axis=1))
    assert opt.result().nfev == 30


def test_plain_per_vector_function_and_scipy_bounds():
    result = scpo.minimize(lambda x: float(np.sum((x - 0.3) ** 2)), [(-1, 1)] * 3, algorithm="sca",
                           pop_size=20, max_iter=200, seed=0, vectorized=False)
    assert result.fun < 1e-2 and np.allclose(result.x, 0.3, atol=0.1)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: scpo.minimize(scpo.problems.get("sphere", 3), algorithm="po", pop_size=10), "perfect square"),
        (lambda: scpo.minimize(scpo.problems.get("sphere", 3), algorithm="nope"), "unknown algorithm 'nope'"),
        (lambda: scpo.minimize(scpo.problems.get("sphere", 3), algorithm="sca", bogus=1), "unknown option 'bogus'"),
        (lambda: scpo.minimize(np.sum, [(1, 0)]), "lb[0]=1.0 >= ub[0]=0.0"),
        (lambda: scpo.minimize(np.sum, [(0, 1)] * 3, vectorized=True), "returned shape ()"),
        (lambda: scpo.minimize(lambda x: x[:2], [(0, 1)] * 3), "cannot tell whether objective"),
        (lambda: scpo.minimize(scpo.problems.get("sphere", 3), max_iter=0), "max_iter must be"),
        (lambda: scpo.minimize(scpo.problems.get("sphere", 3), algorithm="sca", max_evals=5), "max_evals=5"),
        (lambda: scpo.problems.get("sphere", 0), "dim must be"),
        (lambda: scpo.problems.get("nope", 3), "unknown problem 'nope'"),
        (lambda: scpo.minimize(scpo.problems.get("sphere", 3), backend="gpu"), "unknown backend 'gpu'"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, fragment):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert fragment in str(info.value)


def test_objective_exception_names_the_candidate():
    def explode(x):
        if x[0] > 0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(scpo.ObjectiveError, match=r"failed on candidate \d+: raised RuntimeError: boom"):
        scpo.minimize(explode, [(-1, 1)] * 2, algorithm="sca", pop_size=10, max_iter=3, vectorized=False, seed=0)


@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_nan_and_minus_inf_fitness_count_as_inf_and_are_reported(bad):
    """-inf is read as a failure (log(0)), as documented, not as the minimum."""
    def half_bad(X):
        return np.where(X[:, 0] > 0, bad, (X**2).sum(axis=1))

    result = scpo.minimize(half_bad, [(-1, 1)] * 2, algorithm="sca", pop_size=10, max_iter=5, seed=0)
    assert np.isfinite(result.fun) and result.x[0] <= 0 and result.nonfinite > 0


def test_penalize_scores_failing_candidates_inf_and_counts_them():
    def flaky(X):
        if (X[:, 0] > 0.5).any():
            raise RuntimeError("cannot evaluate")
        return (X**2).sum(axis=1)

    problem = scpo.Problem(flaky, -1, 1, dim=3, on_error="penalize")
    result = scpo.minimize(problem, algorithm="sca", pop_size=10, max_iter=10, seed=0)
    assert result.errors > 0 and np.isfinite(result.fun) and result.x[0] <= 0.5
    assert result.nonfinite == 0  # a penalized failure is counted once, as an error
    assert result.errors == problem.error_count  # the problem's lifetime total: this one run so far


def test_timeout_bounds_one_evaluation():
    import time

    def hangs(x):
        time.sleep(5)
        return 0.0

    problem = scpo.Problem(hangs, -1, 1, dim=2, vectorized=False, timeout=0.2)
    started = time.perf_counter()
    with pytest.raises(scpo.ObjectiveError, match="timeout of 0.2 s"):
        scpo.minimize(problem, algorithm="sca", pop_size=4, max_iter=2, seed=0)
    assert time.perf_counter() - started < 2


def test_joblib_workers_give_the_same_result_as_serial():
    def slow_sphere(x):
        return float((x**2).sum())

    serial = scpo.minimize(scpo.Problem(slow_sphere, -1, 1, dim=3, vectorized=False), algorithm="scpo",
                           max_iter=3, parties=3, seed=2)
    parallel = scpo.minimize(scpo.Problem(slow_sphere, -1, 1, dim=3, vectorized=False, n_jobs=2),
                             algorithm="scpo", max_iter=3, parties=3, seed=2)
    assert parallel.fun == serial.fun and np.array_equal(parallel.x, serial.x)


def test_joblib_sends_a_vectorized_objective_in_row_chunks():
    target = scpo.problems.get("sphere", 3, seed=0)
    parallel = scpo.Problem(target.objective, target.lb, target.ub, executor="joblib", n_jobs=2)
    run = {"algorithm": "sca", "pop_size": 7, "max_iter": 3, "seed": 1}
    assert scpo.minimize(parallel, **run).history["best"] == scpo.minimize(target, **run).history["best"]


@pytest.mark.parametrize("settings, message", [
    ({"executor": "dask"}, "unknown executor 'dask'"),
    ({"executor": "serial", "n_jobs": 2}, "n_jobs=2 needs executor='joblib' or 'ray'"),
    ({"executor": "joblib", "ray_address": "auto"}, "ray_address applies to executor='ray'"),
])
def test_executor_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        scpo.Problem(lambda x: 0.0, -1, 1, dim=2, vectorized=False, **settings)


def test_ray_executor_without_ray_says_which_extra_to_install(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    with pytest.raises(ValueError, match=r"needs the \[distributed\] extra: pip install 'scpo\[distributed\]'"):
        scpo.Problem(lambda x: 0.0, -1, 1, dim=2, vectorized=False, executor="ray")


def test_n_jobs_alone_means_joblib_and_a_problem_pickles_without_its_workers():
    import pickle

    assert scpo.Problem(sum, -1, 1, dim=2, vectorized=False, n_jobs=2).executor == "joblib"
    problem = scpo.Problem(sum, -1, 1, dim=2, vectorized=False)
    assert problem.executor == "serial" and problem.evaluate(np.ones((3, 2))).tolist() == [2.0] * 3
    assert problem._pool is not None and pickle.loads(pickle.dumps(problem))._pool is None


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
def test_initial_population_is_the_first_ask_on_every_backend(backend):
    X0 = np.random.default_rng(1).uniform(0.4, 0.6, (16, 3))
    dtype = "float64" if backend == "numpy" else "float32"
    for initial in (X0, lambda n: X0[:n]):  # an array or a function of the population size
        opt = scpo.make(lambda X: (X**2).sum(1), "scpo", bounds=[(-1, 1)] * 3, pop_size=16, max_iter=3, seed=0,
                        backend=backend, dtype=dtype, vectorized=True, initial_population=initial)
        first = opt.ask()
        first = first.cpu().numpy() if backend == "torch" else first
        np.testing.assert_allclose(first, X0, rtol=1e-6)
        opt.tell((opt.run_state.pending**2).sum(1))
        assert opt.ask().shape == (16, 3)  # the algorithm goes on from there
    uniform = scpo.make(lambda X: (X**2).sum(1), "scpo", bounds=[(-1, 1)] * 3, pop_size=16, seed=0).ask()
    assert np.abs(uniform).max() > 0.7  # without it: the uniform draw over the box


@pytest.mark.parametrize("initial, words", [
    (np.zeros((15, 3)), ["shape", "(16, 3)", "(15, 3)"]),
    (np.full((16, 3), np.nan), ["48 non-finite"]),
    (np.full((16, 3), 2.0), ["48 entries outside the bounds"]),
])
def test_bad_initial_population_is_refused_in_one_line(initial, words):
    with pytest.raises(ValueError) as info:
        scpo.make(lambda X: X.sum(1), "scpo", bounds=[(-1, 1)] * 3, pop_size=16, initial_population=initial)
    assert "\n" not in str(info.value) and all(w in str(info.value) for w in words), str(info.value)
