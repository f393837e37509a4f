"""Options given as text, options given in Python, output checks, plots and summaries that must not mislead."""

import numpy as np
import pytest

import scpo
import scpo.benchmark as bench
from scpo.benchmark import compute_statistics, parse_algo, render_summary, smallest_p
from scpo.io import check_writable, write_text
from scpo.options import convert, option_specs, parse_pairs

SPHERE = scpo.problems.get("sphere", 3)


def test_one_parser_types_values_by_the_constructor():
    assert parse_pairs(["reference_switch_bug=No", "parties=5", "lambda_max=1", "lambda_max=0.5"], "po") == {
        "reference_switch_bug": False, "parties": 5, "lambda_max": 0.5}
    for word, value in (("true", True), ("YES", True), ("1", True), ("False", False), ("no", False), ("0", False)):
        assert parse_pairs([f"greedy={word}"], "sca") == {"greedy": value}
    assert parse_pairs(["parties=none", "variant=printed", "a=2"], "scpo") == {
        "parties": None, "variant": "printed", "a": 2}
    assert parse_pairs(["cma_options={'tolx': 1e-3}"], "cmaes") == {"cma_options": {"tolx": 1e-3}}
    assert convert("x", "[1, 2]", None) == [1, 2] and convert("x", "abc", None) == "abc"
    for pair, fragment in (("reference_switch_bug=maybe", "true/false/yes/no/1/0"),
                           ("parties=5.5", "must be an integer or none"), ("lambda_max=abc", "must be a number")):
        with pytest.raises(ValueError, match=fragment) as info:
            parse_pairs([pair], "po")
        assert pair.partition("=")[0] in str(info.value) and repr(pair.partition("=")[2]) in str(info.value)
    with pytest.raises(ValueError, match="'parties' is not key=value"):
        parse_pairs(["parties"], "po")


def test_benchmark_entries_use_the_same_parser():
    assert not hasattr(bench, "parse_value")  # the second copy is gone
    assert parse_algo("po:reference_switch_bug=no").options == {"reference_switch_bug": False}
    assert parse_algo("PO:parties=none:pop_size=36").options == {"parties": None, "pop_size": 36}
    assert parse_algo("sca:a=2").label == "sca[a=2]"  # an integer stays one: labels (and resumes) unchanged
    with pytest.raises(ValueError, match="'reference_switch_bug' of po must be true/false"):
        parse_algo("po:reference_switch_bug=maybe")
    with pytest.raises(ValueError, match="'pop_size' of sca must be an integer"):
        parse_algo("sca:pop_size=lots")


@pytest.mark.parametrize(("algorithm", "options", "fragment"), [
    ("po", {"reference_switch_bug": "false"}, "reference_switch_bug must be True or False, got 'false'"),
    ("scpo", {"reference_switch_bug": 1}, "reference_switch_bug must be True or False, got 1"),
    ("sca", {"greedy": "no"}, "greedy must be True or False"),
    ("cmaes", {"restarts": "False"}, "restarts must be 'ipop', 'bipop', None, True or False (cmaes's own restarts)"),
    ("sca", {"a": "2"}, "a must be a number, got '2'"),
    ("scpo", {"a": "abc"}, "a must be a number, got 'abc'"),
    ("po", {"lambda_max": "1"}, "lambda_max must be a number"),
    ("pso", {"c1": "2"}, "c1 must be a number"),
    ("pso", {"vmax_fraction": None}, "vmax_fraction must be a number"),
    ("de", {"F": "0.5"}, "F must be a number"),
    ("cmaes", {"sigma0": "0.3"}, "sigma0 must be a number"),
    ("cmaes", {"cma_options": "tolx=1"}, "cma_options must be a dict or None"),
])
def test_api_options_take_real_booleans_and_numbers(algorithm, options, fragment):
    with pytest.raises(ValueError) as info:
        scpo.minimize(SPHERE, algorithm=algorithm, max_evals=200, seed=0, **options)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_numpy_booleans_and_numbers_are_accepted():
    done = scpo.minimize(SPHERE, algorithm="po", max_evals=300, seed=0, reference_switch_bug=np.bool_(False),
                         lambda_max=np.float32(1.0))
    assert done.fun == scpo.minimize(SPHERE, algorithm="po", max_evals=300, seed=0).fun


def test_every_registered_option_is_typed():
    for name in scpo.algorithm_names():
        for spec in option_specs(name):
            assert spec.annotation is not None, (name, spec.name)


