"""The engineering design suite: formulations at their best-known points, shapes, torch, the
constrained Problem, and `scpo benchmark --suite engineering` with feasibility-aware statistics."""

import csv
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import scpo
from scpo import engineering
from scpo.benchmark import engineering_statistics, render_engineering_summary, run_engineering

CONSTRAINT_COUNTS = {"spring": 4, "welded_beam": 7, "pressure_vessel": 4, "speed_reducer": 11, "three_bar_truss": 3}
# the values the issue names, to the digits it gives them
BEST_KNOWN = {"spring": 0.012665, "welded_beam": 1.724852, "pressure_vessel": 6059.714, "speed_reducer": 2994.47,
              "three_bar_truss": 263.8958}
ROUNDING = 1e-6  # the published points' digits: an active constraint may read up to ~3e-7 above 0


def box_points(spec, n, seed=0):
    lb, ub = np.array(spec.lb), np.array(spec.ub)
    X = np.random.default_rng(seed).uniform(lb, ub, size=(n, spec.dim))
    if spec.integrality is not None:
        X[:, list(spec.integrality)] = np.round(X[:, list(spec.integrality)])
    return X


def test_the_suite_is_the_papers_five_problems():
    assert engineering.names() == list(CONSTRAINT_COUNTS) == scpo.problems.engineering_names()


@pytest.mark.parametrize("name", list(CONSTRAINT_COUNTS))
def test_best_known_point_is_feasible_and_scores_the_best_known_value(name):
    spec = engineering.design(name)
    x = np.array([spec.x_opt])
    assert spec.constraints(x).max() <= ROUNDING
    assert spec.objective(x)[0] == pytest.approx(spec.f_opt, rel=1e-6)
    assert spec.f_opt == pytest.approx(BEST_KNOWN[name], rel=5e-5)
    assert np.all(x >= spec.lb) and np.all(x <= spec.ub)


@pytest.mark.parametrize("name", list(CONSTRAINT_COUNTS))
def test_whole_population_shapes_and_torch_give_the_same_values(name):
    spec = engineering.design(name)
    X = box_points(spec, 6)
    f, g = spec.objective(X), spec.constraints(X)
    assert f.shape == (6,) and g.shape == (6, CONSTRAINT_COUNTS[name]) and spec.n_constraints == g.shape[1]
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(g))
    # one row at a time gives the same numbers: no mixing across the population
    assert np.allclose(np.concatenate([spec.objective(X[i:i + 1]) for i in range(6)]), f, rtol=1e-14)
    torch = pytest.importorskip("torch")
    T = torch.as_tensor(X, dtype=torch.float64)
    assert np.allclose(spec.objective(T, xp=torch).numpy(), f, rtol=1e-12)
    assert np.allclose(spec.constraints(T, xp=torch).numpy(), g, rtol=1e-12, atol=1e-12)
    assert isinstance(spec.constraints(T), torch.Tensor)  # a tensor is recognised without xp=
    assert np.allclose(spec.constraints(T).numpy(), g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CONSTRAINT_COUNTS))
def test_the_lower_corner_is_infeasible_with_a_finite_positive_violation(name):
    spec = engineering.design(name)
    g = spec.constraints(np.array([spec.lb]))
    assert np.all(np.isfinite(g)) and np.clip(g, 0, None).sum() > 0


def test_truss_bars_of_zero_section_give_a_huge_finite_violation_not_inf_or_nan():
    g = engineering.three_bar_truss_constraints(np.array([[0.0, 0.0], [0.0, 0.5], [1.0, 0.0]]))
    assert np.all(np.isfinite(g))
    assert g[0].max() > 1e9 and g[1].max() > 1e9 and g[2].max() <= 0  # A2 = 0 alone is a feasible truss


def test_unknown_problem_is_a_one_line_value_error():
    with pytest.raises(ValueError, match="unknown engineering problem 'bridge'; choose from spring, welded_beam"):
        scpo.problems.engineering("bridge")


@pytest.mark.parametrize("name", list(CONSTRAINT_COUNTS))
def test_problem_carries_constraints_integrality_and_the_best_known(name):
    problem = scpo.problems.engineering(name)
    spec = engineering.design(name)
    assert problem.name == name and problem.dim == spec.dim and problem.f_opt == spec.f_opt
    assert np.array_equal(problem.x_opt, spec.x_opt)
    integral = {"pressure_vessel": [True, True, False, False],
                "speed_reducer": [False, False, True, False, False, False, False]}.get(name)
    assert (problem.integrality is None) if integral is None else (problem.integrality.tolist() == integral)
    X = np.vstack([spec.x_opt, spec.lb])
    assert problem.evaluate(X)[0] == pytest.approx(spec.f_opt, rel=1e-6)
    violation = problem.violation(X)
    assert violation.shape == (2,) and violation[0] <= ROUNDING and violation[1] > 0
    assert violation[1] == pytest.approx(np.clip(spec.constraints(X[1:]), 0, None).sum())


