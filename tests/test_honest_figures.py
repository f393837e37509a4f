"""Issue 25 items 7-10: figures and summaries that say what they show (configurations apart, negative
objectives visible, the benchmark's problem instance, a re-run's summary covering its results file)."""

import json

import numpy as np
import pytest


@pytest.fixture
def drawn(monkeypatch):
    """The axes of every figure saved while the test runs (matplotlib's Agg figures, captured at savefig)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    axes, save = [], Figure.savefig

    def capture(self, *args, **kwargs):
        axes.append(self.axes[0])
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    return axes


# ---------------------------------------------------------------------------- item 8: negative objectives


def test_negative_values_are_drawn_apart_not_at_a_floor(tmp_path, drawn):
    from scpo.plotting import plot_convergence

    curve = ([10, 20, 30, 40], [5.0, 0.5, -1.0, -3.21])
    plot_convergence({"run": [curve]}, tmp_path / "c.png")
    ax = drawn[-1]
    y = ax.lines[0].get_ydata()
    assert np.all(np.diff(y) < 0), y  # every improvement visible: -1 and -3.21 are not merged at one floor
    assert ax.get_yscale() == "log" and "min f seen (-3.21)" in ax.get_ylabel(), ax.get_ylabel()
    np.testing.assert_allclose(y[:3], np.array([5.0, 0.5, -1.0]) + 3.21)


def test_known_optimum_still_gives_f_minus_f_star(tmp_path, drawn):
    from scpo.plotting import plot_convergence

    plot_convergence({"run": [([1, 2, 3], [-7.0, -9.0, -9.9])]}, tmp_path / "c.png", f_opt=-10.0)
    ax = drawn[-1]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [3.0, 1.0, 0.1])
    assert ax.get_ylabel() == "best f - f* so far"
    plot_convergence({"run": [([1, 2], [-7.0, -11.0])]}, tmp_path / "d.png", f_opt=-10.0)  # below a wrong f*
    assert "min f seen (-11, below f* = -10)" in drawn[-1].get_ylabel()
    assert np.all(np.diff(drawn[-1].lines[0].get_ydata()) < 0)


def test_a_run_with_a_negative_objective_draws_every_improvement(tmp_path, drawn):
    """`scpo optimize`'s convergence.png (cli.write_run): schwefel226 has f* = -418.98 d, given to the plot."""
    from typer.testing import CliRunner

    from cli import app

    done = CliRunner().invoke(app, ["optimize", "schwefel226", "--dim", "2", "--evals", "300", "--algo", "de",
                                    "--out", str(tmp_path / "r"), "--quiet"])
    assert done.exit_code == 0, done.output
    ax = drawn[-1]
    assert ax.get_ylabel().startswith("best f - f* so far") and ax.get_yscale() == "log"
    assert np.unique(ax.lines[0].get_ydata()).size > 1


# ---------------------------------------------------------------------------- item 9: shifted benchmark, instances


def test_benchmark_shifts_by_default_and_records_the_instance(tmp_path):
    import inspect

    from scpo.benchmark import run_benchmark

    assert inspect.signature(run_benchmark).parameters["shifted"].default is True
    result = run_benchmark("sca", "sphere", 2, 1, 100, 0, tmp_path / "api")
    assert [(r["problem"], r["instance"]) for r in result.rows] == [("sphere-shifted", 0)]
    from typer.testing import CliRunner

    from cli import app

    done = CliRunner().invoke(app, ["benchmark", "--algos", "sca", "--problems", "sphere", "--dim", "2", "--runs",
                                    "1", "--evals", "100", "--instance", "3", "--out", str(tmp_path / "cli"),
                                    "--quiet"])
    assert done.exit_code == 0, done.output
    header, row = (tmp_path / "cli" / "results.csv").read_text().splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=True))["problem"] == "sphere-shifted"
    assert dict(zip(header.split(","), row.split(","), strict=True))["instance"] == "3"
    assert "instance 3" in (tmp_path / "cli" / "summary.md").read_text()
    with pytest.raises(ValueError, match="instance=2 applies to shifted problems"):
        run_benchmark("sca", "sphere", 2, 1, 100, 0, tmp_path / "x", shifted=False, instance=2)


