"""The optimizer benchmark: rows, histories, summary, plots, resume, seeds, statistics, bad input."""

import csv
import json
import time

import numpy as np
import pytest

import scpo.benchmark as bench
from scpo.benchmark import AlgoSpec, compute_statistics, holm, parse_algo, rank_sum, run_benchmark, run_seed

MUST_SHOW = dict(algos="scpo,sca,po,random", problems="sphere,rastrigin", dim=10, runs=5, evals=3000, seed=0,
                 shifted=False)  # the papers setting


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def snapshot(out_dir):
    """mtime and bytes of every file the benchmark wrote."""
    return {p.relative_to(out_dir): (p.stat().st_mtime_ns, p.read_bytes()) for p in out_dir.rglob("*") if p.is_file()}


def comparable(rows):
    return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]


@pytest.fixture(scope="module")
def must_show(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    start = time.perf_counter()
    result = run_benchmark(**MUST_SHOW, out_dir=out)
    return out, result, time.perf_counter() - start


def test_must_show_writes_rows_histories_summary_and_plots(must_show):
    out, result, _ = must_show
    rows = read_rows(out / "results.csv")
    assert len(rows) == 40 and result.ran == 40 and result.skipped == 0
    assert list(rows[0]) == ["algorithm", "problem", "instance", "run", "seed", "best_fitness", "nfev", "wall_time_s"]
    cells = {(r["algorithm"], r["problem"]) for r in rows}
    assert cells == {(a, p) for a in ("scpo", "sca", "po", "random") for p in ("sphere", "rastrigin")}
    assert all(int(r["nfev"]) <= 3000 for r in rows if r["algorithm"] in ("sca", "random"))
    assert len(list((out / "histories").glob("*.json"))) == 40
    history = json.loads((out / "histories" / "scpo__rastrigin__2.json").read_text())
    assert history["nfev"][-1] == next(int(r["nfev"]) for r in rows if r["algorithm"] == "scpo"
                                        and r["problem"] == "rastrigin" and r["run"] == "2")
    assert np.all(np.diff(history["best"]) < 0) and np.all(np.diff(history["nfev"][:-1]) > 0)
    for problem in ("sphere", "rastrigin"):
        assert (out / "plots" / f"{problem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    for fragment in ("## sphere", "## rastrigin", "Wilcoxon rank-sum", "mannwhitneyu", "Holm", "p (Holm)",
                     "Friedman across problems: chi2 =", "Friedman across (problem, run): chi2 =", "mean rank"):
        assert fragment in summary, fragment
    assert summary.count("| scpo |") >= 2 and "(reference)" in summary


def test_rerun_resumes_without_recomputing(must_show, monkeypatch):
    out, _, first_seconds = must_show
    before = snapshot(out)

    def no_run(*args, **kwargs):
        raise AssertionError("a finished run was recomputed")

    monkeypatch.setattr(bench, "execute", no_run)
    start = time.perf_counter()
    again = run_benchmark(**MUST_SHOW, out_dir=out)
    seconds = time.perf_counter() - start
    assert again.ran == 0 and again.skipped == 40 and len(again.rows) == 40
    assert snapshot(out) == before  # not a byte nor an mtime changed
    assert seconds < first_seconds


def test_interrupted_benchmark_resumes_to_the_same_results(tmp_path, monkeypatch):
    settings = dict(algos="scpo,de", problems="sphere", dim=4, runs=3, evals=400, seed=5)
    reference = run_benchmark(**settings, out_dir=tmp_path / "whole")
    calls, real = [], bench.execute

    def crash_after_two(task, *args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(task.key)
        return real(task, *args)

    monkeypatch.setattr(bench, "execute", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(**settings, out_dir=tmp_path / "cut")
    assert len(read_rows(tmp_path / "cut" / "results.csv")) == 2
    with open(tmp_path / "cut" / "results.csv", "a") as handle:
        handle.write("scpo,sphere,2,123")  # a row torn by the kill, no newline
    calls.clear()
    monkeypatch.setattr(bench, "execute", lambda task, *args: (calls.append(task.key), real(task, *args))[1])
    resumed = run_benchmark(**settings, out_dir=tmp_path / "cut")
    assert resumed.ran == 4 and resumed.skipped == 2 and len(calls) == 4
    assert comparable(resumed.rows) == comparable(reference.rows)
    assert (tmp_path / "cut" / "summary.md").read_text() == (tmp_path / "whole" / "summary.md").read_text()


def test_more_runs_later_only_adds_the_new_ones(tmp_path):
    settings = dict(algos="sca,random", problems="step", dim=3, evals=300, seed=2, out_dir=tmp_path)
    assert run_benchmark(**settings, runs=2).ran == 4
    more = run_benchmark(**settings, runs=3)
    assert more.ran == 2 and more.skipped == 4 and len(read_rows(tmp_path / "results.csv")) == 6


def test_parallel_jobs_give_the_same_results(tmp_path):
    settings = dict(algos="scpo,cmaes,pso", problems="ackley", dim=5, runs=2, evals=600, seed=1)
    serial = run_benchmark(**settings, out_dir=tmp_path / "serial")
    parallel = run_benchmark(**settings, out_dir=tmp_path / "parallel", jobs=2)
    assert comparable(parallel.rows) == comparable(serial.rows)
    assert (tmp_path / "parallel" / "summary.md").read_text() == (tmp_path / "serial" / "summary.md").read_text()


def test_seeds_shared_by_algorithms_and_shift_from_the_benchmark_seed(tmp_path):
    result = run_benchmark("sca,pso,de", "sphere,rastrigin", 4, 2, 200, 9, tmp_path, shifted=True)
    by_cell = {}
    for r in result.rows:
        by_cell.setdefault((r["problem"], r["run"]), set()).add(r["seed"])
    assert all(len(seeds) == 1 for seeds in by_cell.values())  # one seed per (problem, run)
    assert len({next(iter(s)) for s in by_cell.values()}) == 4  # different across problems and runs
    assert {r["problem"] for r in result.rows} == {"sphere-shifted", "rastrigin-shifted"}
    assert run_seed(9, "sphere-shifted", 1) == next(iter(by_cell[("sphere-shifted", 1)]))
    assert run_seed(0, "sphere", 0) != run_seed(1, "sphere", 0)
    assert (tmp_path / "plots" / "sphere-shifted.png").exists()
    history = json.loads((tmp_path / "histories" / "pso__sphere-shifted__0.json").read_text())
    assert history["f_opt"] == 0.0


def test_algorithm_entries_carry_options_and_labels(tmp_path):
    spec = parse_algo("po:reference_switch_bug=True")
    assert spec == AlgoSpec("po", {"reference_switch_bug": True}) and spec.label == "po[reference_switch_bug=True]"
    assert spec.slug == "po-reference_switch_bug=True"
    assert parse_algo("scpo:variant=printed:parties=6").options == {"variant": "printed", "parties": 6}
    result = run_benchmark(["po", "po:reference_switch_bug=true"], ["sphere"], 6, 2, 400, 0, tmp_path,
                           shifted=False, options={"po": {"pop_size": 36}})  # the bug's edge: the diagonal
    labels = [r["algorithm"] for r in result.rows]
    assert labels == ["po[pop_size=36]"] * 2 + ["po[pop_size=36,reference_switch_bug=True]"] * 2
    bug = [r["best_fitness"] for r in result.rows if "bug" in r["algorithm"]]
    assert max(bug) < min(r["best_fitness"] for r in result.rows if "bug" not in r["algorithm"])
    assert (tmp_path / "histories" / "po-pop_size=36-reference_switch_bug=True__sphere__1.json").exists()
    assert "## sphere" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"algos": "scpo,nelder"}, "'nelder'"),
    ({"problems": "sphere,camel"}, "'camel'"),
    ({"runs": 0}, "runs must be an integer >= 1, got 0"),
    ({"evals": 20}, "max_evals=20"),
    ({"dim": 0}, "dim must be an integer >= 1, got 0"),
    ({"seed": -1}, "-1"),
    ({"jobs": 0}, "jobs must be an integer >= 1, got 0"),
    ({"algos": "po:switch"}, "'switch'"),
    ({"algos": "po:colour=red"}, "'colour'"),
    ({"algos": "sca,sca"}, "'sca' is listed twice"),
    ({"algos": "sca:max_evals=10"}, "'max_evals'"),
    ({"algos": "sca:pop_size=1"}, "pop_size"),
    ({"algos": ""}, "no algorithms"),
    ({"options": {"pso": {"pop_size": 10}}}, "'pso'"),
])
def test_bad_input_is_a_one_line_value_error(tmp_path, changes, fragment):
    settings = {**dict(algos="scpo,sca", problems="sphere", dim=3, runs=1, evals=300, seed=0), **changes}
    with pytest.raises(ValueError) as info:
        run_benchmark(**settings, out_dir=tmp_path)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "results.csv").exists()


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    run_benchmark("sca", "sphere", 3, 1, 300, 0, tmp_path)
    with pytest.raises(ValueError, match="evals=300, not 600"):
        run_benchmark("sca", "sphere", 3, 1, 600, 0, tmp_path)


