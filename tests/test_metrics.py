"""Metric definitions against hand-computed cases and scikit-learn."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import ndcg_score, precision_recall_fscore_support

from networks.metrics import (
    bootstrap_ci,
    classification_metrics,
    group_t_interval,
    per_item_ranking_metrics,
    rank_labels,
    ranking_metrics,
)

# Two tweets, four tags. Ranking of tweet 0: [2, 0, 3, 1]; of tweet 1: [1, 3, 0, 2].
Y = np.array([[1, 0, 0, 1], [0, 0, 1, 0]])
S = np.array([[0.7, 0.1, 0.9, 0.3], [0.2, 0.8, 0.1, 0.5]])


def test_hand_computed_values():
    m = ranking_metrics(Y, S, ks=(1, 2, 3))
    # tweet 0: hits at ranks 2 and 3 (tags 0, 3); tweet 1: its tag 2 is ranked 4th.
    assert m["hit@1"] == 0.0 and m["hit@2"] == 0.5 and m["hit@3"] == 0.5
    assert m["p@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["p@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["r@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["r@3"] == pytest.approx((1.0 + 0) / 2)
    d = 1 / np.log2(np.arange(2, 6))  # discounts of ranks 1..4
    assert m["ndcg@3"] == pytest.approx(((d[1] + d[2]) / (d[0] + d[1]) + 0) / 2)
    # AP@3 of tweet 0: (1/2 + 2/3) / min(3, 2)
    assert m["map@3"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 0) / 2)
    assert m["map@2"] == pytest.approx(((1 / 2) / 2 + 0) / 2)
    # TagFinder: ideal DCG from the 2 hits found -> same as standard here; MAP only over tweet 0.
    assert m["tagfinder_ndcg@2"] == pytest.approx((d[1] / d[0] + 0) / 2)
    assert m["tagfinder_map@2"] == pytest.approx(1 / 2)
    assert m["tagfinder_map@3"] == pytest.approx((1 / 2 + 2 / 3) / 2)


@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_ndcg_matches_sklearn(k):
    rng = np.random.default_rng(0)
    Yr = (rng.random((200, 12)) < 0.2).astype(int)
    Yr[:5] = 0  # tweets without a true tag count 0 in both
    Sr = rng.random((200, 12))
    assert ranking_metrics(Yr, Sr, ks=[k])[f"ndcg@{k}"] == pytest.approx(ndcg_score(Yr, Sr, k=k))


def test_k_larger_than_n_labels_and_empty_rows():
    m = ranking_metrics(Y, S, ks=(10,))
    assert m["r@10"] == 1.0 and m["hit@10"] == 1.0
    assert m["p@10"] == pytest.approx((2 / 10 + 1 / 10) / 2)
    zero = ranking_metrics(np.zeros((3, 4)), S[[0, 1, 0]], ks=(3,))
    assert all(v == 0.0 for v in zero.values())


def test_ties_broken_by_column_index():
    scores = np.array([[0.5, 0.9, 0.5, 0.9]])
    assert rank_labels(scores).tolist() == [[1, 3, 0, 2]]
    # A constant ranking ranks tag 0 first: hit@1 depends only on column 0.
    Yc = np.array([[1, 0, 0], [0, 1, 0]])
    assert ranking_metrics(Yc, np.zeros((2, 3)), ks=(1,))["hit@1"] == 0.5


def test_constant_frequency_ranking_fools_tagfinder_map():
    """The study's MAP rewards recommending the most frequent tags to everyone."""
    rng = np.random.default_rng(1)
    n, L = 1000, 20
    Yc = np.zeros((n, L), dtype=int)
    Yc[:, 0] = rng.random(n) < 0.9  # the collection tag
    Yc[np.arange(n), rng.integers(3, L, n)] = 1  # plus one rarer tag, never in the top 3
    freq_scores = np.tile(Yc.mean(axis=0), (n, 1))
    m = ranking_metrics(Yc, freq_scores, ks=(3,))
    assert m["tagfinder_map@3"] > 0.95
    assert m["tagfinder_ndcg@3"] > 0.85  # tweets without a hit count 0 here, unlike in its MAP
    assert m["map@3"] < 0.55
    assert m["ndcg@3"] < 0.6


