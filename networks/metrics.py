"""Ranking and classification metrics for hashtag recommendation, and confidence intervals.

All functions take ``Y_true`` of shape ``(n, L)`` with 0/1 entries (one row per tweet, one column
per tag) and ``scores`` of the same shape (higher = more likely), and work on whole arrays: the
only per-tweet work is one ``argsort`` over the score matrix.

Conventions (documented here because papers differ on them):

* **Ties** in a row of ``scores`` are broken deterministically by column index: among equal
  scores the tag with the lower index is ranked first (a stable sort of ``-scores``).
  scikit-learn's ``ndcg_score`` instead averages over tied orderings, so the two agree only when a
  row has no ties within the top k.
* **k larger than L**: the ranked list has only ``L`` tags; positions past ``L`` are misses, and
  ``p@k`` still divides by ``k``.
* **Tweets with no true tag** contribute 0 to every standard metric (``hit``, ``p``, ``r``,
  ``ndcg``, ``map``) and stay in the denominator, as in scikit-learn's ``ndcg_score``.
* **Standard MAP@k**: ``AP@k = sum_{i<=k} P@i * rel_i / min(k, n_true)``, averaged over all tweets.
* **TagFinder's NDCG and MAP** (``tagfinder_ndcg@k``, ``tagfinder_map@k``) reproduce the study's
  code: the ideal DCG is built from the number of *hits found* in the top k (not from the number
  of true tags), and AP is divided by the number of hits and averaged only over tweets with at
  least one hit. A constant ranking of frequent tags therefore scores near 1 on both (the study's
  "random" model scored MAP@3 = 0.985). They are provided for comparison with the study only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = [
    "Interval",
    "RANKING_METRIC_NAMES",
    "bootstrap_ci",
    "classification_metrics",
    "group_t_interval",
    "per_item_ranking_metrics",
    "rank_labels",
    "ranking_metrics",
]

RANKING_METRIC_NAMES = ("hit", "p", "r", "ndcg", "map", "tagfinder_ndcg", "tagfinder_map")


class Interval(NamedTuple):
    """A point estimate with a two-sided confidence interval."""

    mean: float
    low: float
    high: float


# --------------------------------------------------------------------------- validation


def _check_pair(Y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(Y bool (n, L), scores float (n, L))`` or raise a one-line ValueError."""
    if hasattr(Y_true, "toarray"):  # scipy sparse label matrices
        Y_true = Y_true.toarray()
    Y = np.asarray(Y_true)
    S = np.asarray(scores, dtype=float)
    if Y.ndim != 2:
        raise ValueError(f"Y_true must be 2-D (n_tweets, n_labels), got shape {Y.shape}")
    if S.shape != Y.shape:
        raise ValueError(f"scores shape {S.shape} does not match Y_true shape {Y.shape}")
    if Y.shape[0] == 0 or Y.shape[1] == 0:
        raise ValueError(f"Y_true must have at least one row and one column, got shape {Y.shape}")
    if Y.dtype != bool:
        bad = (Y != 0) & (Y != 1)
        if bad.any():
            raise ValueError(f"Y_true must be binary (0/1), found value {Y[bad].flat[0]!r}")
    if np.isnan(S).any():
        i, j = np.argwhere(np.isnan(S))[0]
        raise ValueError(f"scores contain NaN (first at row {i}, column {j})")
    return Y.astype(bool), S


def _check_ks(ks: int | Iterable[int]) -> tuple[int, ...]:
    ks = (ks,) if isinstance(ks, (int, np.integer)) else tuple(ks)
    if not ks:
        raise ValueError("ks must contain at least one cutoff, got an empty sequence")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"every k must be an integer >= 1, got k={k!r}")
    return tuple(int(k) for k in ks)


def _check_values(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"per_item_values must be a non-empty 1-D array, got shape {v.shape}")
    return v


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


# --------------------------------------------------------------------------- ranking


def rank_labels(scores, k: int | None = None) -> np.ndarray:
    """Column indices of each row sorted by decreasing score, ties by lower index; first ``k``."""
    S = np.asarray(scores, dtype=float)
    if S.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_tweets, n_labels), got shape {S.shape}")
    if k is not None and (isinstance(k, bool) or int(k) != k or k < 1):
        raise ValueError(f"k must be an integer >= 1, got k={k!r}")
    order = np.argsort(-S, axis=1, kind="stable")
    return order if k is None else order[:, : int(k)]


