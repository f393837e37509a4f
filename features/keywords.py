"""The paper's keyword-set features (Section 3.2-3.3): f1..f8 from a feature map, f9 from a Deep LSTM.

Each word position of a tweet gets a feature row X = (X1 TF in the tweet, X2 IDF, X3 thematic
score, X4 relevance score); f1..f8 are the mean and population variance of each column over the
tweet's L words (repeated words count at every position); f9 is a "hashing score" a stacked LSTM
computes from the sequence of rows. Means and variances are sums over positions done with numpy
(`bincount`), the only Python loop is the tokenizer's walk over the words.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from features.labels import multi_hot, rank_by_count
from features.text import LEAKAGE_MODES, analyze
from features.torchutil import load_state, module_state, torch_threads

__all__ = ["FEATURE_NAMES", "HASHING_TARGETS", "RELEVANCE_MODES", "KeywordSetFeaturizer"]

FEATURE_NAMES = (
    "f1_tf_mean",
    "f2_tf_var",
    "f3_idf_mean",
    "f4_idf_var",
    "f5_thematic_mean",
    "f6_thematic_var",
    "f7_relevance_mean",
    "f8_relevance_var",
    "f9_hashing",
)
RELEVANCE_MODES = ("frequency", "chi2")
HASHING_TARGETS = ("tags", "top_tag", "reconstruct")


class _Tokens:
    """Word positions of a batch of tweets: row of each position, word id, and words per tweet."""

    def __init__(self, rows: np.ndarray, ids: np.ndarray, lengths: np.ndarray, n_words: int) -> None:
        self.rows = rows
        self.ids = ids
        self.lengths = lengths
        self.n_words = n_words  # vocabulary plus the unseen words of this batch
        # Start of each tweet's positions, so a position's place inside its tweet is index - start.
        self.starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)

    @property
    def n_docs(self) -> int:
        return len(self.lengths)

    def term_frequency(self) -> np.ndarray:
        """TF of the word at each position inside its own tweet (X1)."""
        if len(self.ids) == 0:
            return np.zeros(0)
        keys = self.rows * np.int64(self.n_words) + self.ids
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        return counts[inverse].astype(np.float64)

    def counts(self, n_columns: int) -> sp.csr_matrix:
        """Tweet x word count matrix over the first `n_columns` word ids (others dropped)."""
        seen = self.ids < n_columns
        data = np.ones(int(seen.sum()))
        matrix = sp.csr_matrix(
            (data, (self.rows[seen], self.ids[seen])), shape=(self.n_docs, n_columns), dtype=np.float64
        )
        matrix.sum_duplicates()
        return matrix


def _encode(docs: list[list[str]], vocabulary: dict[str, int]) -> _Tokens:
    """Map words to ids; unseen words get ids after the vocabulary, one per distinct word."""
    lengths = np.fromiter((len(doc) for doc in docs), dtype=np.int64, count=len(docs))
    flat = list(itertools.chain.from_iterable(docs))
    get = vocabulary.get
    ids = np.fromiter((get(word, -1) for word in flat), dtype=np.int64, count=len(flat))
    n_words = len(vocabulary)
    unseen = np.flatnonzero(ids < 0)
    if len(unseen):
        _, local = np.unique(np.array([flat[i] for i in unseen], dtype=object), return_inverse=True)
        ids[unseen] = n_words + local
        n_words += int(local.max()) + 1
    rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    return _Tokens(rows, ids, lengths, n_words)


def _top_scores(scores: np.ndarray, n_top: int) -> np.ndarray:
    """Scores scaled to [0, 1] for the top-n words (ties: alphabetical), zero for the others."""
    keep = np.zeros(len(scores), dtype=bool)
    order = np.lexsort((np.arange(len(scores)), -scores))  # vocabulary ids are alphabetical
    keep[order[:n_top]] = True
    keep &= scores > 0
    top = scores.max() if len(scores) else 0.0
    if top <= 0:
        return np.zeros(len(scores))
    return np.where(keep, scores / top, 0.0)


def _chi2_scores(counts: sp.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """Largest one-vs-rest chi-squared statistic of each word's counts against any tag."""
    total = np.asarray(counts.sum(axis=0)).ravel()  # (V,)
    positive = np.asarray((counts.T @ labels).T)  # (K, V) counts inside tweets with the tag
    share = labels.mean(axis=0)[:, None]  # (K, 1)
    expected_pos = share * total
    expected_neg = (1.0 - share) * total
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = np.where(expected_pos > 0, (positive - expected_pos) ** 2 / expected_pos, 0.0)
        chi2 += np.where(expected_neg > 0, ((total - positive) - expected_neg) ** 2 / expected_neg, 0.0)
    return chi2.max(axis=0) if len(chi2) else np.zeros(counts.shape[1])