def test_optimize_seed_moves_the_algorithm_and_instance_moves_the_problem(tmp_path, monkeypatch):
    """Several seeds on one fixed problem: --seed no longer draws the shift, --instance does."""
    from typer.testing import CliRunner

    import scpo
    from cli import app

    seen, make = [], scpo.make
    monkeypatch.setattr(scpo, "make", lambda problem, *a, **k: seen.append(problem.x_opt.copy()) or make(problem, *a,
                                                                                                           **k))
    for i, (seed, instance) in enumerate(((0, "4"), (1, "4"), (1, "5"))):
        done = CliRunner().invoke(app, ["optimize", "sphere", "--dim", "3", "--evals", "200", "--seed", str(seed),
                                        "--instance", instance, "--out", str(tmp_path / f"r{i}"), "--quiet"])
        assert done.exit_code == 0, done.output
    np.testing.assert_array_equal(seen[0], seen[1])  # seeds 0 and 1, instance 4: one problem
    assert not np.allclose(seen[1], seen[2])  # instance 5: another shift
    summary = json.loads((tmp_path / "r1" / "result.json").read_text())
    assert (summary["seed"], summary["instance"], summary["shifted"]) == (1, 4, True)
    for key in ("dtype", "device", "max_iter", "max_evals", "backend", "step", "pop_size", "options"):
        assert key in summary, key
    bad = CliRunner().invoke(app, ["optimize", "sphere", "--no-shifted", "--instance", "2", "--dim", "2", "--out",
                                   str(tmp_path / "bad"), "--quiet"])
    assert bad.exit_code == 2 and "--instance applies to a shifted benchmark" in bad.output


# ---------------------------------------------------------------------------- item 10: a re-run's summary


def test_rerun_with_fewer_algorithms_reports_the_file_and_summarizes_it(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    base = ["benchmark", "--problems", "sphere", "--dim", "2", "--runs", "2", "--evals", "100", "--out",
            str(tmp_path / "B"), "--quiet"]
    first = CliRunner().invoke(app, [*base, "--algos", "sca,random"])
    assert first.exit_code == 0 and "4 rows in" in first.stdout, first.output
    whole = (tmp_path / "B" / "summary.md").read_text()
    again = CliRunner().invoke(app, [*base, "--algos", "sca"])
    assert again.exit_code == 0, again.output
    assert "0 runs computed, 2 resumed; 4 rows in" in again.stdout, again.stdout  # the file's rows, not this call's
    summary = (tmp_path / "B" / "summary.md").read_text()
    assert "| random |" in summary and "| sca |" in summary  # still covers what results.csv holds
    assert "cover all 4 rows of results.csv" in summary and "cover all 4 rows" in again.stdout
    assert [line for line in summary.splitlines() if line.startswith("| random |")] == \
        [line for line in whole.splitlines() if line.startswith("| random |")]
    more = CliRunner().invoke(app, [*base, "--algos", "sca", "--problems", "sphere,step"])  # not a grid any more
    assert more.exit_code == 0, more.output
    summary = (tmp_path / "B" / "summary.md").read_text()
    assert "6 rows in" in more.stdout and "cover only the 4 rows this call asked for (sca)" in more.stdout
    assert "cover only the 4 rows" in summary and "| random |" not in summary


def test_bbob_rerun_with_fewer_algorithms_summarizes_the_file(tmp_path):
    pytest.importorskip("cocoex")
    from scpo.bbob import run_bbob

    settings = dict(functions="1", dims="2", instances="1", budget_multiplier=20, runs=2, out_dir=tmp_path)
    run_bbob("sca,random", **settings)
    again = run_bbob("sca", **settings)
    assert again.file_rows == 4 and len(again.rows) == 2 and "cover all 4 rows" in again.scope
    summary = (tmp_path / "summary.md").read_text()
    assert "| random |" in summary and "cover all 4 rows" in summary


# ---------------------------------------------------------------------------- item 7: scpo plot's groups


def write_result(folder, seed, older=False, **changes):
    """A result.json as `scpo optimize` writes it (``older``: without the keys added in issue 25)."""
    summary = {"algorithm": "scpo", "problem": "sphere-shifted", "dim": 3, "seed": seed, "options": {},
               "backend": "numpy", "step": None, "pop_size": 9, "f_opt": 0.0,
               "history": {"nfev": [9, 18, 27], "best": [3.0 + seed, 2.0, 1.0 - seed / 10]}}
    if not older:
        summary.update(device="cpu", dtype="float64", max_iter=3, max_evals=27, shifted=True, instance=0)
    summary.update(changes)
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(summary))
    return str(folder)