def per_item_ranking_metrics(Y_true, scores, ks: int | Sequence[int] = (1, 3, 5, 10)) -> dict[str, np.ndarray]:
    """Per-tweet values of every ranking metric, for confidence intervals over tweets.

    Returns arrays of shape ``(n,)`` under the keys of :func:`ranking_metrics`. ``tagfinder_map@k``
    is NaN for tweets without a hit in the top k (the study leaves them out of the mean); the
    interval functions here skip NaN for that reason.
    """
    Y, S = _check_pair(Y_true, scores)
    ks = _check_ks(ks)
    n, L = Y.shape
    kmax = min(max(ks), L)
    order = rank_labels(S, kmax)
    hits = np.take_along_axis(Y, order, axis=1)  # (n, kmax) relevance of each ranked position
    cum_hits = np.cumsum(hits, axis=1)
    n_true = Y.sum(axis=1)
    has_true = n_true > 0

    pos = np.arange(1, kmax + 1)
    disc = 1.0 / np.log2(pos + 1.0)  # DCG discount of ranks 1..kmax
    cum_disc = np.concatenate(([0.0], np.cumsum(disc)))  # cum_disc[m] = ideal DCG with m hits
    dcg = np.cumsum(hits * disc, axis=1)
    prec_sum = np.cumsum(hits * (cum_hits / pos), axis=1)  # sum of P@i over relevant i

    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in ks:
            c = min(k, kmax) - 1  # last column of the top-k list that exists
            h = cum_hits[:, c]
            out[f"hit@{k}"] = (h > 0).astype(float)
            out[f"p@{k}"] = h / k
            out[f"r@{k}"] = np.where(has_true, h / np.maximum(n_true, 1), 0.0)
            ideal = cum_disc[np.minimum(n_true, min(k, kmax))]
            out[f"ndcg@{k}"] = np.where(has_true, dcg[:, c] / np.where(ideal > 0, ideal, 1.0), 0.0)
            out[f"map@{k}"] = np.where(has_true, prec_sum[:, c] / np.maximum(np.minimum(n_true, k), 1), 0.0)
            found_ideal = cum_disc[h]
            out[f"tagfinder_ndcg@{k}"] = np.where(h > 0, dcg[:, c] / np.where(h > 0, found_ideal, 1.0), 0.0)
            out[f"tagfinder_map@{k}"] = np.where(h > 0, prec_sum[:, c] / np.maximum(h, 1), np.nan)
    return out


def ranking_metrics(Y_true, scores, ks: int | Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """Mean ``hit@k, p@k, r@k, ndcg@k, map@k, tagfinder_ndcg@k, tagfinder_map@k`` for each k.

    ``tagfinder_map@k`` is averaged over tweets with at least one hit only (0.0 if there is none);
    every other metric over all tweets. See the module docstring for ties and normalisation.
    """
    per_item = per_item_ranking_metrics(Y_true, scores, ks)
    result: dict[str, float] = {}
    for key, v in per_item.items():
        if key.startswith("tagfinder_map"):
            finite = ~np.isnan(v)
            result[key] = float(v[finite].mean()) if finite.any() else 0.0
        else:
            result[key] = float(v.mean())
    return result


# --------------------------------------------------------------------------- classification


def _prf(Y: np.ndarray, P: np.ndarray, prefix: str, suffix: str) -> dict[str, float]:
    """Micro and macro precision, recall, F1 of a 0/1 prediction (0 where undefined, as sklearn)."""
    tp = (Y & P).sum(axis=0).astype(float)
    fp = (~Y & P).sum(axis=0).astype(float)
    fn = (Y & ~P).sum(axis=0).astype(float)

    def safe(a, b):
        return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)

    p_l, r_l, f_l = safe(tp, tp + fp), safe(tp, tp + fn), safe(2 * tp, 2 * tp + fp + fn)
    TP, FP, FN = tp.sum(), fp.sum(), fn.sum()
    return {
        f"{prefix}micro_precision{suffix}": float(safe(np.array(TP), np.array(TP + FP))),
        f"{prefix}micro_recall{suffix}": float(safe(np.array(TP), np.array(TP + FN))),
        f"{prefix}micro_f1{suffix}": float(safe(np.array(2 * TP), np.array(2 * TP + FP + FN))),
        f"{prefix}macro_precision{suffix}": float(p_l.mean()),
        f"{prefix}macro_recall{suffix}": float(r_l.mean()),
        f"{prefix}macro_f1{suffix}": float(f_l.mean()),
    }


