"""`scpo benchmark --suite bbob`: COCO's functions and optimum, target runtimes, ECDF, aRT, resume, peers, bad input."""

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import scpo.bbob as bbob
from scpo.bbob import EXPONENTS, TARGET_FIELDS, TARGETS, TargetRecorder, art, parse_ints, run_bbob

cocoex = pytest.importorskip("cocoex", reason="needs the bbob extra: pip install 'scpo[bbob]'")

SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")
MUST_SHOW = ["benchmark", "--suite", "bbob", "--functions", "1,8,15", "--dims", "5", "--instances", "1-2",
             "--algos", "scpo,cmaes", "--budget-multiplier", "200", "--out", "bb"]


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def check_row(row, budget):
    """A row's runtimes agree with its precision: target k reached iff precision <= 10^(2 - k/5), in order."""
    precision = float(row["precision"])
    assert precision >= 0
    hits = [int(row[c]) if row[c] else None for c in TARGET_FIELDS]
    for target, hit in zip(TARGETS, hits, strict=True):
        assert (hit is not None) == (precision <= target), (target, hit, precision)
    reached = [h for h in hits if h is not None]
    assert reached == sorted(reached) and all(1 <= h <= int(row["nfev"]) <= budget for h in reached)


@pytest.fixture(scope="module")
def must_show(tmp_path_factory):
    assert SCPO, "the scpo console script is not installed (pip install -e .)"
    cwd = tmp_path_factory.mktemp("bbob")
    done = subprocess.run([SCPO, *MUST_SHOW], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return cwd / "bb", done


def test_must_show_writes_rows_ecdf_and_summary(must_show):
    out, done = must_show
    assert "12 runs computed, 0 resumed" in done.stdout
    rows = read_rows(out / "results.csv")
    assert len(rows) == 12
    assert list(rows[0])[:9] == ["algorithm", "function", "dim", "instance", "run", "seed", "precision", "nfev",
                                 "wall_time_s"]
    assert list(rows[0])[9:] == list(TARGET_FIELDS) and len(TARGET_FIELDS) == 51
    assert TARGET_FIELDS[0] == "evals_1e+2.0" and TARGET_FIELDS[-1] == "evals_1e-8.0"
    assert {(r["algorithm"], r["function"], r["instance"]) for r in rows} == {
        (a, f, i) for a in ("scpo", "cmaes") for f in ("1", "8", "15") for i in ("1", "2")}
    for row in rows:
        check_row(row, budget=1000)
    # one seed per (function, dim, instance, run), shared by the algorithms
    seeds = {(r["function"], r["instance"]): set() for r in rows}
    for r in rows:
        seeds[(r["function"], r["instance"])].add(r["seed"])
    assert all(len(s) == 1 for s in seeds.values()) and len({min(s) for s in seeds.values()}) == 6
    assert (out / "ecdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    for fragment in ("# BBOB summary", "## Fraction of (trial, target) pairs reached", "## aRT to precision 1e1, d = 5",
                     "## aRT to precision 1e-8, d = 5", "| f15 |", "multimodal (f15-f19)", "| scpo |", "| cmaes |"):
        assert fragment in summary, fragment


def test_rerun_resumes_and_a_torn_row_is_recomputed(must_show, tmp_path):
    out, _ = must_show
    copy = tmp_path / "bb"
    shutil.copytree(out, copy)
    again = run_bbob("scpo,cmaes", "1,8,15", "5", "1-2", 200, out_dir=copy)
    assert again.ran == 0 and again.skipped == 12
    text = (copy / "results.csv").read_text()
    lines = text.splitlines(keepends=True)
    (copy / "results.csv").write_text("".join(lines[:-1]) + lines[-1][:30])  # killed mid-append
    resumed = run_bbob("scpo,cmaes", "1,8,15", "5", "1-2", 200, out_dir=copy)
    assert resumed.ran == 1 and resumed.skipped == 11
    strip = [{k: v for k, v in r.items() if k != "wall_time_s"} for r in read_rows(copy / "results.csv")]
    assert strip == [{k: v for k, v in r.items() if k != "wall_time_s"} for r in read_rows(out / "results.csv")]
    for algo in ("scpo", "cmaes"):  # the recomputed run's COCO folder replaced, not doubled ("-001")
        runs = sorted(path.name for path in (copy / "coco" / algo).iterdir())
        assert runs == sorted(path.name for path in (out / "coco" / algo).iterdir()) and len(runs) == 6
    with pytest.raises(ValueError, match="budget_multiplier"):
        run_bbob("scpo", "1", "5", "1", 300, out_dir=copy)


def coco_trials(folder):
    """{(function, instance): (evaluations, final precision)} of the trials in the .info files under ``folder``."""
    trials = {}
    for info in sorted(Path(folder).rglob("*.info")):
        text = info.read_text()
        assert "suite = 'bbob'" in text
        function = int(re.search(r"funcId = (\d+)", text)[1])
        for line in text.splitlines():
            if line.startswith("data_"):
                for trial in line.split(", ")[1:]:
                    instance, rest = trial.split(":")
                    evals, precision = rest.split("|")
                    assert (function, int(instance)) not in trials
                    trials[(function, int(instance))] = (int(evals), float(precision))
    return trials


def test_coco_data_holds_the_counted_evaluations(must_show):
    """cocoex.Observer's data: one trial per run, with the run's counted evaluations and its precision."""
    out, done = must_show
    assert f"COCO data (cocoex.Observer) in {Path('bb') / 'coco'}" in done.stdout
    rows = read_rows(out / "results.csv")
    for algo in ("scpo", "cmaes"):
        mine = {(int(r["function"]), int(r["instance"])): (int(r["nfev"]), float(r["precision"]))
                for r in rows if r["algorithm"] == algo}
        trials = coco_trials(out / "coco" / algo)
        assert sorted(trials) == sorted(mine) and len(trials) == 6
        for key, (evals, precision) in mine.items():
            assert trials[key][0] == evals <= 1000  # CMA-ES stops at a whole population: 990
            assert trials[key][1] == pytest.approx(precision, rel=0.06)  # the .info keeps 2 significant digits


def test_coco_data_under_a_long_path(tmp_path):
    """cocoex aborts the whole process on long paths ("coco_vstrdupf(): string is too long"): the observer
    writes in a short temporary folder and the run's folder is moved under --out when it ends."""
    out = tmp_path / ("x" * 150) / "bb"
    result = run_bbob("random", "1", "2", "1", 20, out_dir=out)
    assert result.coco.startswith("COCO data (cocoex.Observer)")
    row = result.rows[0]
    assert coco_trials(out / "coco" / "random") == {(1, 1): (row["nfev"], pytest.approx(row["precision"], rel=0.06))}


@pytest.mark.slow
def test_cocopp_postprocesses_the_coco_data(tmp_path):
    """COCO's own post-processing reads our COCO data offline (it warns that its online archive is unreachable)."""
    pytest.importorskip("cocopp", reason="needs the bbob extra: pip install 'scpo[bbob]'")
    run_bbob("random", "1", "2", "1-2", 20, out_dir=tmp_path / "bb")
    done = subprocess.run([sys.executable, "-m", "cocopp", "-o", str(tmp_path / "pp"), str(tmp_path / "bb" / "coco" /
                                                                                         "random")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "pp" / "index.html").is_file()
    assert [p for p in (tmp_path / "pp").iterdir() if p.is_dir() and p.name.startswith("random")]


def test_optimum_is_cocos_and_functions_are_the_suites():
    """f_opt = BareProblem.best_value(): the suite's problem counts x_opt as its final target (f_opt + 1e-8)."""
    for f, d, i in ((1, 5, 1), (8, 10, 2), (15, 2, 3), (24, 20, 1)):
        bare, f_opt = bbob.coco_function(f, d, i)
        suite = cocoex.Suite("bbob", "", f"function_indices: {f} dimensions: {d} instance_indices: {i}")
        problem = suite.get_problem_by_function_dimension_instance(f, d, i)
        X = np.random.default_rng(f).uniform(-5, 5, (7, d))
        assert np.array_equal(bare(X), [problem(x) for x in X])  # one vectorized call == the suite's function
        assert not problem.final_target_hit
        x_opt = np.asarray(bare.best_parameter())
        assert bare(x_opt[None])[0] - f_opt == 0.0
        problem(x_opt)
        assert problem.final_target_hit


def test_recorder_counts_first_hits_within_the_budget():
    values = iter([[150.0, 50.0, 20.0], [0.05, 3.0], [1e-9, 1e-12]])
    recorder = TargetRecorder(lambda X: np.array(next(values)), f_opt=-10.0, budget=6)
    recorder(np.zeros((3, 2)))
    assert recorder.best == 30.0 and recorder.nfev == 3
    expected = np.where(TARGETS >= 60.0, 2, np.where(TARGETS >= 30.0, 3, 0))
    assert np.array_equal(recorder.hits, expected)
    recorder(np.zeros((2, 2)))  # precision 10.05: targets 30 > t >= 10.05 at evaluation 4
    assert np.array_equal(recorder.hits[TARGETS < 30], np.where(TARGETS[TARGETS < 30] >= 10.05, 4, 0))
    f = recorder(np.zeros((2, 2)))  # only the first row is within the budget
    assert f.tolist() == [1e-9, 1e-12] and recorder.nfev == 6 and recorder.best == 1e-9 + 10.0
    assert recorder.hits[TARGETS <= 10].max() == 0  # 10 + 1e-9 misses 1e1; the row past the budget is not counted


def test_art_counts_unsuccessful_trials_fully():
    rows = [{"nfev": 100, "x": 40}, {"nfev": 100, "x": ""}, {"nfev": 80, "x": 20}]
    assert art(rows, "x") == ((40 + 100 + 20) / 2, 2)
    assert art([{"nfev": 10, "x": ""}], "x") == (np.inf, 0)


def test_ecdf_fraction_is_over_all_run_target_pairs():
    row = {"dim": 2, **dict.fromkeys(TARGET_FIELDS, "")}
    row[TARGET_FIELDS[0]], row[TARGET_FIELDS[1]] = 2, 20
    curve = bbob.ecdf_curve([row, {**row, TARGET_FIELDS[1]: ""}], np.array([0.5, 1, 10, 1e3]))
    assert np.allclose(curve, [0, 2 / 102, 3 / 102, 3 / 102])


def test_parse_ints():
    assert parse_ints("1-3,8, 5", "function", allowed=range(1, 25)) == [1, 2, 3, 5, 8]
    assert parse_ints([10, 5], "dimension", allowed=(2, 5, 10)) == [5, 10]
    assert EXPONENTS[25] == -3.0


def test_nevergrad_peers_run_under_the_same_budget_and_seeds(tmp_path):
    pytest.importorskip("nevergrad")
    first = run_bbob("ng:PSO,ng:TwoPointsDE,sca", "1,15", "2", "1", 50, out_dir=tmp_path / "a")
    again = run_bbob("ng:PSO,ng:TwoPointsDE", "1,15", "2", "1", 50, out_dir=tmp_path / "b")
    assert [r["algorithm"] for r in first.rows] == ["ng:PSO"] * 2 + ["ng:TwoPointsDE"] * 2 + ["sca"] * 2
    for row in first.rows:
        check_row({k: str(v) for k, v in row.items()}, budget=100)
    assert all(r["nfev"] == 100 for r in first.rows if r["algorithm"].startswith("ng:"))
    assert len({r["seed"] for r in first.rows if r["function"] == 1}) == 1
    keep = ("algorithm", "function", "seed", "precision", *TARGET_FIELDS)
    assert [{k: r[k] for k in keep} for r in again.rows] == [{k: r[k] for k in keep} for r in first.rows[:4]]


# ---------------------------------------------------------------------------- bad input: one line, exit 2


def cli(args, cwd):
    import cli as cli_module

    result = CliRunner().invoke(cli_module.app, ["benchmark", "--suite", "bbob", "--out", str(cwd / "x"), *args])
    return result


@pytest.mark.parametrize("args, message", [
    (["--functions", "25"], "unknown function 25"),
    (["--functions", "0-3"], "unknown function 0"),
    (["--functions", "1,a"], "bad function 'a'"),
    (["--dims", "7"], "unknown dimension 7"),
    (["--instances", "5-2"], "bad instance range '5-2'"),
    (["--instances", "0"], "unknown instance 0"),
    (["--instances", ""], "bad instance"),
    (["--budget-multiplier", "0.5"], "budget multiplier must be a number >= 1"),
    (["--algos", "ng:NoSuchOptimizer"], "unknown nevergrad optimizer 'NoSuchOptimizer'"),
    (["--algos", "nosuch"], "unknown algorithm 'nosuch'"),
    (["--algos", "scpo", "--dims", "2", "--budget-multiplier", "10"], "below one iteration"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    result = cli(["--functions", "1", "--dims", "2", "--instances", "1", "--algos", "sca", *args], tmp_path)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert not (tmp_path / "x" / "results.csv").exists()


@pytest.mark.parametrize("module, algos, message", [
    ("cocoex", "sca", "needs coco-experiment (the cocoex module): pip install 'scpo[bbob]'"),
    ("nevergrad", "sca,ng:PSO", "ng: algorithms need nevergrad: pip install 'scpo[peers]'"),
])
def test_missing_extras_are_one_line_and_exit_2(module, algos, message, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError, as when not installed
    result = cli(["--functions", "1", "--dims", "2", "--instances", "1", "--algos", algos], tmp_path)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


def test_unknown_suite_is_one_line_and_exit_2(tmp_path):
    import cli as cli_module

    result = CliRunner().invoke(cli_module.app, ["benchmark", "--suite", "cec", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.output.strip() == "error: unknown suite 'cec'; choose from classic, bbob, engineering"


def test_report_part1b_is_computed_from_the_bbob_results(tmp_path):
    pytest.importorskip("nevergrad")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from experiments import report

    results = tmp_path / "results"
    assert report.part1b(results)[0][0].startswith("Not run: no experiments/results/bbob/results.csv")
    run_bbob("scpo,scpo:variant=invariant,pso,ng:PSO,random", "1,15", "2", "1-2", 40, out_dir=results / "bbob")
    lines, facts = report.part1b(results)
    text = "\n".join(lines)
    assert "budget 40 x d evaluations" in text and "**A short setting**" in text
    assert "| scpo[variant=invariant] |" in text and "ECDF area" in text
    assert "- SCPO (published) ranks" in text
    assert "- Invariant variant: scpo[variant=invariant] vs scpo:" in text
    assert "- Ours vs nevergrad: pso vs ng:PSO:" in text and "ng:PSO" in text and "ms" in text
    assert facts["scpo[variant=invariant]"]["n"] == 4 and facts[("pso", "ng:PSO")]["n"] == 4
    assert facts["order"][0] in facts["fraction"] and "nan" not in text


def test_report_part1b_full_uses_complete_dimensions_and_the_bias_verdicts(tmp_path):
    """REPORT part 1b's full setting: entries named without their run options (scpo[restarts=ipop,backend=numba]
    is scpo, as part 1c names it), a dimension some entry has not finished is reported as partial and left out of
    the numbers, and each algorithm's part 1c verdicts stand beside it."""
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from experiments import report

    results = tmp_path / "results"
    assert report.part1b_full(results)[0][0].startswith("Not run")
    folder = results / "bbob_full"
    run_bbob("scpo:restarts=ipop,scpo:variant=invariant,random", "1,15", "2", "1-2", 30, out_dir=folder, coco=False)
    run_bbob("random", "1", "3", "1", 30, out_dir=folder, coco=False)  # d = 3 started, not finished
    (results / "bias").mkdir()
    verdicts = {"f0": {"verdict": "biased", "direction": "bounds"},
                "shift": {"verdict": "centre-biased", "ratio": 48.1}}
    (results / "bias" / "bias.json").write_text(json.dumps({"scpo": verdicts}))
    lines, facts = report.part1b_full(results)
    text = "\n".join(lines)
    assert "Complete: d = 2 (4 trials per algorithm and dimension). Partial: d = 3 (0-1 trials)." in text
    assert facts["complete"] == [2] and set(facts["fraction"]) == {"scpo", "scpo[variant=invariant]", "random"}
    assert "| d=2 |" in text and "| d=3 |" not in text
    assert "biased (bounds) / centre-biased (48.1) |" in text and "| random |" in text
    assert text.count("n/a |") == 2  # no verdicts for the other two
    assert "- Invariant variant: scpo[variant=invariant] vs scpo:" in text and "of 4 trials" in text
    assert "hours so far." in text and "final precision by dimension" not in text  # one dimension: no split

    # d = 3 finished: both dimensions count, the paired comparison is split by dimension (a pooled verdict can
    # hide a sign that flips with d), and the one function that moves the fraction of targets most is named
    run_bbob("scpo:restarts=ipop,scpo:variant=invariant,random", "1,15", "3", "1-2", 30, out_dir=folder, coco=False)
    lines, facts = report.part1b_full(results)
    text = "\n".join(lines)
    assert facts["complete"] == [2, 3] and facts["finished"] is False  # d = 5-40 not yet run
    assert "Not yet run: d = 5, 10, 20, 40." in text and "of 8 trials" in text
    assert "  - final precision by dimension: d=2 " in text and "; d=3 " in text
    assert "  - targets reached without f1 " in text or "  - targets reached without f15 " in text


@pytest.mark.parametrize("suite, flag, value", [
    ("bbob", "--problems", "sphere"), ("bbob", "--shifted", None), ("bbob", "--dim", "10"), ("bbob", "--evals", "100"),
    ("classic", "--functions", "1"), ("classic", "--dims", "5"), ("classic", "--instances", "1"),
    ("classic", "--budget-multiplier", "10"),
])
def test_an_option_of_the_other_suite_is_refused_not_ignored(suite, flag, value, tmp_path):
    import cli as cli_module

    args = ["benchmark", "--suite", suite, "--out", str(tmp_path / "x"), flag, *([value] if value else [])]
    result = CliRunner().invoke(cli_module.app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"error: {flag} does not apply to --suite {suite}; "
                                     "see `scpo benchmark --help` for that suite's options")
    assert not (tmp_path / "x").exists()


def test_numpy_functions_give_the_same_rows_as_cocoex(tmp_path, monkeypatch):
    """--no-coco (scpo.bbob_functions) and cocoex: the same rows (the same evaluations to every target; the
    precision to rounding, as numpy's and libm's last bits differ), wall time aside; no COCO data without cocoex."""
    monkeypatch.setattr(bbob, "NUMPY_MIN_BATCH", 0)  # every call to numpy, however small
    setting = ("scpo,cmaes", "1,7,15,21,24", "3", "1", 40)
    with_coco = run_bbob(*setting, out_dir=tmp_path / "coco")
    without = run_bbob(*setting, out_dir=tmp_path / "numpy", coco=False)
    assert len(with_coco.rows) == len(without.rows) == 10
    for a, b in zip(with_coco.rows, without.rows, strict=True):
        assert b["precision"] == pytest.approx(a["precision"], rel=1e-9, abs=1e-12)
        drop = ("wall_time_s", "precision")
        assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
    assert (tmp_path / "coco" / "coco").is_dir() and not (tmp_path / "numpy" / "coco").exists()
    assert without.coco.startswith("no COCO data: --no-coco")
    with pytest.raises(ValueError, match="coco must be True or False, got 'no'"):
        run_bbob("scpo", "1", "2", "1", 20, out_dir=tmp_path / "bad", coco="no")


def test_cli_no_coco_runs_the_numpy_functions_and_only_for_bbob(tmp_path):
    result = cli(["--algos", "random", "--functions", "3", "--dims", "2", "--instances", "1",
                  "--budget-multiplier", "20", "--no-coco", "--quiet"], tmp_path)
    assert result.exit_code == 0, result.output
    assert "no COCO data: --no-coco" in result.output and not (tmp_path / "x" / "coco").exists()
    assert len(read_rows(tmp_path / "x" / "results.csv")) == 1
    import cli as cli_module

    refused = CliRunner().invoke(cli_module.app, ["benchmark", "--suite", "classic", "--out", str(tmp_path / "y"),
                                                  "--no-coco"])
    assert refused.exit_code == 2
    assert refused.output.strip() == ("error: --coco/--no-coco does not apply to --suite classic; "
                                      "see `scpo benchmark --help` for that suite's options")


def test_restarts_in_the_algorithm_spec_is_the_engines_strategy_for_every_algorithm():
    """``name:restarts=ipop`` reaches minimize(restarts="ipop") (scpo.restarts) for every algorithm, cmaes included
    (whose own boolean ``restarts`` stays reachable as restarts=true)."""
    from scpo.algorithms import REGISTRY
    from scpo.benchmark import parse_algo
    from scpo.engine import minimize
    from scpo.problem import Problem

    sphere = Problem(lambda X: np.sum(X * X, axis=1), -5.0, 5.0, dim=2, vectorized=True)
    for name in sorted(REGISTRY):
        for strategy in ("ipop", "BIPOP"):
            spec = parse_algo(f"{name}:restarts={strategy}")
            assert spec.options == {"restarts": strategy.lower()}, name
            result = minimize(sphere, algorithm=spec.name, max_evals=300, seed=0, **spec.options)
            assert isinstance(result.restarts, int) and result.nfev <= 300 + 64, (name, strategy)
    own = parse_algo("cmaes:restarts=true")
    assert own.options == {"restarts": True}
    assert getattr(minimize(sphere, algorithm="cmaes", max_evals=300, seed=0, **own.options), "restarts", None) is None


def test_run_bbob_script_full_setting_and_its_cost_estimate(tmp_path, monkeypatch, capsys):
    """experiments/run_bbob.py --setting full: our algorithms, IPOP restarts, d 2..40, 15 instances, 10^4 x d
    (here cut to one function, d = 2, 30 x d by the options that override the setting); --estimate writes the
    cost file without running the setting."""
    from experiments import run_bbob as script

    full = script.SETTINGS["full"]
    assert (full["dims"], full["instances"], full["budget_multiplier"]) == ("2,3,5,10,20,40", "1-15", 1e4)
    specs = bbob.resolve_entries(full["algos"])
    assert not any(bbob.is_peer(s) for s in specs)
    assert all(s.options.get("restarts") == "ipop" for s in specs if s.name != "random")
    out = tmp_path / "full"
    assert script.main(["--setting", "full", "--functions", "3", "--dims", "2", "--instances", "1",
                        "--budget-multiplier", "40", "--no-coco", "--quiet", "--out", str(out)]) == 0
    rows = read_rows(out / "results.csv")
    assert [r["algorithm"] for r in rows] == [s.label for s in specs] and not (out / "coco").exists()

    monkeypatch.setattr(script, "cpu_seconds", lambda call, minimum=0.05: 1e-6)  # the row costs: not timed here
    cost = tmp_path / "cost.md"
    assert script.main(["--setting", "full", "--estimate", "--dims", "2", "--instances", "1-2", "--algos", "random",
                        "--budget-multiplier", "20", "--cost-file", str(cost)]) == 0
    text = cost.read_text()
    assert "Estimated total:" in text and "| random |" in text and "48 runs per (algorithm, dim)" in text
    assert not (out.parent / "bbob_full").exists()


def test_no_coco_evaluator_sends_large_calls_to_numpy_and_small_ones_to_cocoex(monkeypatch):
    evaluator, f_opt = bbob.coco_function(15, 40, 2, coco=False)
    assert f_opt == cocoex.BareProblem("bbob", 15, 40, 2).best_value() and str(evaluator) == "bbob_f015_i02_d40"
    calls = []
    monkeypatch.setattr(evaluator, "ours", lambda X: calls.append("numpy") or np.zeros(len(X)))
    monkeypatch.setattr(evaluator, "bare", lambda X: calls.append("cocoex") or np.zeros(len(X)))
    evaluator(np.zeros((bbob.NUMPY_MIN_BATCH // 40 + 1, 40)))
    evaluator(np.zeros((8, 40)))
    evaluator(np.zeros(40))
    assert calls == ["numpy", "cocoex", "cocoex"]
    evaluator.bare = None  # no cocoex installed: numpy for every call
    evaluator(np.zeros((8, 40)))
    assert calls[-1] == "numpy"


def test_report_summary_says_so_far_only_while_the_full_setting_runs():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from experiments import report

    facts = {"scpo_rank": 2, "fraction": {"cmaes": 0.8, "scpo": 0.4, "random": 0.1},
             "order": ["cmaes", "scpo", "random"], "complete": [2, 3]}
    running = report.summary({}, {}, [], facts1b_full={**facts, "finished": False})
    finished = report.summary({}, {}, [], facts1b_full={**facts, "finished": True})
    assert running[0].startswith("- BBOB, full setting (part 1b; d = 2, 3 complete so far, 15 instances")
    assert finished[0].startswith("- BBOB, full setting (part 1b; d = 2, 3, 15 instances")
    assert "SCPO ranks 2 of 3 by targets reached (0.400; best cmaes 0.800, then scpo 0.400)" in finished[0]
