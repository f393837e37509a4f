"""TF-IDF + logistic regression, the TagFinder study's best model.

The TF-IDF vocabulary and weights (word 1-2 grams by default) are fitted on the training texts
only. Two ways to turn logistic regression into a multi-label ranker:

* ``strategy="ovr"`` (default): one binary model per tag; the score is its probability.
* ``strategy="label-powerset"`` (the study's, via scikit-multilearn): each distinct training tag
  set is one class of a multinomial model; a tag's score is the summed probability of the tag
  sets that contain it. It can never predict a tag set unseen in training.

``C`` is chosen on the validation split, when one is given to ``fit``, from the grid ``Cs`` by the
ranking metric ``select_by`` (a key of :func:`networks.metrics.ranking_metrics`); the model kept is
the one trained on the training split with that ``C``. Without validation data ``C`` is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ..metrics import RANKING_METRIC_NAMES, ranking_metrics
from ._base import BaseTagger
from .text import tokenize

STRATEGIES = ("ovr", "label-powerset")


class TfidfLogisticTagger(BaseTagger):
    """TF-IDF n-grams + logistic regression (see the module docstring)."""

    def __init__(
        self,
        strategy: str = "ovr",
        C: float = 10.0,
        Cs: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
        select_by: str = "ndcg@5",
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 1,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        max_iter: int = 1000,
    ):
        self.strategy = strategy
        self.C = C
        self.Cs = Cs
        self.select_by = select_by
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.max_iter = max_iter

    def _fit(self, texts, Y, texts_val, Y_val):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        grid = [float(self.C)] if texts_val is None or not self.Cs else sorted(float(c) for c in self.Cs)
        for c in grid:
            if not c > 0:
                raise ValueError(f"C must be > 0, got {c!r}")
        metric, _, k = str(self.select_by).partition("@")
        if metric not in RANKING_METRIC_NAMES or not k.isdigit() or int(k) < 1:
            raise ValueError(f"select_by must be a ranking metric key like 'ndcg@5', got {self.select_by!r}")
        self.vectorizer_ = TfidfVectorizer(
            tokenizer=tokenize,
            token_pattern=None,
            lowercase=False,
            ngram_range=tuple(self.ngram_range),
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=self.sublinear_tf,
        )
        X = self.vectorizer_.fit_transform(texts)
        Xv = None if texts_val is None else self.vectorizer_.transform(texts_val)
        self.validation_scores_ = {}
        best = None
        for c in grid:
            model = self._fit_one(X, Y, c)
            if Xv is None:
                best = (c, model)
                break
            score = ranking_metrics(Y_val, self._scores(model, Xv), ks=(int(k),))[self.select_by]
            self.validation_scores_[c] = score
            if best is None or score > self.validation_scores_[best[0]]:  # ties keep the smaller C
                best = (c, model)
        self.C_, self.model_ = best

    def _fit_one(self, X, Y, C):
        """``("ovr", [model or constant per tag])`` or ``("lp", model or constants, tag-set matrix)``."""
        if self.strategy == "ovr":
            models = []
            for j in range(Y.shape[1]):  # a loop over tags, not texts
                y = Y[:, j]
                if y.min() == y.max():  # a tag always or never present: constant score
                    models.append(float(y[0]))
                else:
                    models.append(LogisticRegression(C=C, max_iter=self.max_iter).fit(X, y))
            return ("ovr", models)
        tag_sets, cls = np.unique(Y, axis=0, return_inverse=True)
        if len(tag_sets) == 1:
            return ("lp", None, tag_sets)
        return ("lp", LogisticRegression(C=C, max_iter=self.max_iter).fit(X, cls.ravel()), tag_sets)

    @staticmethod
    def _scores(fitted, X):
        n = X.shape[0]
        if fitted[0] == "ovr":
            cols = [np.full(n, m) if isinstance(m, float) else m.predict_proba(X)[:, 1] for m in fitted[1]]
            return np.column_stack(cols)
        _, model, tag_sets = fitted
        if model is None:
            return np.tile(tag_sets[0].astype(float), (n, 1))
        return model.predict_proba(X) @ tag_sets[model.classes_].astype(float)

    def _predict(self, texts):
        return self._scores(self.model_, self.vectorizer_.transform(texts))