def _label_matrix(tags: object, n_docs: int, max_tags: int) -> tuple[np.ndarray, list[str]]:
    """Multi-hot float matrix from tag lists, single labels, or a ready 0/1 matrix."""
    if sp.issparse(tags):
        tags = tags.toarray()  # type: ignore[union-attr]
    if isinstance(tags, np.ndarray) and tags.ndim == 2:
        matrix = np.asarray(tags, dtype=np.float64)
        names = [str(column) for column in range(matrix.shape[1])]
    else:
        items = list(tags)  # type: ignore[call-overload]
        if items and all(isinstance(item, (str, int, np.integer)) for item in items):
            items = [[item] for item in items]  # one label per tweet
        lists = [[str(tag) for tag in item] for item in items]
        counts = Counter(tag for tweet in lists for tag in set(tweet))
        names = [tag for tag, _ in rank_by_count(counts, max_tags)]
        matrix = multi_hot(lists, names, dtype=np.float64)
    if matrix.shape[0] != n_docs:
        raise ValueError(f"tags must have one entry per text: got {matrix.shape[0]} for {n_docs} texts")
    return matrix, names


class _HashingLSTM(nn.Module):
    """Stacked LSTM over a tweet's feature rows; a linear unit on the last real step is the score."""

    def __init__(self, hidden_size: int, num_layers: int, n_outputs: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, hidden_size, num_layers=num_layers, batch_first=True)
        self.score = nn.Linear(hidden_size, 1)
        self.readout = nn.Linear(1, n_outputs)  # only used to train the score

    def forward(self, rows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(rows)  # (batch, time, hidden); padding comes after the last word
        last = outputs[torch.arange(len(lengths)), lengths - 1]
        return self.score(last).squeeze(1)


class KeywordSetFeaturizer(TransformerMixin, BaseEstimator):
    """Tweets to the paper's nine keyword-set features (f1..f9), a scikit-learn transformer.

    Keyword set, from the training texts only: DW = all words left after cleaning and stop-word
    removal; TW = the `n_thematic` words that co-occur with the most other words inside tweets
    (sum over tweets of the distinct other words); MR = the `n_relevant` words that occur most
    often over all tweets (`relevance="frequency"`, the paper's reading), or with the largest
    one-vs-rest chi-squared statistic against any tag (`relevance="chi2"`, label-aware).
    Word features: X1 = TF in the tweet, X2 = log(n / df) over the n training tweets (an unseen
    word gets the add-one smoothed log((n + 1) / (0 + 1)), rarer than any training word),
    X3 = co-occurrence count / the largest one for TW words else 0, X4 = relevance score / the
    largest one for MR words else 0. A tweet with no words gets all zeros.

    f9, the hashing score: the paper does not say what its Deep LSTM learns. Here a stacked LSTM
    (`num_layers` >= 2) reads the standardized rows (X1..X4) of the first `max_len` words and ends
    in one linear unit; f9 is that unit standardized over the training tweets (a z-score).
    `hashing_target` picks what the unit is trained to predict through a linear read-out that is
    dropped afterwards:
      * ``"tags"`` (default): the tweet's tag distribution over the `max_tags` most frequent tags,
        by softmax cross-entropy. A one-number code from which the tags can be read is the only
        kind of score that can help the downstream classifier choose a tag, and a linear read-out
        of one number still gives every tag its own interval of scores.
      * ``"top_tag"``: whether the tweet carries the most frequent tag (logistic loss); simple but
        on corpora where one collection tag dominates it carries little.
      * ``"reconstruct"``: the tweet's own standardized f1..f8 (squared error); needs no tags.
    Weights are initialized from `random_state` inside `torch.random.fork_rng`, batches are
    shuffled with a numpy Generator from the same seed, so fitting is reproducible and leaves the
    global torch and numpy random states untouched. The LSTM is small (`hidden_size` 16) and trained
    for `epochs` passes on CPU, more on small corpora so that it gets at least `min_steps` updates.

    `hashing=False` gives f1..f8 only. `extended=True` appends the keyword-set TF-IDF bag
    (training vocabulary, training IDF, rows L2-normalized) and then `transform` returns a
    scipy CSR matrix: the nine dense features first, then one column per vocabulary word.
    `leakage` is passed to the text preparation, so raw tweets may be given; texts already prepared
    by `build_dataset` pass through unchanged.
    """

    def __init__(
        self,
        n_thematic: int = 200,
        n_relevant: int = 200,
        relevance: str = "frequency",
        hashing: bool = True,
        hashing_target: str = "tags",
        extended: bool = False,
        leakage: str = "strict",
        max_tags: int = 50,
        max_len: int = 32,
        hidden_size: int = 16,
        num_layers: int = 2,
        epochs: int = 3,
        min_steps: int = 300,
        batch_size: int = 128,
        learning_rate: float = 0.01,
        random_state: int | np.random.Generator = 0,
    ) -> None:
        self.n_thematic = n_thematic
        self.n_relevant = n_relevant
        self.relevance = relevance
        self.hashing = hashing
        self.hashing_target = hashing_target
        self.extended = extended
        self.leakage = leakage
        self.max_tags = max_tags
        self.max_len = max_len
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        choices = {
            "relevance": (self.relevance, RELEVANCE_MODES),
            "hashing_target": (self.hashing_target, HASHING_TARGETS),
            "leakage": (self.leakage, LEAKAGE_MODES),
        }
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        minimum = {"n_thematic": 0, "n_relevant": 0, "max_tags": 1, "max_len": 1, "hidden_size": 1,
                   "num_layers": 2, "epochs": 0, "min_steps": 0, "batch_size": 1}
        for name, low in minimum.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")

    def _analyze(self, texts: Sequence[str]) -> list[list[str]]:
        if isinstance(texts, str):
            raise ValueError(f"texts must be a sequence of strings, got one string: {texts[:40]!r}")
        leakage = self.leakage
        return [analyze(text, leakage) for text in texts]

    def fit(self, texts: Sequence[str], tags: object = None) -> KeywordSetFeaturizer:
        """Learn the keyword set, word scores and (if `hashing`) the LSTM from training texts.

        `tags`: per-tweet lists of tags, one label per tweet, or a 0/1 matrix; needed for
        `relevance="chi2"` and the tag-based hashing targets.
        """
        self._check_params()
        docs = self._analyze(texts)
        needs_tags = self.relevance == "chi2" or (self.hashing and self.hashing_target != "reconstruct")
        if needs_tags and tags is None:
            raise ValueError(
                f"tags are needed for relevance={self.relevance!r}, hashing_target={self.hashing_target!r}"
                " (or use hashing_target='reconstruct' / hashing=False)"
            )
        labels = _label_matrix(tags, len(docs), self.max_tags)[0] if tags is not None else None
        if needs_tags and not labels.any():  # type: ignore[union-attr]
            raise ValueError("tags are all empty: no tweet carries a tag to learn from")

        words = sorted(set(itertools.chain.from_iterable(docs)))
        if not words:
            raise ValueError("no words left in the training texts after cleaning and stop-word removal")
        self.vocabulary_ = {word: index for index, word in enumerate(words)}
        tokens = _encode(docs, self.vocabulary_)
        counts = tokens.counts(len(words))
        present = counts.copy()
        present.data[:] = 1.0

        n_docs = len(docs)
        self.n_train_ = n_docs
        document_frequency = np.asarray(present.sum(axis=0)).ravel()
        self.idf_ = np.log(n_docs / document_frequency)
        self.unseen_idf_ = float(np.log(n_docs + 1.0))

        distinct_per_doc = np.asarray(present.sum(axis=1)).ravel()
        cooccurrence = present.T @ (distinct_per_doc - 1.0)
        self.cooccurrence_ = np.asarray(cooccurrence).ravel()
        self.thematic_score_ = _top_scores(self.cooccurrence_, self.n_thematic)
        if self.relevance == "chi2":
            raw_relevance = _chi2_scores(counts, labels)  # type: ignore[arg-type]
        else:
            raw_relevance = np.asarray(counts.sum(axis=0)).ravel()
        self.relevance_raw_ = raw_relevance
        self.relevance_score_ = _top_scores(raw_relevance, self.n_relevant)
        self.thematic_words_ = [words[i] for i in np.flatnonzero(self.thematic_score_)]
        self.relevant_words_ = [words[i] for i in np.flatnonzero(self.relevance_score_)]

        self.lstm_ = None
        if self.hashing:
            self._fit_lstm(tokens, labels)
        return self

    def _word_table(self, n_words: int) -> np.ndarray:
        """(X2, X3, X4) for every word id, unseen words (ids past the vocabulary) included."""
        table = np.zeros((n_words, 3))
        vocabulary_size = len(self.idf_)
        table[:vocabulary_size, 0] = self.idf_
        table[vocabulary_size:, 0] = self.unseen_idf_
        table[:vocabulary_size, 1] = self.thematic_score_
        table[:vocabulary_size, 2] = self.relevance_score_
        return table

    def _rows(self, tokens: _Tokens) -> np.ndarray:
        """Feature rows X1..X4, one per word position."""
        rows = np.empty((len(tokens.ids), 4))
        rows[:, 0] = tokens.term_frequency()
        rows[:, 1:] = self._word_table(tokens.n_words)[tokens.ids]
        return rows

    @staticmethod
    def _moments(tokens: _Tokens, rows: np.ndarray) -> np.ndarray:
        """f1..f8: per-tweet mean and population variance of each column of the rows."""
        n = tokens.n_docs
        length = np.maximum(tokens.lengths, 1).astype(np.float64)
        out = np.zeros((n, 8))
        for column in range(4):
            values = rows[:, column]
            mean = np.bincount(tokens.rows, weights=values, minlength=n) / length
            square = np.bincount(tokens.rows, weights=values * values, minlength=n) / length
            out[:, 2 * column] = mean
            out[:, 2 * column + 1] = np.maximum(square - mean * mean, 0.0)
        return out

    # ------------------------------------------------------------------ f9
    def _sequences(self, tokens: _Tokens, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardized rows padded to (tweets, time, 4), and each tweet's length (at least 1)."""
        position = np.arange(len(tokens.ids)) - np.repeat(tokens.starts, tokens.lengths)
        keep = position < self.max_len
        steps = int(min(self.max_len, max(1, tokens.lengths.max(initial=1))))
        padded = np.zeros((tokens.n_docs, steps, 4), dtype=np.float32)
        padded[tokens.rows[keep], position[keep]] = (rows[keep] - self.row_mean_) / self.row_scale_
        lengths = np.clip(tokens.lengths, 1, self.max_len)
        return padded, lengths

    def _seed(self) -> int:
        if isinstance(self.random_state, np.random.Generator):
            return int(self.random_state.integers(2**62))
        return int(self.random_state)

    def _fit_lstm(self, tokens: _Tokens, labels: np.ndarray | None) -> None:
        rows = self._rows(tokens)
        self.row_mean_ = rows.mean(axis=0) if len(rows) else np.zeros(4)
        scale = rows.std(axis=0) if len(rows) else np.ones(4)
        self.row_scale_ = np.where(scale > 1e-12, scale, 1.0)
        padded, lengths = self._sequences(tokens, rows)

        if self.hashing_target == "reconstruct":
            moments = self._moments(tokens, rows)
            spread = moments.std(axis=0)
            target = (moments - moments.mean(axis=0)) / np.where(spread > 1e-12, spread, 1.0)
            usable = tokens.lengths > 0
        elif self.hashing_target == "top_tag":
            top = int(np.argmax(labels.sum(axis=0)))  # type: ignore[union-attr]
            target = labels[:, [top]]  # type: ignore[index]
            usable = tokens.lengths > 0
        else:
            totals = labels.sum(axis=1, keepdims=True)  # type: ignore[union-attr]
            usable = (tokens.lengths > 0) & (totals.ravel() > 0)
            target = labels / np.maximum(totals, 1.0)  # type: ignore[operator]

        seed = self._seed()
        rng = np.random.default_rng(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _HashingLSTM(self.hidden_size, self.num_layers, target.shape[1])
        x_all = torch.from_numpy(padded[usable])
        len_all = torch.from_numpy(lengths[usable])
        y_all = torch.from_numpy(np.asarray(target[usable], dtype=np.float32))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.learning_rate)
        model.train()
        batches_per_epoch = -(-len(x_all) // self.batch_size)
        epochs = max(self.epochs, -(-self.min_steps // batches_per_epoch)) if len(x_all) else 0
        with torch_threads(1):
            for _ in range(epochs):
                order = torch.from_numpy(rng.permutation(len(x_all)))
                for start in range(0, len(order), self.batch_size):
                    batch = order[start : start + self.batch_size]
                    batch_lengths = len_all[batch]
                    x = x_all[batch, : int(batch_lengths.max())]
                    output = model.readout(model(x, batch_lengths).unsqueeze(1))
                    loss = self._loss(output, y_all[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        model.eval()
        self.lstm_ = model
        # f9 is reported standardized over the training tweets, so it sits on the scale of a z-score.
        raw = self._raw_scores(padded, lengths)[tokens.lengths > 0]
        self.score_mean_ = float(raw.mean()) if len(raw) else 0.0
        spread = float(raw.std()) if len(raw) else 0.0
        self.score_scale_ = spread if spread > 1e-12 else 1.0

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.hashing_target == "tags":
            return -(target * torch.log_softmax(output, dim=1)).sum(dim=1).mean()
        if self.hashing_target == "top_tag":
            return nn.functional.binary_cross_entropy_with_logits(output, target)
        return nn.functional.mse_loss(output, target)

    def _raw_scores(self, padded: np.ndarray, lengths: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """LSTM scores in chunks of similar length, so short tweets are not run over long padding."""
        order = np.argsort(lengths, kind="stable")
        scores = np.zeros(len(lengths))
        with torch.inference_mode(), torch_threads(1):
            for start in range(0, len(order), chunk):
                index = order[start : start + chunk]
                batch_lengths = torch.from_numpy(lengths[index])
                x = torch.from_numpy(padded[index, : int(batch_lengths.max())])
                scores[index] = self.lstm_(x, batch_lengths).numpy()
        return scores

    def _hashing_scores(self, tokens: _Tokens, rows: np.ndarray) -> np.ndarray:
        padded, lengths = self._sequences(tokens, rows)
        scores = (self._raw_scores(padded, lengths) - self.score_mean_) / self.score_scale_
        scores[tokens.lengths == 0] = 0.0
        return scores

    # ------------------------------------------------------------------ transform
    def transform(self, texts: Sequence[str]) -> np.ndarray | sp.csr_matrix:
        """(n, 9) float array f1..f9 ((n, 8) without hashing); CSR with the TF-IDF bag if extended."""
        check_is_fitted(self, "vocabulary_")
        tokens = _encode(self._analyze(texts), self.vocabulary_)
        rows = self._rows(tokens)
        features = self._moments(tokens, rows)
        if self.hashing:
            features = np.column_stack([features, self._hashing_scores(tokens, rows)])
        if not self.extended:
            return features
        bag = tokens.counts(len(self.idf_)).multiply(self.idf_[None, :]).tocsr()
        norms = np.sqrt(np.asarray(bag.multiply(bag).sum(axis=1)).ravel())
        bag = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ bag
        return sp.hstack([sp.csr_matrix(features), bag], format="csr")

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """f1..f9 names, then `word:<w>` for the TF-IDF bag when extended."""
        check_is_fitted(self, "vocabulary_")
        names = list(FEATURE_NAMES if self.hashing else FEATURE_NAMES[:8])
        if self.extended:
            names += [f"word:{word}" for word in sorted(self.vocabulary_, key=self.vocabulary_.get)]
        return np.asarray(names, dtype=object)

    # ------------------------------------------------------------------ state
    _STATE_ARRAYS = ("idf_", "cooccurrence_", "thematic_score_", "relevance_raw_", "relevance_score_")

    def get_state(self) -> tuple[dict[str, object], dict[str, np.ndarray]]:
        """The fitted featurizer as ``(state, arrays)``: a JSON-able dict (settings, vocabulary,
        scalars) and numpy arrays (word scores, row scaler, the LSTM's weights under ``lstm.``).
        ``KeywordSetFeaturizer.from_state(state, arrays)`` rebuilds it; nothing is pickled."""
        check_is_fitted(self, "vocabulary_")
        params = self.get_params(deep=False)
        if isinstance(params["random_state"], np.random.Generator):
            params["random_state"] = None  # only used while fitting
        params = {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
        words = sorted(self.vocabulary_, key=self.vocabulary_.get)
        if [self.vocabulary_[w] for w in words] != list(range(len(words))):
            raise ValueError("vocabulary_ ids are not 0..V-1; cannot save it as a word list")
        arrays = {key[:-1]: np.ascontiguousarray(getattr(self, key)) for key in self._STATE_ARRAYS}
        state: dict[str, object] = {"class": type(self).__name__, "params": params, "vocabulary": words,
                                    "n_train": int(self.n_train_), "unseen_idf": float(self.unseen_idf_),
                                    "lstm": None}
        if self.lstm_ is not None:
            state["lstm"] = {"n_outputs": int(self.lstm_.readout.out_features),
                             "score_mean": float(self.score_mean_), "score_scale": float(self.score_scale_)}
            arrays["row_mean"] = np.ascontiguousarray(self.row_mean_)
            arrays["row_scale"] = np.ascontiguousarray(self.row_scale_)
            arrays.update(module_state(self.lstm_, "lstm."))
        return state, arrays

    @classmethod
    def from_state(cls, state: dict[str, object], arrays: dict[str, np.ndarray]) -> KeywordSetFeaturizer:
        """Rebuild a featurizer saved by :meth:`get_state`; anything inconsistent is a one-line ValueError."""
        where = "featurizer state"
        if not isinstance(state, dict) or state.get("class") != cls.__name__:
            found = state.get("class") if isinstance(state, dict) else state
            raise ValueError(f"{where}: class {found!r} is not {cls.__name__}")
        params = state.get("params")
        if not isinstance(params, dict):
            raise ValueError(f"{where}: params must be a dict, got {params!r}")
        params = dict(params)
        if params.get("random_state") is None:
            params["random_state"] = 0
        try:
            featurizer = cls(**params)
        except TypeError as exc:
            raise ValueError(f"{where}: bad params: {exc}") from None
        featurizer._check_params()
        words = state.get("vocabulary")
        if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words) \
                or len(set(words)) != len(words):
            raise ValueError(f"{where}: vocabulary must be a non-empty list of distinct words")
        lstm = state.get("lstm")
        expected = {key[:-1]: (len(words),) for key in cls._STATE_ARRAYS}
        if featurizer.hashing != (lstm is not None):
            saved = "missing" if lstm is None else "saved"
            raise ValueError(f"{where}: hashing={featurizer.hashing} but the LSTM is {saved}")
        if lstm is not None:
            expected.update(row_mean=(4,), row_scale=(4,))
        for name, shape in expected.items():
            value = arrays.get(name)
            if value is None or value.shape != shape or value.dtype.kind != "f":
                found = None if value is None else f"{value.dtype} {value.shape}"
                raise ValueError(f"{where}: array {name!r} is {found}, expected floats of shape {shape}")
        extra = sorted(k for k in arrays if k not in expected and not k.startswith("lstm."))
        if extra:
            raise ValueError(f"{where}: unexpected array {extra[0]!r}")
        try:
            featurizer.n_train_ = int(state["n_train"])
            featurizer.unseen_idf_ = float(state["unseen_idf"])
            if lstm is not None:
                n_outputs = int(lstm["n_outputs"])
                score_mean, score_scale = float(lstm["score_mean"]), float(lstm["score_scale"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: missing or bad scalar {exc}") from None
        featurizer.vocabulary_ = {w: i for i, w in enumerate(words)}
        for key in cls._STATE_ARRAYS:
            setattr(featurizer, key, np.array(arrays[key[:-1]]))
        featurizer.thematic_words_ = [words[i] for i in np.flatnonzero(featurizer.thematic_score_)]
        featurizer.relevant_words_ = [words[i] for i in np.flatnonzero(featurizer.relevance_score_)]
        featurizer.lstm_ = None
        if lstm is not None:
            if n_outputs < 1:
                raise ValueError(f"{where}: lstm n_outputs must be >= 1, got {n_outputs}")
            featurizer.row_mean_, featurizer.row_scale_ = np.array(arrays["row_mean"]), np.array(arrays["row_scale"])
            featurizer.score_mean_, featurizer.score_scale_ = score_mean, score_scale
            with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the global RNG alone
                model = _HashingLSTM(featurizer.hidden_size, featurizer.num_layers, n_outputs)
            featurizer.lstm_ = load_state(model, arrays, where, prefix="lstm.").eval()
        elif any(k.startswith("lstm.") for k in arrays):
            raise ValueError(f"{where}: LSTM arrays saved for a featurizer without hashing")
        return featurizer