def test_non_square_population_says_what_fixes_it():
    with pytest.raises(ValueError, match=r"use pop_size=25, or leave pop_size unset") as info:
        scpo.make("po", SPHERE, pop_size=30, parties=5)
    assert "give parties=" not in str(info.value)
    with pytest.raises(ValueError, match="use pop_size=9 or 16"):
        scpo.make("scpo", SPHERE, pop_size=14)
    with pytest.raises(ValueError, match="use pop_size=25 or 36"):
        scpo.make("po", SPHERE, pop_size=30)
    with pytest.raises(ValueError, match="contradicts parties=5"):
        scpo.make("po", SPHERE, pop_size=36, parties=5)


def test_check_writable_names_the_path_and_leaves_nothing(tmp_path):
    assert check_writable(tmp_path / "a" / "b" / "c", "directory") == tmp_path / "a" / "b" / "c"
    assert check_writable(tmp_path / "new" / "x.json") == tmp_path / "new" / "x.json"
    assert list(tmp_path.iterdir()) == []  # nothing created, not even the folders
    (tmp_path / "file").write_text("")
    for path, kind, fragment in ((tmp_path / "file" / "x.json", "file", "is not a directory"),
                                 (tmp_path / "file", "directory", "exists and is not a directory"),
                                 (tmp_path, "file", "it is a directory"),
                                 ("/proc/x", "directory", "/proc is not writable"),
                                 ("/proc/x/y.json", "file", "/proc is not writable")):
        with pytest.raises(OSError, match=fragment) as info:
            check_writable(path, kind, "--out")
        assert f"cannot write --out {path}" in str(info.value)
    with pytest.raises(ValueError, match="kind"):
        check_writable(tmp_path, "folder")


def test_atomic_write_failure_names_the_target_not_the_temporary_file():
    with pytest.raises(OSError) as info:
        write_text("/proc/summary.md", "x")
    assert "cannot write /proc/summary.md" in str(info.value) and ".summary.md." not in str(info.value)


def summary_of(runs: int, algos=("scpo", "sca")) -> str:
    rows = [{"algorithm": a, "problem": "sphere", "run": r, "best_fitness": float(i * 10 + r), "nfev": 10}
            for i, a in enumerate(algos) for r in range(runs)]
    stats = compute_statistics(rows, list(algos), ["sphere"])
    return render_summary(stats, {"dim": 2, "evals": 10, "runs": runs, "seed": 0, "shifted": False})


def test_summary_says_when_too_few_runs_make_rank_sum_tests_blind():
    assert smallest_p(3) == pytest.approx(0.1) and smallest_p(4) == pytest.approx(2 / 70)
    assert smallest_p(4, 3) > 0.05 > smallest_p(5, 3)
    three = summary_of(3)
    assert "Too few runs for the rank-sum tests" in three and "2/C(6,3)" in three and "at least 4 runs" in three
    assert "| sca |" in three and "| = |" in three  # perfectly separated, still `=`: the note explains why
    assert "Too few runs" not in summary_of(4)
    four_of_four = summary_of(4, ("scpo", "sca", "pso", "de"))  # Holm over 3 comparisons needs 5 runs
    assert "Too few runs" in four_of_four and "at least 5 runs" in four_of_four
    assert "Too few runs" not in summary_of(5, ("scpo", "sca", "pso", "de"))


def test_convergence_plot_keeps_the_log_axis_when_a_run_reaches_zero(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from scpo.plotting import plot_convergence

    scales, labels = [], []
    monkeypatch.setattr(Axes, "set_yscale", lambda self, value, **kw: scales.append(value))
    real_ylabel = Axes.set_ylabel
    monkeypatch.setattr(Axes, "set_ylabel", lambda self, text, **kw: (labels.append(text), real_ylabel(self, text))[1])
    runs = [([10, 20, 30], [5.0, 1.0, 0.0]), ([10, 20, 30], [4.0, 0.5, 0.1]), ([10, 20, 30], [6.0, 2.0, 1e-3])]
    plot_convergence({"scpo": runs, "sca": [([10, 30], [3.0, 0.0])]}, tmp_path / "c.png", "sphere")
    assert scales == ["log"] and "drawn at it" in labels[-1]
    plot_convergence({"po": [([10, 20], [-8.0, -9.5])]}, tmp_path / "f.png", f_opt=-10.0)  # f - f* > 0
    assert scales == ["log", "log"] and labels[-1] == "best f - f* so far"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