def test_holm_and_rank_sum():
    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert np.allclose(holm([0.5, 0.001]), [0.5, 0.002])
    assert rank_sum([0.0] * 5, [0.0] * 5) == (1.0, 0.5)
    p, effect = rank_sum([5, 6, 7, 8, 9], [0, 1, 2, 3, 4])
    assert p == pytest.approx(2 / 252) and effect == 1.0  # exact two-sided: 2 of C(10, 5) orderings


def test_statistics_without_reference_or_with_two_algorithms():
    rows = [{"algorithm": a, "problem": p, "run": r, "best_fitness": float(i + r), "nfev": 10}
            for i, a in enumerate(("sca", "pso")) for p in ("sphere", "step") for r in range(4)]
    stats = compute_statistics(rows, ["sca", "pso"], ["sphere", "step"])
    assert stats["reference"] is None and stats["tests"] == {}
    assert list(stats["friedman_problems"]["mean_ranks"]) == [1.0, 2.0]
    text = bench.render_summary(stats, {"dim": 2, "evals": 10, "runs": 4, "seed": 0, "shifted": False})
    assert "No rank-sum tests: scpo is not among the algorithms." in text
    assert "Friedman across problems: not computed (needs >= 3 algorithms" in text
    assert stats["cells"][("pso", "step")]["mean"] == pytest.approx(2.5)


