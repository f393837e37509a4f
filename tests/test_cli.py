"""`scpo optimize` and `scpo plot` as a user runs them: files written, exit codes, one-line errors."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _children import child
from _cli import invoke

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
    done = invoke("optimize", "--dim", "3", "--evals", "500", "--quiet", "--out", "r", *args, cwd=tmp_path)
    assert done.exit_code == 2, (done.stdout, done.stderr)  # in-process: an uncaught exception is exit code 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], done.stderr


def test_plot_overlays_runs_with_median_band(tmp_path):
    for seed in ("0", "1", "2"):  # the runs to plot, in-process; `scpo plot` below in a process of its own
        made = invoke("optimize", "sphere", "--dim", "4", "--evals", "1500", "--seed", seed, "--out", f"s{seed}",
                      "--quiet", cwd=tmp_path)
        assert made.exit_code == 0, made.output
    made = invoke("optimize", "sphere", "--algo", "random", "--dim", "4", "--evals", "1500", "--out", "rnd",
                  "--quiet", cwd=tmp_path)
    assert made.exit_code == 0, made.output
    done = run("plot", "s0", "s1", "s2", "rnd", "--out", "all.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 runs, 2 algorithms" in done.stdout
    assert (tmp_path / "all.png").read_bytes()[:4] == b"\x89PNG"
    bad = invoke("plot", "nowhere", cwd=tmp_path)
    assert bad.exit_code == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.output


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_train_reports_beside_frequency_and_recommend_uses_the_saved_model(tmp_path):
    import os

    if not (DATA / "apple_twitter_sentiment.csv").exists() and not os.environ.get("SCPO_DATA_HOME"):
        if os.environ.get("CI") == "true":
            pytest.fail(f"tweet data missing in CI: {DATA}")
        pytest.skip("tweet data not available")
    done = invoke("train", "apple", "--optimizer", "adam", "--epochs", "2", "--out", "model", "--json", "m.json",
                  cwd=tmp_path)  # 2 epochs: the report and the saved model are the subject, not the model's quality
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "m.json").read_text())
    assert 0 <= report["metrics"]["p@1"] <= 1 and 0 <= report["frequency_metrics"]["p@1"] <= 1
    assert "(frequency" in done.stdout
    tagged = run("recommend", "model", "new iphone battery", "--k", "2", cwd=tmp_path)  # a fresh process loads it
    assert tagged.returncode == 0, tagged.stderr
    assert tagged.stdout.count("#") == 2 and "new iphone battery" in tagged.stdout
    for args in (["train", "nowhere.csv"], ["train", "--model", "nope"], ["recommend", "nodir", "hi"]):
        one_line_error(invoke(*args, cwd=tmp_path))  # in-process: one-line errors need no process of their own


def test_train_population_options_checked_before_loading(tmp_path):
    for args, words in ((["--optimizer", "nope"], ["unknown optimizer 'nope'", "scpo", "cmaes"]),
                        (["--dtype", "float16"], ["--dtype must be one of float32, float64"])):
        one_line_error(invoke("train", "apple", *args, cwd=tmp_path), *words)


def test_benchmark_command_writes_40_rows_and_resumes(tmp_path):
    args = ["benchmark", "--algos", "scpo,sca,po,random", "--problems", "sphere,rastrigin", "--dim", "10",
            "--runs", "5", "--evals", "1000", "--seed", "0", "--out", "D"]
    first = invoke(*args, cwd=tmp_path)  # in-process: the command in a process of its own is the Ctrl-C test's
    assert first.exit_code == 0, first.output
    results = (tmp_path / "D" / "results.csv").read_text()
    assert len(results.strip().splitlines()) == 41
    summary = (tmp_path / "D" / "summary.md").read_text()
    assert "Wilcoxon" in summary and "Friedman" in summary
    assert {p.name for p in (tmp_path / "D" / "plots").iterdir()} == {"sphere-shifted.png", "rastrigin-shifted.png"}
    again = invoke(*args, cwd=tmp_path)
    assert again.exit_code == 0 and (tmp_path / "D" / "results.csv").read_text() == results, again.output
    bad = invoke("benchmark", "--algos", "nope", "--out", "E", cwd=tmp_path)
    assert bad.exit_code == 2 and bad.stderr.startswith("error: unknown algorithm 'nope'")


# ---------------------------------------------------------------------------- option parsing, outputs, small traps
# (issue 18 points 2, 4, 5; issue 14 part 5), in-process through typer's runner: fast, and stderr apart


def one_line_error(done, *fragments):
    lines = done.stderr.strip().splitlines()
    assert done.exit_code == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.output and len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_bool_option_words_mean_what_they_say(tmp_path):
    import scpo

    def api(bug):
        problem = scpo.problems.get("sphere", 5, shifted=False)
        return scpo.minimize(problem, algorithm="po", max_evals=2000, seed=1, reference_switch_bug=bug).fun

    found = {}
    for word in ("no", "False", "0", "YES", "true", "1"):
        done = invoke("optimize", "sphere", "--no-shifted", "--algo", "po", "--dim", "5", "--evals", "2000",
                      "--seed", "1", "-o", f"reference_switch_bug={word}", "--out", word, "--quiet", cwd=tmp_path)
        assert done.exit_code == 0, done.output
        summary = json.loads((tmp_path / word / "result.json").read_text())
        assert summary["options"]["reference_switch_bug"] is (word.lower() in ("yes", "true", "1"))
        found[word] = summary["best_fitness"]
    assert found["no"] == found["False"] == found["0"] == api(False)  # `=no` is the correct swap
    assert found["YES"] == found["true"] == found["1"] == api(True) != api(False)
    for word in ("maybe", "off!", ""):
        done = invoke("optimize", "sphere", "--algo", "po", "-o", f"reference_switch_bug={word}", "--out", "bad",
                      cwd=tmp_path)
        one_line_error(done, "reference_switch_bug", "true/false/yes/no/1/0", repr(word))
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(("args", "fragments"), [
    (["--algo", "sca", "-o", "a=abc"], ("option 'a' of sca must be a number", "'abc'")),
    (["--algo", "po", "-o", "parties=five"], ("option 'parties' of po must be an integer", "'five'")),
    (["--algo", "de", "-o", "CR=0.5x"], ("'CR'", "'0.5x'")),
    (["--algo", "sca", "-o", "greedy=2"], ("'greedy'", "'2'")),
    (["--algo", "po", "-o", "pop_size=25"], ("use --pop",)),
])
def test_option_values_are_checked_against_the_constructor(tmp_path, args, fragments):
    line = one_line_error(invoke("optimize", "--quiet", "--out", "r", *args, cwd=tmp_path), *fragments)
    assert "ufunc" not in line and not (tmp_path / "r").exists()


def test_none_means_none_in_both_option_syntaxes(tmp_path):
    done = invoke("optimize", "sphere", "--algo", "po", "-o", "parties=none", "-o", "lambda_max=1", "--dim", "3",
                  "--evals", "700", "--out", "r", "--quiet", cwd=tmp_path)
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "r" / "result.json").read_text())["options"] == {"parties": None, "lambda_max": 1}


def test_non_square_population_message_says_what_fixes_it(tmp_path):
    line = one_line_error(invoke("optimize", "--algo", "po", "--pop", "30", "-o", "parties=5", cwd=tmp_path),
                          "pop_size=30", "pop_size=25", "leave pop_size unset")
    assert "give parties=" not in line
    one_line_error(invoke("optimize", "--algo", "po", "--pop", "30", cwd=tmp_path), "pop_size=25 or 36")


UNWRITABLE = {
    "optimize --out": (["optimize", "--out", "/proc/x"], "--out /proc/x"),
    "optimize --json": (["optimize", "--json", "/proc/x.json"], "--json /proc/x.json"),
    "optimize --checkpoint": (["optimize", "--checkpoint", "/proc/c.npz"], "--checkpoint /proc/c.npz"),
    "optimize --json is a folder": (["optimize", "--json", "."], "it is a directory"),
    "benchmark --out": (["benchmark", "--out", "/proc/b", "--runs", "2"], "--out /proc/b"),
    "plot --out": (["plot", "RUN", "--out", "/proc/p.png"], "--out /proc/p.png"),
    "data info --json": (["data", "info", "apple", "--json", "/proc/d.json"], "--json /proc/d.json"),
    "train --out": (["train", "apple", "--out", "/proc/m"], "--out /proc/m"),
    "train --json": (["train", "apple", "--json", "/proc/m.json"], "--json /proc/m.json"),
}


@pytest.mark.parametrize("case", list(UNWRITABLE))
def test_unwritable_outputs_fail_before_any_work(tmp_path, case):
    import time

    args, fragment = UNWRITABLE[case]
    args = [str(tmp_path / "run") if a == "RUN" else a for a in args]
    invoke(*args, cwd=tmp_path)  # untimed: the modules the command imports on first use (1-2 s on a busy machine)
    start = time.perf_counter()
    one_line_error(invoke(*args, cwd=tmp_path), fragment)
    assert time.perf_counter() - start < 1.0  # checked first: nothing was computed, trained or read
    assert list(tmp_path.iterdir()) == []


def test_unwritable_out_is_refused_before_the_first_evaluation(tmp_path):
    (tmp_path / "slow.py").write_text(
        "import pathlib, time\n"
        "def f(x):\n    pathlib.Path('evaluated').touch()\n    time.sleep(5)\n    return float(x.sum())\n")
    done = run("optimize", "slow.py:f", "--bounds", "0,1", "--dim", "2", "--evals", "100", "--out", "/proc/x",
               "--quiet", cwd=tmp_path)
    assert done.returncode == 2 and "/proc/x" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "evaluated").exists()


def test_json_dash_writes_the_summary_to_stdout(tmp_path):
    done = invoke("optimize", "sphere", "--dim", "3", "--evals", "500", "--json", "-", "--out", "r", "--quiet",
                  cwd=tmp_path)
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)  # the JSON alone: the human line went to stderr
    assert summary["problem"] == "sphere-shifted" and "scpo on sphere-shifted" in done.stderr
    assert not (tmp_path / "-").exists()
    (tmp_path / "t.csv").write_text('text\n"love my #iphone"\n"new #iphone #apple"\n')
    info = invoke("data", "info", "t.csv", "--json", "-", cwd=tmp_path)
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["rows"] == 2 and not (tmp_path / "-").exists()


def test_plot_refuses_runs_of_different_problems(tmp_path):
    for problem in ("sphere", "rastrigin"):
        done = invoke("optimize", problem, "--dim", "3", "--evals", "500", "--out", problem, "--quiet", cwd=tmp_path)
        assert done.exit_code == 0, done.output
    one_line_error(invoke("plot", "sphere", "rastrigin", "--out", "p.png", cwd=tmp_path),
                   "2 different problems", "sphere-shifted d=3", "rastrigin-shifted d=3")
    assert not (tmp_path / "p.png").exists()
    done = invoke("plot", "sphere", "--out", "p.png", cwd=tmp_path)
    assert done.exit_code == 0 and (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_version_and_list_read_from_the_registry(tmp_path):
    from importlib.metadata import version

    import scpo
    from scpo.options import describe, option_specs

    done = run("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"scpo {version('scpo')}"
    listed = invoke("optimize", "--list", cwd=tmp_path)
    assert listed.exit_code == 0, listed.output
    for name in scpo.algorithm_names():  # every option of every algorithm, with its default: cannot drift
        assert f"{name}: {describe(name).replace('``', '`')}" in listed.stdout
        for spec in option_specs(name):
            assert re.search(rf"-o {spec.name} +\S.* default {re.escape(repr(spec.default))}", listed.stdout)
    assert re.search(r"-o reference_switch_bug +bool +default False", listed.stdout)
    one = invoke("optimize", "--list", "sca", cwd=tmp_path)
    assert one.exit_code == 0 and one.stdout.startswith("sca: ") and "po:" not in one.stdout
    assert "-o greedy" in one.stdout and "problems:" not in one.stdout


def test_train_small_traps(tmp_path):
    (tmp_path / "two.csv").write_text('text\n"love my #iphone"\n"new #iphone battery #apple"\n')
    one_line_error(invoke("train", "two.csv", "--model", "frequency", "--top-k", "10", cwd=tmp_path),
                   "empty test split")
    one_line_error(invoke("train", "--model", "tfidf-lr", "--optimizer", "adam", cwd=tmp_path),
                   "--optimizer applies to --model resnet only")
    one_line_error(invoke("train", "--train-share", "0.99", cwd=tmp_path), "--val-share 0.1")
    one_line_error(invoke("train", "--train-share", "0.8", "--val-share", "0.2", cwd=tmp_path), "--val-share 0.2")
    assert list(tmp_path.iterdir()) == [tmp_path / "two.csv"]


def test_train_val_share_reaches_the_split(tmp_path):
    import os

    if not (DATA / "apple_twitter_sentiment.csv").exists() and not os.environ.get("SCPO_DATA_HOME"):
        if os.environ.get("CI") == "true":
            pytest.fail(f"tweet data missing in CI: {DATA}")
        pytest.skip("tweet data not available")
    shares = {}
    for val in ("0.05", "0.15"):
        done = invoke("train", "apple", "--model", "frequency", "--train-share", "0.7", "--val-share", val,
                      "--json", "-", cwd=tmp_path)
        assert done.exit_code == 0, done.output
        shares[val] = json.loads(done.stdout)
    assert shares["0.05"]["val_share"] == 0.05 and shares["0.15"]["val_share"] == 0.15
    assert shares["0.05"]["n_val"] < shares["0.15"]["n_val"] and shares["0.05"]["n_test"] > shares["0.15"]["n_test"]
    assert shares["0.05"]["n_train"] == shares["0.15"]["n_train"]


@pytest.mark.parametrize("model", ["frequency", "tfidf-lr"])
def test_baselines_are_saved_by_train_and_used_by_recommend_model(model, tmp_path):
    import os

    if not (DATA / "apple_twitter_sentiment.csv").exists() and not os.environ.get("SCPO_DATA_HOME"):
        if os.environ.get("CI") == "true":
            pytest.fail(f"tweet data missing in CI: {DATA}")
        pytest.skip("tweet data not available")
    done = invoke("train", "apple", "--model", model, "--top-k", "4", "--out", "m", cwd=tmp_path)  # in-process
    assert done.exit_code == 0, done.output
    tagged = run("recommend", "--model", "m", "new iphone battery is great", cwd=tmp_path)  # a fresh process loads it
    assert tagged.returncode == 0, tagged.stderr
    assert tagged.stdout.count("#") == 3 and tagged.stdout.rstrip().endswith("new iphone battery is great")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    edited = dict(config, classes=config["classes"][::-1])  # an edited file is refused with one line
    (tmp_path / "m" / "config.json").write_text(json.dumps(edited))
    one_line_error(invoke("recommend", "--model", "m", "hi", cwd=tmp_path), "checksum")


def test_benchmark_prints_plain_progress_and_ctrl_c_keeps_finished_rows(tmp_path):
    import signal
    import time

    args = [SCPO, "benchmark", "--algos", "sca", "--problems", "sphere", "--runs", "500", "--evals", "30000",
            "--out", "D"]
    with child(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as victim:
        deadline = time.time() + 120
        first = victim.stderr.readline()  # stderr is a pipe, not a terminal: plain lines, the first at the first run
        assert first.startswith("benchmark runs 1/500") and "ETA" in first, first
        while time.time() < deadline and len((tmp_path / "D" / "results.csv").read_text().splitlines()) < 3:
            time.sleep(0.1)
        victim.send_signal(signal.SIGINT)
        _, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    assert err.strip().splitlines()[-1] == ("interrupted: finished runs kept in D/results.csv; "
                                            "run the same command again to resume")
    lines = (tmp_path / "D" / "results.csv").read_text().splitlines()
    assert len(lines) >= 3 and all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)
    assert "Traceback" not in err


def test_train_refine_subspace_loss_errors_exit_2(tmp_path):
    for args, words in ((["--optimizer", "adam", "--refine", "adam"], ["--refine", "--optimizer adam"]),
                        (["--model", "tfidf-lr", "--subspace", "4"], ["--subspace", "--model tfidf-lr"]),
                        (["--optimizer", "cmaes", "--refine", "adam"], ["--refine", "'cmaes'"]),
                        (["--optimizer", "openai-es", "--refine", "adam"], ["'openai-es'"]),
                        (["--refine", "sgd"], ["--refine must be one of adam", "'sgd'"]),
                        (["--refine", "adam", "--refine-adam", "warm"], ["--refine-adam", "continued", "'warm'"]),
                        (["--refine-adam", "continued"], ["--refine-adam continued needs --refine adam"]),
                        (["--loss", "hinge"], ["--loss", "'hinge'"]),
                        (["--resample", "never"], ["--resample", "'never'"]),
                        (["--bounds", "-2"], ["--bounds", "'-2'"]),
                        (["--init", "he"], ["--init", "'he'"]),
                        (["--init", "w0", "--init-spread", "1.5"], ["--init-spread", "1.5"]),
                        (["--optimizer", "adam", "--init", "w0"], ["--init", "--optimizer adam"])):
        one_line_error(invoke("train", "apple", *args, cwd=tmp_path), *words)
    assert list(tmp_path.iterdir()) == []


def test_train_memetic_and_subspace_run_and_report_their_cost(tmp_path):
    words = ["battery", "screen", "camera", "price", "store", "update", "music", "watch"]
    rows = [f'"{words[i % 8]} {words[(i * 3) % 8]} news day {i} #{"abc"[i % 3]}"' for i in range(90)]
    (tmp_path / "t.csv").write_text("text\n" + "\n".join(rows) + "\n")
    done = invoke("train", "t.csv", "--optimizer", "scpo", "--pop", "9", "--evals", "60", "--refine", "adam",
                  "--refine-steps", "2", "--refine-members", "2", "--subspace", "20", "--loss", "ce", "--no-progress",
                  "--refine-adam", "continued", "--threads", "1", "--json", "m.json", "--out", "m", cwd=tmp_path)
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "m.json").read_text())
    settings = report["training"]["settings"]
    # one refinement per whole iteration: 9 + 4 * 12 = 57 of the 60 evaluations, then max_evals cuts
    # the 5th (= T = round(60 / 12)) iteration's campaign to 3 rows
    assert report["training"]["grad_steps"] == 2 * 2 * (settings["max_iter"] - 1) > 0
    assert settings["loss"] == "ce" and settings["subspace"] == 20 and settings["refine_members"] == 2
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["params"]
    assert saved["refine"] == "adam" and saved["subspace"] == 20 and saved["loss"] == "ce"
    assert settings["refine_adam"] == saved["refine_adam"] == "continued" and settings["refine_restarts"] >= 0
    too_big = invoke("train", "t.csv", "--optimizer", "scpo", "--subspace", "100000", "--evals", "10", "--pop", "4",
                     "--no-progress", cwd=tmp_path)
    one_line_error(too_big, "subspace=100000", "weights")



def test_train_refine_adam_alone_implies_the_measured_memetic_setting(tmp_path, monkeypatch):
    """--refine adam with no other flag trains with pop 16, 400 evaluations, 1 member x 15 steps, --init w0
    (the measured setting); a flag given wins over its implied value and the others keep theirs."""
    from networks.recommender import HashtagRecommender

    words = ["battery", "screen", "camera", "price", "store", "update", "music", "watch"]
    rows = [f'"{words[i % 8]} {words[(i * 3) % 8]} news day {i} #{"abc"[i % 3]}"' for i in range(90)]
    (tmp_path / "t.csv").write_text("text\n" + "\n".join(rows) + "\n")
    common = ["train", "t.csv", "--optimizer", "scpo", "--refine", "adam", "--no-progress", "--threads", "1"]
    keys = ("pop_size", "max_evals", "refine_members", "refine_steps", "init")
    # a real run, partly overridden: the JSON's training settings are what ran
    done = invoke(*common, "--pop", "9", "--evals", "40", "--refine-steps", "2", "--json", "b.json", cwd=tmp_path)
    assert done.exit_code == 0, done.output
    settings = json.loads((tmp_path / "b.json").read_text())["training"]["settings"]
    assert tuple(settings[k] for k in keys) == (9, 40, 1, 2, "w0")
    # what the trainer is handed (training stopped there: the full setting takes 15 s here)
    seen = []

    def fit(self, *args, **kwargs):
        seen.append(tuple(getattr(self, k) for k in keys))
        raise ValueError("stopped by the test")

    monkeypatch.setattr(HashtagRecommender, "fit", fit)
    for args, expected in (([], (16, 400, 1, 15, "w0")),
                           (["--init", "uniform", "--refine-members", "2"], (16, 400, 2, 15, "uniform")),
                           (["--optimizer", "pso", "--evals", "1000"], (16, 1000, 1, 15, "w0"))):
        one_line_error(invoke(*common, *args, cwd=tmp_path), "stopped by the test")
        assert seen[-1] == expected, args
    seen.clear()
    one_line_error(invoke("train", "t.csv", "--optimizer", "scpo", cwd=tmp_path), "stopped by the test")
    assert seen == [(64, 30000, 4, 10, "uniform")]  # without --refine: the train defaults