def plot_cli(*args):
    from typer.testing import CliRunner

    from cli import app

    return CliRunner().invoke(app, ["plot", *args])


def test_plot_keeps_configurations_apart_and_labels_them(tmp_path, drawn):
    runs = [write_result(tmp_path / f"default{s}", s) for s in range(3)]
    runs += [write_result(tmp_path / f"inv{s}", s, options={"variant": "invariant"}) for s in range(3)]
    runs += [write_result(tmp_path / f"numba{s}", s, backend="numba", step="fused") for s in range(3)]
    done = plot_cli(*runs, "--out", str(tmp_path / "p.png"))
    assert done.exit_code == 0, done.output
    labels = [text.get_text() for text in drawn[-1].get_legend().get_texts()]
    assert labels == ["scpo [numpy] (median of 3)", "scpo variant=invariant [numpy] (median of 3)",
                      "scpo [numba, step=fused] (median of 3)"], labels
    assert "9 runs, 1 algorithms, 3 configurations" in done.stdout


def test_plot_refuses_one_run_counted_twice_and_reads_older_files(tmp_path, drawn):
    first = write_result(tmp_path / "a", 0)
    again = write_result(tmp_path / "b", 0)  # same configuration, instance and seed: the same run
    done = plot_cli(first, again, "--out", str(tmp_path / "p.png"))
    lines = done.output.strip().splitlines()
    assert done.exit_code == 2 and len(lines) == 1 and "seed 0" in lines[0] and "a and" in lines[0], done.output
    assert not (tmp_path / "p.png").exists()
    other = write_result(tmp_path / "c", 0, instance=1)  # another problem instance: another group
    assert plot_cli(first, other, "--out", str(tmp_path / "p.png")).exit_code == 0
    assert [t.get_text() for t in drawn[-1].get_legend().get_texts()] == ["scpo [instance=0]", "scpo [instance=1]"]
    old = [write_result(tmp_path / f"old{s}", s, older=True) for s in range(2)]  # unknown dtype, instance, ...
    done = plot_cli(*old, "--out", str(tmp_path / "q.png"))
    assert done.exit_code == 0 and "2 runs, 1 algorithms, 1 configurations" in done.stdout, done.output
    done = plot_cli(old[0], first, "--out", str(tmp_path / "r.png"))  # unknown is not assumed equal
    assert done.exit_code == 0, done.output
    assert [t.get_text() for t in drawn[-1].get_legend().get_texts()] == [
        "scpo [device=?, dtype=?, evals=?, iters=?, instance=?]", "scpo [cpu, float64, evals=27, iters=3, instance=0]"]


def test_a_folder_written_before_the_instance_column_resumes(tmp_path):
    """Older results.csv / config.json (no instance, no shifted): read as they are, upgraded at the first append."""
    import csv

    from scpo.benchmark import FIELDS_V1, run_benchmark

    for shifted in (True, False):
        out = tmp_path / str(shifted)
        run_benchmark("sca", "sphere", 2, 1, 100, 0, out, shifted=shifted)
        rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
        (out / "results.csv").write_text(",".join(FIELDS_V1) + "\n" + "".join(
            ",".join(r[k] for k in FIELDS_V1) + "\n" for r in rows))
        (out / "config.json").write_text(json.dumps({"dim": 2, "evals": 100, "seed": 0}))
    again = run_benchmark("sca", "sphere", 2, 2, 100, 0, tmp_path / "True")
    assert (again.ran, again.skipped) == (1, 1)
    assert [r["instance"] for r in csv.DictReader((tmp_path / "True" / "results.csv").open())] == ["0", "0"]
    with pytest.raises(ValueError, match="shifted=False, not True"):  # the classical functions were run there
        run_benchmark("sca", "sphere", 2, 1, 100, 0, tmp_path / "False")