def test_per_item_tagfinder_map_is_nan_without_hit():
    per = per_item_ranking_metrics(Y, S, ks=(2,))
    assert per["map@2"].tolist() == [0.25, 0.0]
    assert per["tagfinder_map@2"][0] == 0.5 and np.isnan(per["tagfinder_map@2"][1])
    assert set(per) == {f"{name}@2" for name in ("hit", "p", "r", "ndcg", "map", "tagfinder_ndcg", "tagfinder_map")}


@pytest.mark.parametrize(
    "y, s, ks, match",
    [
        (Y, S[:1], (1,), "shape"),
        (Y * 2, S, (1,), "binary"),
        (Y, np.where(S > 0.85, np.nan, S), (1,), "NaN"),
        (Y, S, (0,), "k=0"),
        (Y, S, (2.5,), "k=2.5"),
        (Y[0], S[0], (1,), "2-D"),
    ],
)
def test_bad_input_raises(y, s, ks, match):
    with pytest.raises(ValueError, match=match):
        ranking_metrics(y, s, ks=ks)


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    Yr = (rng.random((300, 6)) < 0.25).astype(int)
    Sr = rng.random((300, 6)) + 0.3 * Yr
    m = classification_metrics(Yr, Sr, threshold=0.7)
    top1 = np.zeros_like(Yr)
    top1[np.arange(300), Sr.argmax(axis=1)] = 1
    for pred, suffix in ((top1, "@top1"), ((Sr >= 0.7).astype(int), "@thr")):
        for avg in ("micro", "macro"):
            p, r, f, _ = precision_recall_fscore_support(Yr, pred, average=avg, zero_division=0)
            assert m[f"{avg}_precision{suffix}"] == pytest.approx(p)
            assert m[f"{avg}_recall{suffix}"] == pytest.approx(r)
            assert m[f"{avg}_f1{suffix}"] == pytest.approx(f)
    assert "micro_f1@thr" not in classification_metrics(Yr, Sr)


def test_classification_at_least_one():
    scores = np.array([[0.1, 0.2], [0.9, 0.1]])
    Yc = np.array([[0, 1], [1, 0]])
    assert classification_metrics(Yc, scores, threshold=0.5)["micro_recall@thr"] == 0.5
    assert classification_metrics(Yc, scores, threshold=0.5, at_least_one=True)["micro_f1@thr"] == 1.0


def test_group_t_interval_matches_study_procedure():
    rng = np.random.default_rng(3)
    v = rng.random(1037)
    iv = group_t_interval(v, groups=50)
    g = np.array([v[:1000][np.arange(1000) % 50 == j].mean() for j in range(50)])
    lo, hi = stats.t.interval(0.95, df=49, loc=g.mean(), scale=stats.sem(g))
    assert iv.mean == pytest.approx(g.mean()) and iv.low == pytest.approx(lo) and iv.high == pytest.approx(hi)
    with pytest.raises(ValueError, match="groups=50"):
        group_t_interval(v[:10], groups=50)


def test_bootstrap_ci_is_seeded_and_covers_mean():
    v = np.random.default_rng(4).random(500)
    a, b = bootstrap_ci(v, n_boot=300, seed=7), bootstrap_ci(v, n_boot=300, seed=7)
    assert a == b and a.low < v.mean() < a.high and a.mean == pytest.approx(v.mean())
    w = np.concatenate([v, [np.nan] * 10])  # NaN items (tagfinder_map) are skipped
    assert bootstrap_ci(w, n_boot=50).mean == pytest.approx(v.mean())
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(v, level=1.5)
