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


def multi_hot(tag_lists: Sequence[Sequence[str]], classes: Sequence[str], dtype=np.float32) -> np.ndarray:
    """``(len(tag_lists), len(classes))`` matrix with 1 where a text carries a class; other tags are ignored."""
    column = {tag: j for j, tag in enumerate(classes)}
    matrix = np.zeros((len(tag_lists), len(column)), dtype=dtype)
    for row, tags in enumerate(tag_lists):
        matrix[row, [column[tag] for tag in tags if tag in column]] = 1.0
    return matrix
