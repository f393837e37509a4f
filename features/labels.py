"""Tag counting helpers shared by the dataset split, the featurizer and the recommender.

``rank_by_count`` is the one place where tags are ranked (most frequent first, ties alphabetical)
and ``multi_hot`` the one place where tag lists become a 0/1 matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["multi_hot", "rank_by_count"]


def rank_by_count(counts: Mapping[str, int], k: int | None = None) -> list[tuple[str, int]]:
    """``(tag, count)`` pairs by decreasing count, ties by tag (alphabetical); the first ``k``."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked if k is None else ranked[:k]


MIN_TAG_COUNT = 20
"""Default tweets a tag needs on the training split to be learned when no fixed K is given: fewer
examples than this teach a model little, and a fixed K (the paper's 10) hides frequent tags past it."""


def choose_tags(counts: Mapping[str, int], top_k: int | None = None,
                min_tag_count: int | None = None) -> list[tuple[str, int]]:
    """The ``(tag, count)`` pairs to learn, most frequent first (ties alphabetical).

    ``top_k=None``: every tag with at least ``min_tag_count`` (default ``MIN_TAG_COUNT``) tweets, so K
    comes from the data; ``top_k=K``: the K most frequent (with ``min_tag_count`` also given: at most K
    of those reaching it). Raises a one-line ``ValueError`` when no tag qualifies.
    """
    for name, value in (("top_k", top_k), ("min_tag_count", min_tag_count)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    ranked = rank_by_count(counts)
    floor = MIN_TAG_COUNT if top_k is None and min_tag_count is None else min_tag_count
    if floor is not None:
        ranked = [(tag, n) for tag, n in ranked if n >= floor]
        if not ranked:
            best = max(counts.values(), default=0)
            raise ValueError(f"no training tag has at least {floor} tweets (the most frequent has {best}): "
                             "lower --min-tag-count / min_tag_count or give a fixed --top-k / top_k")
    return ranked if top_k is None else ranked[:top_k]


def multi_hot(tag_lists: Sequence[Sequence[str]], classes: Sequence[str], dtype=np.float32) -> np.ndarray:
    """``(len(tag_lists), len(classes))`` matrix with 1 where a text carries a class; other tags are ignored."""
    column = {tag: j for j, tag in enumerate(classes)}
    matrix = np.zeros((len(tag_lists), len(column)), dtype=dtype)
    for row, tags in enumerate(tag_lists):
        matrix[row, [column[tag] for tag in tags if tag in column]] = 1.0
    return matrix
