"""`scpo optimize` and `scpo plot` as a user runs them: files written, exit codes, one-line errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")


def run(*args, cwd):
    assert SCPO, "the scpo console script is not installed (pip install -e .)"
    return subprocess.run([SCPO, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_default_run_is_scpo_on_shifted_rastrigin_30d(tmp_path):
    done = run("optimize", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "scpo on rastrigin-shifted d=30" in done.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert {p.name for p in run_dir.iterdir()} == {"history.csv", "result.json", "convergence.png"}
    assert (run_dir / "convergence.png").read_bytes()[:4] == b"\x89PNG"


def test_json_summary_has_the_documented_keys(tmp_path):
    done = run("optimize", "sphere", "--algo", "sca", "--dim", "5", "--pop", "10", "--iters", "20",
               "--seed", "4", "--out", "r", "--json", "out.json", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out.json").read_text())
    for key in ("algorithm", "problem", "dim", "seed", "best_fitness", "best_x", "nfev", "nit", "wall_time_s"):
        assert key in summary
    assert summary["nfev"] == 200 and summary["nit"] == 20 and len(summary["best_x"]) == 5
    assert summary["best_fitness"] == min(summary["history"]["best"])
    lines = (tmp_path / "r" / "history.csv").read_text().splitlines()
    assert lines[0] == "iteration,nfev,best_fitness,time_s" and len(lines) == 21


def test_user_objective_file_and_algorithm_options(tmp_path):
    (tmp_path / "obj.py").write_text("def shifted(x):\n    return float(((x - 0.5) ** 2).sum())\n")
    done = run("optimize", "obj.py:shifted", "--bounds", "-1,1", "--dim", "4", "--algo", "po", "-o", "parties=4",
               "-o", "reference_switch_bug=false", "--evals", "2000", "--out", "r", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "r" / "result.json").read_text())
    assert summary["best_fitness"] < 0.1 and summary["options"] == {"parties": 4, "reference_switch_bug": False}


BAD_INPUTS = {
    "unknown problem": (["nosuch"], "unknown problem 'nosuch'"),
    "unknown algorithm": (["--algo", "nope"], "unknown algorithm 'nope'"),
    "zero dimension": (["--dim", "0"], "--dim"),
    "non-numeric dimension": (["--dim", "abc"], "--dim"),
    "negative population": (["--pop", "-4"], "--pop"),
    "non-square population": (["--pop", "10"], "pop_size=10"),
    "zero evaluations": (["--evals", "0"], "--evals"),
    "non-numeric iterations": (["--iters", "many"], "--iters"),
    "lb >= ub": (["obj.py:ok", "--bounds", "2,1"], "'2,1'"),
    "bounds not numbers": (["obj.py:ok", "--bounds", "a,b"], "'a,b'"),
    "objective file missing": (["missing.py:f", "--bounds", "0,1"], "'missing.py'"),
    "objective file broken": (["broken.py:f", "--bounds", "0,1"], "broken.py"),
    "objective function missing": (["obj.py:nothere", "--bounds", "0,1"], "'nothere'"),
    "objective raises": (["obj.py:raises", "--bounds", "0,1"], "ZeroDivisionError"),
    "objective wrong shape": (["obj.py:vector", "--bounds", "0,1"], "shape (3,)"),
    "bad option syntax": (["-o", "parties"], "'parties'"),
    "unknown option": (["-o", "foo=1"], "'foo'"),
    "unknown executor": (["--executor", "dask"], "unknown executor 'dask'"),
    "ray address without ray": (["--ray-address", "auto"], "ray_address applies to executor='ray'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(tmp_path, case):
    (tmp_path / "obj.py").write_text(
        "def ok(x):\n    return float((x ** 2).sum())\n"
        "def raises(x):\n    return 1 / 0\n"
        "def vector(x):\n    return x[:3]\n"
    )
    (tmp_path / "broken.py").write_text("def f(x:\n")
    args, fragment = BAD_INPUTS[case]
    # defaults first: a repeated option takes its last value, so the case's own value wins
    done = run("optimize", "--dim", "3", "--evals", "500", "--quiet", "--out", "r", *args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], done.stderr


def test_plot_overlays_runs_with_median_band(tmp_path):
    for seed in ("0", "1", "2"):
        run("optimize", "sphere", "--dim", "4", "--evals", "1500", "--seed", seed, "--out", f"s{seed}", "--quiet",
            cwd=tmp_path)
    run("optimize", "sphere", "--algo", "random", "--dim", "4", "--evals", "1500", "--out", "rnd", "--quiet",
        cwd=tmp_path)
    done = run("plot", "s0", "s1", "s2", "rnd", "--out", "all.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 runs, 2 algorithms" in done.stdout
    assert (tmp_path / "all.png").read_bytes()[:4] == b"\x89PNG"
    bad = run("plot", "nowhere", cwd=tmp_path)
    assert bad.returncode == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_train_reports_beside_frequency_and_recommend_uses_the_saved_model(tmp_path):
    import os

    if not (DATA / "apple_twitter_sentiment.csv").exists() and not os.environ.get("SCPO_DATA_HOME"):
        if os.environ.get("CI") == "true":
            pytest.fail(f"tweet data missing in CI: {DATA}")
        pytest.skip("tweet data not available")
    done = run("train", "apple", "--optimizer", "adam", "--out", "model", "--json", "m.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "m.json").read_text())
    assert 0 <= report["model"]["p@1"] <= 1 and 0 <= report["frequency"]["p@1"] <= 1
    assert "(frequency" in done.stdout
    tagged = run("recommend", "model", "new iphone battery", "--k", "2", cwd=tmp_path)
    assert tagged.returncode == 0, tagged.stderr
    assert tagged.stdout.count("#") == 2 and "new iphone battery" in tagged.stdout
    for args in (["train", "nowhere.csv"], ["train", "--model", "nope"], ["recommend", "nodir", "hi"]):
        bad = run(*args, cwd=tmp_path)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_train_population_options_checked_before_loading(tmp_path):
    for args, words in ((["--optimizer", "nope"], ["unknown optimizer 'nope'", "scpo", "cmaes"]),
                        (["--dtype", "float16"], ["--dtype must be one of float32, float64"])):
        bad = run("train", "apple", *args, cwd=tmp_path)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        assert all(w in bad.stderr for w in words), bad.stderr


def test_benchmark_command_writes_40_rows_and_resumes(tmp_path):
    args = ["benchmark", "--algos", "scpo,sca,po,random", "--problems", "sphere,rastrigin", "--dim", "10",
            "--runs", "5", "--evals", "3000", "--seed", "0", "--out", "D"]
    first = run(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    results = (tmp_path / "D" / "results.csv").read_text()
    assert len(results.strip().splitlines()) == 41
    summary = (tmp_path / "D" / "summary.md").read_text()
    assert "Wilcoxon" in summary and "Friedman" in summary
    assert {p.name for p in (tmp_path / "D" / "plots").iterdir()} == {"sphere.png", "rastrigin.png"}
    again = run(*args, cwd=tmp_path)
    assert again.returncode == 0 and (tmp_path / "D" / "results.csv").read_text() == results
    bad = run("benchmark", "--algos", "nope", "--out", "E", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown algorithm 'nope'")