def test_progress_bar_runs(tmp_path, capsys):
    result = run_benchmark("sca,random", "sphere", 3, 2, 300, 0, tmp_path, progress=True)
    assert result.ran == 4


def test_cli_benchmark_is_a_thin_wrapper(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    args = ["benchmark", "--algos", "scpo,sca,po:reference_switch_bug=True", "--problems", "sphere,f9", "--shifted",
            "--dim", "4", "--runs", "2", "--evals", "400", "--seed", "3", "--out", str(tmp_path / "D")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "12 runs computed, 0 resumed; 12 rows" in first.stdout
    rows = read_rows(tmp_path / "D" / "results.csv")
    assert {r["problem"] for r in rows} == {"sphere-shifted", "rastrigin-shifted"}
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 runs computed, 12 resumed" in again.stdout
    for bad, fragment in ((["--runs", "0"], "--runs"), (["--problems", "camel"], "'camel'"),
                          (["--algos", "po:colour=red"], "'colour'"), (["--evals", "10"], "max_evals=10"),
                          (["--evals", "500"], "evals=400, not 500")):
        done = runner.invoke(app, [*args, *bad])
        lines = done.stderr.strip().splitlines()
        assert done.exit_code == 2 and len(lines) == 1 and fragment in lines[0], (bad, done.output)
        assert "Traceback" not in done.output