def classification_metrics(
    Y_true, scores, threshold: float | None = None, at_least_one: bool = False
) -> dict[str, float]:
    """Micro and macro precision, recall and F1 at top-1 and, if ``threshold`` is given, at a threshold.

    Top-1 predicts exactly the highest-scoring tag of each tweet (ties by lower index). The
    threshold rule predicts every tag with ``score >= threshold``; with ``at_least_one=True`` a
    tweet with no tag above it gets its top-1 tag (the study's intended rule at 0.3). Macro values
    are means of per-tag values over all ``L`` tags, with 0 where a ratio is 0/0
    (scikit-learn's ``zero_division=0``). Keys: ``micro_f1@top1``, ``macro_precision@thr``, ...
    """
    Y, S = _check_pair(Y_true, scores)
    n, L = Y.shape
    top1 = np.zeros_like(Y)
    top1[np.arange(n), rank_labels(S, 1)[:, 0]] = True
    out = _prf(Y, top1, "", "@top1")
    if threshold is not None:
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        pred = S >= threshold
        if at_least_one:
            pred |= top1 & ~pred.any(axis=1, keepdims=True)
        out.update(_prf(Y, pred, "", "@thr"))
        out["threshold"] = float(threshold)
    return out


# --------------------------------------------------------------------------- intervals


def bootstrap_ci(per_item_values, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of the mean over items (NaN items skipped, as in tagfinder_map).

    Resamples are drawn in blocks from ``numpy.random.default_rng(seed)`` so memory stays bounded.
    """
    v = _check_values(per_item_values)
    _check_level(level)
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    valid = ~np.isnan(v)
    if not valid.any():
        raise ValueError("per_item_values are all NaN: no item to average")
    filled = np.where(valid, v, 0.0)
    rng = np.random.default_rng(seed)
    n = v.size
    block = max(1, min(int(n_boot), 2_000_000 // n))
    means = np.empty(int(n_boot))
    for start in range(0, int(n_boot), block):  # loop over blocks of resamples, not over items
        stop = min(start + block, int(n_boot))
        idx = rng.integers(0, n, size=(stop - start, n))
        cnt = valid[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[start:stop] = filled[idx].sum(axis=1) / cnt
    alpha = (1.0 - level) / 2.0
    low, high = np.nanquantile(means, [alpha, 1.0 - alpha])
    return Interval(float(v[valid].mean()), float(low), float(high))


def group_t_interval(per_item_values, groups: int = 50, level: float = 0.95) -> Interval:
    """The study's interval: item ``i`` goes to group ``i % groups`` (the remainder
    ``n % groups`` items at the end are dropped), each group's mean is one sample, and a Student t
    interval with ``groups - 1`` degrees of freedom is put around the mean of the group means.

    NaN items are skipped inside a group; a group with no valid item is left out.
    """
    v = _check_values(per_item_values)
    _check_level(level)
    if isinstance(groups, bool) or int(groups) != groups or groups < 2:
        raise ValueError(f"groups must be an integer >= 2, got {groups!r}")
    groups = int(groups)
    if v.size < groups:
        raise ValueError(f"need at least groups={groups} items, got {v.size}")
    table = v[: v.size - v.size % groups].reshape(-1, groups)  # column j holds items i % groups == j
    valid = ~np.isnan(table)
    cnt = valid.sum(axis=0)
    keep = cnt > 0
    if keep.sum() < 2:
        raise ValueError(f"fewer than 2 groups have a non-NaN item (groups={groups})")
    group_means = np.where(valid, table, 0.0).sum(axis=0)[keep] / cnt[keep]
    mean = float(group_means.mean())
    sem = float(stats.sem(group_means))
    if sem == 0.0:
        return Interval(mean, mean, mean)
    low, high = stats.t.interval(level, df=group_means.size - 1, loc=mean, scale=sem)
    return Interval(mean, float(low), float(high))
