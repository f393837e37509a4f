"""experiments/table2.py and experiments/report.py: the REPORT's drivers on tiny settings."""

import csv
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from features import build_dataset
from scpo.benchmark import run_benchmark

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import report, table2  # noqa: E402

VERDICTS = {"reproduced", "not reproduced", "not comparable"}


def test_validation_part_is_carved_from_the_training_split_only(apple_corpus):
    dataset = build_dataset("apple", train_share=0.9, val_share=0.0, seed=3)
    carved = table2.with_validation(dataset, seed=3)
    assert set(carved.train_texts).isdisjoint(carved.val_texts)
    assert sorted(carved.train_texts + carved.val_texts) == sorted(dataset.train_texts)
    assert len(carved.val_texts) == round(0.1 * len(dataset.train_texts))
    assert carved.test_texts == dataset.test_texts
    index = {t: i for i, t in enumerate(dataset.train_texts)}
    rows = [index[t] for t in carved.val_texts]
    np.testing.assert_array_equal(carved.Y_val, dataset.Y_train[rows])


def test_table2_writes_rows_resumes_and_sets_the_paper_beside(apple_corpus, tmp_path, capsys):
    out = tmp_path / "t2.md"
    argv = ["--datasets", "apple", "--shares", "0.8,0.9", "--seeds", "1", "--max-evals", "128",
            "--feature-sets", "f1-f6", "--models", "scpo-resnet,frequency", "--query-tag", "excluded",
            "--out", str(out)]
    assert table2.main(argv) == 0
    with out.with_suffix(".csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["share"], r["model"], r["features"]) for r in rows} == {
        (s, m, f) for s in ("0.8", "0.9") for m, f in (("scpo-resnet", "f1-f6"), ("frequency", "text"))}
    for row in rows:
        for metric, _ in table2.METRICS:
            assert 0.0 <= float(row[metric]) <= 1.0
    markdown = out.read_text()
    assert "paper's SCPO-DRN (claimed) | f1-f9 | 0.968 | 0.958 | 0.963" in markdown
    assert "SCPO-ResNet vs frequency, F1 micro" in markdown
    capsys.readouterr()
    assert table2.main(argv) == 0  # everything is in the CSV: nothing is trained again
    assert " seed 0 " not in capsys.readouterr().out


def test_table2_rejects_unknown_feature_sets(tmp_path):
    with pytest.raises(SystemExit):
        table2.main(["--feature-sets", "f1-f7", "--out", str(tmp_path / "x.md")])


def test_report_computes_part1_and_the_optimizer_claims_from_results(tmp_path):
    results = tmp_path / "results"
    run_benchmark("sca,po,po:reference_switch_bug=True,scpo", "sphere,rastrigin", 5, 3, 600, 0,
                  results / "functions" / "unshifted", shifted=False, progress=False)
    text = report.render(results)
    assert "Fewer runs than the setting asks for: 3 per cell" in text
    table = [line for line in text.splitlines() if line.startswith("| sphere |")]
    assert len(table) == 1 and len(table[0].split("|")) == 4 + 3  # problem + 4 algorithms
    claims = [line for line in text.splitlines() if line.startswith("| SCPO converges faster")]
    assert len(claims) == 1
    verdict = re.search(r"\*\*(.+?)\*\*", claims[0]).group(1)
    assert verdict in VERDICTS
    # Part 2 and the TagFinder table are absent here: the report says so instead of inventing numbers.
    assert "Not run: no experiments/results/table2.csv." in text
    assert "nan" not in claims[0]


def test_verdicts_follow_their_stated_rules():
    assert report.verdict_against(0.95, 0.01, 0.963) == "reproduced"
    assert report.verdict_against(0.60, 0.05, 0.963) == "not reproduced"
    assert report.verdict_against(math.nan, math.nan, 0.963) == "not run"
    assert report.beats_both({"sca": [10, 3, 0], "po": [9, 2, 2]}, 13) == "reproduced"
    assert report.beats_both({"sca": [13, 0, 0], "po": [4, 6, 3]}, 13) == "not reproduced"