def test_pressure_vessel_thicknesses_are_integral_sixteenths_in_every_evaluated_row():
    seen = []
    spec = engineering.design("pressure_vessel")

    def objective(X):
        seen.append(np.array(X))
        return spec.objective(X)

    problem = scpo.Problem(objective, spec.lb, spec.ub, vectorized=True, integrality=spec.integrality,
                           constraints=spec.constraints)
    result = scpo.minimize(problem, algorithm="de", max_evals=400, seed=1)
    rows = np.vstack(seen)
    assert np.array_equal(rows[:, :2], np.round(rows[:, :2])) and np.array_equal(result.x[:2], np.round(result.x[:2]))


def test_a_short_de_run_on_the_truss_ends_feasible_and_near_the_best_known():
    result = scpo.minimize(scpo.problems.engineering("three_bar_truss"), algorithm="de", max_evals=4000, seed=0)
    assert result.success and result.constraint_violation == 0.0
    assert result.fun == pytest.approx(263.8958, rel=0.01)


# ---------------------------------------------------------------------------- the benchmark suite


def row(algorithm, problem, run, f, violation):
    return {"algorithm": algorithm, "problem": problem, "run": run, "seed": run, "best_fitness": f,
            "violation": violation, "feasible": violation == 0.0, "nfev": 100, "wall_time_s": 0.1, "x": ""}


def test_statistics_use_feasible_runs_for_f_and_report_the_violation_of_the_others():
    f_opt = engineering.design("spring").f_opt
    rows = [row("a", "spring", 0, f_opt * 1.02, 0.0), row("a", "spring", 1, f_opt * 1.01, 0.0),
            row("a", "spring", 2, f_opt * 0.5, 3.0),  # infeasible, better f: must not count
            row("b", "spring", 0, 1.0, 2.0), row("b", "spring", 1, 1.0, 4.0), row("b", "spring", 2, 1.0, 9.0)]
    stats = engineering_statistics(rows, ["a", "b"], ["spring"])
    a, b = stats["cells"][("a", "spring")], stats["cells"][("b", "spring")]
    assert (a["runs"], a["feasible"]) == (3, 2)
    assert a["median"] == pytest.approx(f_opt * 1.015) and a["best"] == pytest.approx(f_opt * 1.01)
    assert a["worst"] == pytest.approx(f_opt * 1.02) and a["gap_median_pct"] == pytest.approx(1.5)
    assert a["gap_best_pct"] == pytest.approx(1.0) and (a["violation_median"], a["violation_max"]) == (3.0, 3.0)
    assert b["feasible"] == 0 and all(math.isnan(b[k]) for k in ("median", "best", "worst", "gap_median_pct"))
    assert (b["violation_median"], b["violation_max"]) == (4.0, 9.0)
    text = render_engineering_summary(stats, {"evals": 100, "seed": 0, "runs": 3, "scope": ""})
    assert "| spring | 0.0126652 | +1.500 (2/3) | n/a (0/3) |" in text
    assert "| a | 2/3 | 0.0128552 | 0.0127919 | 0.0129185 | +1.500 | +1.000 | 3, 3 | 100 |" in text
    assert "| b | 0/3 | n/a | n/a | n/a | n/a | n/a | 4, 9 | 100 |" in text and "nan" not in text


def test_run_engineering_writes_rows_summary_and_resumes(tmp_path):
    settings = dict(algos="de,random", problems="three_bar_truss,spring", runs=2, evals=600, seed=0,
                    out_dir=tmp_path)
    result = run_engineering(**settings)
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and result.ran == 8
    assert list(rows[0]) == ["algorithm", "problem", "run", "seed", "best_fitness", "violation", "feasible", "nfev",
                             "wall_time_s", "x"]
    for r in rows:
        assert int(r["nfev"]) <= 600 and (r["feasible"] == "True") == (float(r["violation"]) == 0.0)
        x = np.array(r["x"].split(), dtype=float)[None]
        spec = engineering.design(r["problem"])
        assert spec.objective(x)[0] == pytest.approx(float(r["best_fitness"]))
        assert np.clip(spec.constraints(x), 0, None).sum() == pytest.approx(float(r["violation"]))
    summary = (tmp_path / "summary.md").read_text()
    assert "## three_bar_truss" in summary and "## spring" in summary and "feasible runs / runs" in summary
    again = run_engineering(**settings)
    assert again.ran == 0 and again.skipped == 8
    with pytest.raises(ValueError, match="evals=600, not 700"):
        run_engineering(**{**settings, "evals": 700})


