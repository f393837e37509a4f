"""Structural bias (issue 30, item 1): the f0 protocol and the shift test, through the API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cli import invoke

import scpo
from scpo import bias


def centre_pull(problem: scpo.Problem, seed: int, max_evals: int) -> scpo.OptimizeResult:
    """A deliberately centre-pulling toy: uniform candidates shrunk towards the box's centre by a random
    factor (squared, so most land near it); the best one seen is the result."""
    rng = np.random.default_rng(seed)
    centre = (problem.lb + problem.ub) / 2
    X = rng.uniform(problem.lb, problem.ub, (max_evals, problem.dim))
    X = centre + (X - centre) * rng.random((max_evals, 1)) ** 2
    fitness = problem.evaluate(X)
    best = int(np.argmin(fitness))
    return scpo.OptimizeResult(x=X[best], fun=float(fitness[best]))


def test_random_search_is_judged_unbiased():
    """The false-positive check: uniform random search on f0, and on shifted against unshifted functions."""
    report = bias.run_bias("random", dim=5, runs=30, evals=300, seed=0, shift_functions="sphere,rastrigin",
                           shift_runs=3, shift_evals=300).report["random"]
    assert report["f0"]["verdict"] == "unbiased"
    assert report["f0"]["direction"] == "none"
    assert min(report["f0"]["p_values"]) >= 0.01
    assert report["shift"]["verdict"] == "unbiased" and report["shift"]["ratio"] < 10


def test_uniform_samples_rarely_rejected():
    """At alpha 0.01 with Benjamini-Hochberg over 3 tests x 10 dimensions, uniform samples are rejected in
    about 1 % of the cases: at most 2 of 40 seeded samples (a test that can fail: no correction would
    reject far more)."""
    rejected = sum(bias.uniformity(np.random.default_rng(s).random((30, 10)), seed=s, resamples=999)["verdict"]
                   == "biased" for s in range(40))
    assert rejected <= 2


def test_centre_pulling_toy_is_judged_biased():
    report = bias.run_bias([centre_pull], dim=4, runs=30, evals=200, seed=1, shift_functions="sphere,rastrigin",
                           shift_runs=2, shift_evals=200).report["centre_pull"]
    f0 = report["f0"]
    assert f0["verdict"] == "biased"
    assert f0["direction"] == "centre"
    assert f0["rejected_dimensions"] == [1, 2, 3, 4]
    assert f0["centre_share"] > 0.2  # a uniform sample's is 0.1
    assert report["shift"]["verdict"] == "centre-biased" and report["shift"]["ratio"] > 10


def test_direction_names_the_bounds():
    rng = np.random.default_rng(0)
    U = np.where(rng.random((50, 3)) < 0.5, rng.random((50, 3)) * 0.04, 1 - rng.random((50, 3)) * 0.04)
    result = bias.uniformity(U)
    assert result["verdict"] == "biased" and result["direction"] == "bounds"


def test_benjamini_hochberg_matches_scipy():
    from scipy import stats

    p = np.random.default_rng(3).random(25) ** 3
    np.testing.assert_allclose(bias.benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"))


def test_shifted_problem_moves_the_optimum_by_a_tenth_of_the_range():
    problem = bias.shifted_problem("sphere", 3)
    np.testing.assert_allclose(problem.x_opt, [20.0, 20.0, 20.0])
    assert problem.evaluate(problem.x_opt[None, :])[0] == pytest.approx(0.0)


def test_bias_json_keys_and_figure(tmp_path):
    result = bias.run_bias("random,sca", dim=3, runs=30, evals=300, shift_functions="sphere", shift_runs=1,
                           shift_evals=300, out_dir=tmp_path)
    data = json.loads((tmp_path / "bias.json").read_text())
    assert list(data) == ["random", "sca"]
    for entry in data.values():
        assert entry["f0"]["verdict"] in ("biased", "unbiased")
        assert len(entry["f0"]["p_values"]) == 3
        assert entry["f0"]["direction"] in ("none", "centre", "bounds", "centre and bounds", "region")
        assert entry["shift"]["verdict"] in ("centre-biased", "unbiased")
        assert entry["shift"]["ratio"] > 0 and list(entry["shift"]["functions"]) == ["sphere"]
    assert (tmp_path / "bias.png").read_bytes()[:4] == b"\x89PNG"
    assert result.ran == 2 * (30 + 2) and result.skipped == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"runs": 31}, "runs must be one of 30, 50, 100, 600"),
    ({"bounds": (1, 0)}, "lb < ub"),
    ({"alpha": 1.5}, "alpha must be in (0, 1)"),
    ({"shift_functions": "nope"}, "unknown problem 'nope'"),
    ({"algos": "random,random"}, "listed twice"),
])
def test_bad_input_is_one_line_error(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        bias.run_bias(**{"algos": "random", "dim": 2, "runs": 30, "evals": 100, **kwargs})
    assert "\n" not in str(info.value)


def test_cli_bias_smoke(tmp_path):
    args = ["bias", "--algos", "random", "--dim", "3", "--runs", "30", "--evals", "300", "--functions", "sphere",
            "--shift-runs", "1", "--shift-evals", "300", "--out", tmp_path / "B", "--quiet"]
    done = invoke(*args, cwd=tmp_path)
    assert done.exit_code == 0, done.output
    assert "random: f0 unbiased" in done.output and "shift ratio" in done.output
    assert json.loads((tmp_path / "B" / "bias.json").read_text())["random"]["shift"]["verdict"] == "unbiased"
    again = invoke(*args, cwd=tmp_path)
    assert again.exit_code == 0 and "0 runs computed, 32 resumed" in again.output
    bad = invoke("bias", "--runs", "31", "--out", tmp_path / "C", cwd=tmp_path)
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "runs must be one of" in bad.output
    assert not (tmp_path / "C").exists()