def test_bench_neuro_scores_every_library_with_torch_s_forward_and_skips_a_missing_venv(tmp_path):
    """experiments/bench_neuro.py: the numpy forward that scores every library's centre is torch's forward of
    the same flat vector, for the nn.Sequential and the subclass alike; a peer without its venv is a row
    "skipped (venv missing)", not a crash (the workers themselves run only in the benchmark: seconds each)."""
    import torch

    from experiments import bench_neuro
    from experiments.neuro_peers import common, torchnets

    rng = np.random.default_rng(0)
    sizes, x = [5, 7, 3], rng.normal(size=(4, 5))
    w = rng.normal(size=5 * 7 + 7 + 7 * 3 + 3)
    for activation in ("relu", "tanh"):
        for style in ("sequential", "subclass"):
            net = torchnets.network(sizes, activation, style, w, dtype=torch.float64)
            with torch.no_grad():
                expected = net(torch.as_tensor(x)).numpy()
            np.testing.assert_allclose(common.mlp_numpy(w, x, sizes, activation), expected, rtol=1e-12)
    task = bench_neuro.tasks(quick=True)[0]
    row = bench_neuro.Row("peer", "evox_worker.py", "evox")
    out = bench_neuro.run_row(row, task, tmp_path, tmp_path / "x0.npy", tmp_path / "d.npz", tmp_path / "none", 5)
    assert out == {"skipped": "venv missing"}
    np.save(tmp_path / "x0.npy", np.zeros(task.dim))
    held = {"x0": tmp_path / "x0.npy", "X_test": rng.normal(size=(6, 64)), "y_test": np.zeros(6, dtype=int)}
    lines = bench_neuro.table(task, [(row, out)], held)
    assert "| peer | skipped (venv missing) |" in lines[4]
    assert lines[-1] == "Initial weights: test accuracy 1.000."  # all-zero weights: every logit ties, argmax 0
    assert bench_neuro.main(["--tasks", "9"]) == 2
    # --accuracy-seeds: the accuracy of every seed's centre, with their mean and sd, beside the seed-0 columns
    ours = bench_neuro.Row("scpo", "scpo_worker.py", None, {"style": "sequential"})
    zeros, ones = np.zeros(task.dim), np.full(task.dim, 0.01)
    done = {"gen_cpu_times": [0.01] * 5, "gen_times": [0.01] * 5, "center": zeros, "extra_centers": [zeros, ones],
            "peak_rss_mb": 100.0, "wall_s": 1.0}
    lines = bench_neuro.table(task, [(ours, done)], held)
    assert "test accuracy over seeds (mean, sd; the values)" in lines[2]
    predicted = common.mlp_numpy(ones, held["X_test"], task.sizes, task.activation).argmax(1)
    values = [1.0, 1.0, float((predicted == held["y_test"]).mean())]
    assert lines[4].endswith(f" {np.mean(values):.3f}, {np.std(values, ddof=1):.3f}; "
                             + ", ".join(f"{v:.3f}" for v in values) + " |"), lines[4]


def test_bench_neuro_repeats_keep_each_rows_fastest_run():
    """--repeats N: a row's kept run is its fastest by median CPU time per generation; a skipped run is kept
    only when no run finished, and the first round's extra accuracy seeds stay with the row."""
    from experiments import bench_neuro

    slow = {"gen_cpu_times": [0.03, 0.03, 0.04, 0.05, 0.05], "extra_centers": ["seed 1"]}
    fast = {"gen_cpu_times": [0.01, 0.01, 0.02, 0.02, 0.02]}
    skipped = {"skipped": "timed out after 5 s"}
    assert bench_neuro.faster(None, slow) is slow
    kept = bench_neuro.faster(slow, fast)
    assert kept is fast and kept["extra_centers"] == ["seed 1"]
    assert bench_neuro.faster(fast, slow) is fast
    assert bench_neuro.faster(skipped, slow) is slow and bench_neuro.faster(slow, skipped) is slow
    assert bench_neuro.main(["--repeats", "0"]) == 2


def test_bench_neuro_on_cuda_times_by_the_wall_clock_and_skips_a_library_without_a_gpu(tmp_path):
    """--device cuda: refused where no CUDA device is; a worker whose torch has no GPU reports its row skipped
    (the worker itself runs here, on this CPU-only torch); the table is timed by the wall clock and shows
    the GPU's peak memory beside the RSS."""
    import torch

    from experiments import bench_neuro

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the refusal and the skipped row are for machines without one")
    assert bench_neuro.main(["--device", "cuda"]) == 2
    task = bench_neuro.tasks(quick=True)[0]
    x0_path, data_path, held = bench_neuro.prepare(tmp_path, task)
    held["x0"] = x0_path
    ours = bench_neuro.Row("scpo", "scpo_worker.py", None, {"style": "sequential"})
    out = bench_neuro.run_row(ours, task, tmp_path, x0_path, data_path, tmp_path / "none", 120, device="cuda")
    assert out == {"skipped": "its torch has no CUDA device"}
    ran = {"gen_cpu_times": [0.5] * 5, "gen_times": [0.002] * 5, "center": np.load(x0_path), "peak_rss_mb": 900.0,
           "peak_gpu_mb": 1234.0, "wall_s": 1.0}
    lines = bench_neuro.table(task, [(ours, ran)], held, key=bench_neuro.WALL_TIMES)
    assert "ms / generation, wall (CPU)" in lines[2] and "peak RSS / GPU (MB)" in lines[2]
    assert lines[4].startswith("| scpo | 2.0 (500.0) | 1.00x |") and "| 900 / 1,234 |" in lines[4], lines[4]
