"""From tweets to a seeded train / validation / test split with hashtag labels (SPEC sections 2-4).

Order matters for honest results: clean, drop duplicate texts, split, and only then pick the top-K
tags, counted on the training split, so nothing about validation or test tweets leaks into labels.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from features.data import collection_tag as known_collection_tag
from features.data import load_tweets, resolve_source
from features.labels import choose_tags, multi_hot, rank_by_count
from features.text import LEAKAGE_MODES, duplicate_key, extract_hashtags, hashtag_tokens, prepare_text

__all__ = ["Dataset", "build_dataset", "dataset_info"]


@dataclass
class Dataset:
    """One seeded split: input texts, kept tags, and label matrices aligned row by row.

    `Y_*` are multi-hot float32 matrices over `tag_names` (ordered by training frequency, most
    frequent first); `y_*` is the single-label view for the paper's softmax setting: the tweet's
    tag that is most frequent on the training split, i.e. its first tag in `tag_names` order.
    `*_raw` keep the first original tweet of each de-duplicated text, for error analysis.
    `duplicates_dropped` counts rows merged into an earlier copy (same `duplicate_key`) before the
    split; `test_without_kept_tag` counts test tweets left out for carrying none of the top-K tags.
    """

    source: str
    tag_names: list[str]
    train_texts: list[str]
    val_texts: list[str]
    test_texts: list[str]
    train_tags: list[list[str]]
    val_tags: list[list[str]]
    test_tags: list[list[str]]
    Y_train: np.ndarray
    Y_val: np.ndarray
    Y_test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    train_raw: list[str] = field(repr=False)
    val_raw: list[str] = field(repr=False)
    test_raw: list[str] = field(repr=False)
    tag_counts: dict[str, int] = field(repr=False)
    leakage: str = "strict"
    seed: int = 0
    excluded_tags: tuple[str, ...] = ()
    duplicates_dropped: int = 0
    test_without_kept_tag: int = 0

    @property
    def n_tags(self) -> int:
        return len(self.tag_names)

    def summary(self) -> dict[str, object]:
        """Sizes and settings, JSON-ready, for logs and result files."""
        return {
            "source": self.source,
            "leakage": self.leakage,
            "seed": self.seed,
            "n_tags": self.n_tags,
            "tag_names": list(self.tag_names),
            "excluded_tags": list(self.excluded_tags),
            "n_train": len(self.train_texts),
            "n_val": len(self.val_texts),
            "n_test": len(self.test_texts),
            "duplicates_dropped": self.duplicates_dropped,
            "test_without_kept_tag": self.test_without_kept_tag,
        }


def _check_shares(train_share: float, val_share: float) -> None:
    if not 0.0 < train_share < 1.0:
        raise ValueError(f"train_share must be in (0, 1), got {train_share!r}")
    if not 0.0 <= val_share < 1.0:
        raise ValueError(f"val_share must be in [0, 1), got {val_share!r}")
    if train_share + val_share >= 1.0:
        raise ValueError(
            f"train_share + val_share must leave a test split, got {train_share!r} + {val_share!r}"
        )


def _texts_of(
    source: str | os.PathLike[str] | Sequence[str],
    text_column: str | None,
    data_home: str | os.PathLike[str] | None,
    encoding: str | None = None,
) -> tuple[str, list[str]]:
    if isinstance(source, (str, os.PathLike)):
        return str(source), load_tweets(source, text_column=text_column, data_home=data_home, encoding=encoding)
    texts = list(source)
    bad = next((text for text in texts if not isinstance(text, str)), None)
    if bad is not None:
        raise ValueError(f"texts must be strings, got {type(bad).__name__}: {bad!r}")
    return "texts", texts


def _deduplicate(
    texts: list[str], tag_lists: list[list[str]], leakage: str
) -> tuple[list[str], list[list[str]], list[str], int]:
    """Non-empty cleaned texts, one per `duplicate_key`, each with the union of the tags of its copies.

    The first copy's text is kept. Copies keyed the same are one input to the model (strict mode), so
    their tags are all right answers for it: the union loses none and keeps the label a function of
    the text. Returns the texts, their tags, the first raw tweets, and how many rows were merged.
    """
    index_of: dict[str, int] = {}
    dropped = 0
    clean: list[str] = []
    tags: list[dict[str, None]] = []
    raw: list[str] = []
    for text, tweet_tags in zip(texts, tag_lists, strict=True):
        cleaned = prepare_text(text, leakage)
        if not cleaned:
            continue  # nothing left to learn from (e.g. a tweet that is only tags and a link)
        key = duplicate_key(text) or cleaned  # empty only in tagfinder mode, for a text of tags alone
        position = index_of.get(key)
        if position is None:
            index_of[key] = len(clean)
            clean.append(cleaned)
            tags.append(dict.fromkeys(tweet_tags))
            raw.append(text)
        else:
            tags[position].update(dict.fromkeys(tweet_tags))
            dropped += 1
    return clean, [list(t) for t in tags], raw, dropped


def build_dataset(
    source: str | os.PathLike[str] | Sequence[str],
    top_k: int | None = None,
    train_share: float = 0.8,
    val_share: float = 0.1,
    seed: int | np.random.Generator = 0,
    exclude_collection_tag: bool = False,
    leakage: str = "strict",
    *,
    collection_tag: str | None = None,
    text_column: str | None = None,
    data_home: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    min_tag_count: int | None = None,
) -> Dataset:
    """Clean, de-duplicate, split with a seeded generator, and label with the top-K training tags.

    `source` is a known corpus name, a CSV path, or a sequence of tweet texts. Texts empty after
    cleaning are dropped; near-copies (same `duplicate_key`: equal once URLs, @mentions, RT, tags
    and punctuation are gone) become one tweet, the first one's text with the union of their tags,
    before the split, so no text is in two splits (in either leakage mode). Only tweets with at
    least one (non-excluded) tag are split; shares are of those. Tags are counted (tweets per tag) on
    the training split only, ties broken alphabetically; kept are those with at least `min_tag_count`
    training tweets (default `features.labels.MIN_TAG_COUNT`, 20) or, with `top_k=K`, the K most
    frequent (the paper's 10; with both, at most K of those reaching the count). Each split keeps the
    tweets carrying a kept tag (`test_without_kept_tag` counts the test tweets left out).
    `exclude_collection_tag` drops the corpus's query tag (`aapl`, `avengersendgame`, or
    `collection_tag` for other sources) from the labels.
    """
    if leakage not in LEAKAGE_MODES:
        raise ValueError(f"leakage must be one of {LEAKAGE_MODES}, got {leakage!r}")
    for option, value in (("top_k", top_k), ("min_tag_count", min_tag_count)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{option} must be a positive integer or None, got {value!r}")
    _check_shares(train_share, val_share)

    name, texts = _texts_of(source, text_column, data_home, encoding)
    excluded: tuple[str, ...] = ()
    if exclude_collection_tag:
        tag = collection_tag or (known_collection_tag(name) if name != "texts" else None)
        if tag is None:
            raise ValueError(f"no collection tag known for {name!r}; pass collection_tag=")
        excluded = (tag.lower().lstrip("#"),)

    tag_lists = [[t for t in extract_hashtags(text) if t not in excluded] for text in texts]
    clean, tags, raw, duplicates = _deduplicate(texts, tag_lists, leakage)
    tagged = [i for i, t in enumerate(tags) if t]
    if not tagged:
        raise ValueError(f"no tweet of {name!r} carries a hashtag after cleaning")

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = np.asarray(tagged)[rng.permutation(len(tagged))]
    n_train = int(round(train_share * len(order)))
    n_val = int(round(val_share * len(order)))
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }

    counts = Counter(tag for i in parts["train"] for tag in tags[i])
    ranked = rank_by_count(counts)
    tag_names = [tag for tag, _ in choose_tags(counts, top_k, min_tag_count)]
    kept = set(tag_names)

    fields: dict[str, object] = {}
    for part, indices in parts.items():
        kept_tags = [[t for t in tags[i] if t in kept] for i in indices]
        keep = [row for row, t in enumerate(kept_tags) if t]
        if part == "test":
            fields["test_without_kept_tag"] = len(indices) - len(keep)
        Y = multi_hot([kept_tags[row] for row in keep], tag_names)
        fields[f"{part}_texts"] = [clean[indices[row]] for row in keep]
        fields[f"{part}_raw"] = [raw[indices[row]] for row in keep]
        fields[f"{part}_tags"] = [kept_tags[row] for row in keep]
        fields[f"Y_{part}"] = Y
        # Columns are in training-frequency order, so the first set column is the most frequent tag.
        fields[f"y_{part}"] = Y.argmax(axis=1).astype(np.int64) if len(keep) else np.zeros(0, np.int64)

    return Dataset(
        source=name,
        tag_names=tag_names,
        tag_counts=dict(ranked),
        leakage=leakage,
        seed=seed if isinstance(seed, (int, np.integer)) else -1,
        excluded_tags=excluded,
        duplicates_dropped=duplicates,
        **fields,  # type: ignore[arg-type]
    )


def dataset_info(
    source: str | os.PathLike[str],
    text_column: str | None = None,
    data_home: str | os.PathLike[str] | None = None,
    top: int = 20,
    *,
    encoding: str | None = None,
) -> dict[str, object]:
    """Corpus statistics as in data/SOURCES.md: rows, distinct texts, tagged rows, top tags.

    Tag counts are tweets carrying the tag (a tag repeated inside one tweet counts once);
    `hashtag_tokens` counts every occurrence. `distinct_clean_texts` is what survives cleaning
    (strict mode) and exact de-duplication; `duplicates_dropped` counts the non-empty rows that a split
    drops as copies (same `duplicate_key`) of an earlier row.
    """
    texts = load_tweets(source, text_column=text_column, data_home=data_home, encoding=encoding)
    tag_lists = [extract_hashtags(text) for text in texts]
    counts = Counter(tag for tags in tag_lists for tag in tags)
    prepared = [prepare_text(text) for text in texts]
    clean = set(prepared)
    clean.discard("")
    keys = {duplicate_key(text) for text, cleaned in zip(texts, prepared, strict=True) if cleaned}
    return {
        "source": str(source),
        "path": str(resolve_source(source, data_home)),
        "rows": len(texts),
        "distinct_texts": len(set(texts)),
        "distinct_clean_texts": len(clean),
        "duplicates_dropped": sum(1 for cleaned in prepared if cleaned) - len(keys),
        "tagged_rows": sum(1 for tags in tag_lists if tags),
        "hashtag_tokens": sum(len(hashtag_tokens(text)) for text in texts),
        "distinct_tags": len(counts),
        "collection_tag": known_collection_tag(source),
        "top_tags": [[tag, n] for tag, n in rank_by_count(counts, top)],
    }