def test_cli_benchmark_suite_engineering(tmp_path):
    import cli as cli_module

    out = tmp_path / "eng"
    args = ["benchmark", "--suite", "engineering", "--algos", "de", "--problems", "three_bar_truss", "--runs", "1",
            "--evals", "300", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(cli_module.app, args)
    assert result.exit_code == 0, result.output
    assert "1 runs computed" in result.output and (out / "summary.md").exists()
    assert "| de | " in (out / "summary.md").read_text()
    refused = CliRunner().invoke(cli_module.app, [*args[:-3], "--out", str(tmp_path / "x"), "--dim", "5"])
    assert refused.exit_code == 2 and refused.output.strip() == (
        "error: --dim does not apply to --suite engineering; see `scpo benchmark --help` for that suite's options")
    bad = CliRunner().invoke(cli_module.app, [*args[:6], "bridge", "--out", str(tmp_path / "y")])
    assert bad.exit_code == 2 and bad.output.startswith("error: unknown engineering problem 'bridge'")


# ---------------------------------------------------------------------------- experiments/engineering.py


def experiment():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from experiments import engineering as script

    return script


@pytest.mark.parametrize("name", ["spring", "speed_reducer"])  # the speed reducer starts with no feasible member
def test_scipy_de_spends_at_most_the_budget_counted_by_wrappers(name):
    script = experiment()
    row = script.run_scipy(name, 0, 1, 500)
    assert 400 <= row["nfev"] <= 500 and row["f_calls"] <= row["nfev"]
    assert script.scipy_budget(engineering.design(name).dim, 500)[1] == 500 // (15 * engineering.design(name).dim) - 1


def test_goal_verdict_follows_its_stated_rules():
    script = experiment()
    f_opt = engineering.design("spring").f_opt

    def runs(algorithm, values, violation=0.0, success=True):
        return [{"algorithm": algorithm, "problem": "spring", "run": i, "fun": v, "violation": violation,
                 "feasible": violation == 0.0, "success": success, "nfev": 10} for i, v in enumerate(values)]

    rows = runs("de", [f_opt * 1.004] * 3) + runs("pso", [f_opt * 1.02] * 3) + runs(script.SCIPY, [f_opt * 1.005] * 3)
    stats = script.cells(rows, ["de", "pso", script.SCIPY], ["spring"])
    lines, holds = script.verdict(stats, ["de", "pso", script.SCIPY], ["spring"])
    assert holds and lines[0].startswith("- spring: holds: best scpo algorithm de, median 0.0127159 (+0.400 %")
    better_scipy = runs(script.SCIPY, [f_opt * 1.001] * 3)
    stats = script.cells(rows[:6] + better_scipy, ["de", "pso", script.SCIPY], ["spring"])
    lines, holds = script.verdict(stats, ["de", "pso", script.SCIPY], ["spring"])
    assert not holds and "scipy DE is better" in lines[0]
    same = runs(script.SCIPY, [f_opt * 1.004 * (1 - 5e-7)] * 3)  # below the 1e-6 of the published digits
    lines, holds = script.verdict(script.cells(rows[:6] + same, ["de", "pso", script.SCIPY], ["spring"]),
                                  ["de", "pso", script.SCIPY], ["spring"])
    assert holds and "(ours +5.0e-07 relative): at least as good" in lines[0]
    # an infeasible run must say so: success=True with a violation is a failure of the Goal
    silent = runs("de", [f_opt] * 2, violation=1.0, success=True) + runs("de", [f_opt])[:1]
    stats = script.cells(silent + runs("pso", [f_opt * 1.001] * 3), ["de", "pso"], ["spring"])
    lines, holds = script.verdict(stats, ["de", "pso"], ["spring"])
    assert not holds and "de on spring: 2 infeasible runs with success=True" in lines[-1]
    assert stats[("de", "spring")]["feasible"] is False  # 1 of 3 feasible: the median run is infeasible
