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
from ._base import BaseTagger, saved_array
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

    def uses_validation(self) -> bool:
        return bool(self.Cs)  # choosing C from the grid; with no grid C is used as given

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
        self.vectorizer_ = self._vectorizer()
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

    def _vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(
            tokenizer=tokenize,
            token_pattern=None,
            lowercase=False,
            ngram_range=tuple(self.ngram_range),
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=self.sublinear_tf,
        )

    def _logistic(self, C) -> LogisticRegression:
        return LogisticRegression(C=C, max_iter=self.max_iter)

    def _fit_one(self, X, Y, C):
        """``("ovr", [model or constant per tag])`` or ``("lp", model or constants, tag-set matrix)``."""
        if self.strategy == "ovr":
            models = []
            for j in range(Y.shape[1]):  # a loop over tags, not texts
                y = Y[:, j]
                if y.min() == y.max():  # a tag always or never present: constant score
                    models.append(float(y[0]))
                else:
                    models.append(self._logistic(C).fit(X, y))
            return ("ovr", models)
        tag_sets, cls = np.unique(Y, axis=0, return_inverse=True)
        if len(tag_sets) == 1:
            return ("lp", None, tag_sets)
        return ("lp", self._logistic(C).fit(X, cls.ravel()), tag_sets)

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

    # state: the vocabulary in JSON; idf, coefficients, intercepts, classes and tag sets as arrays
    def _get_state(self):
        vocabulary = self.vectorizer_.vocabulary_
        terms = sorted(vocabulary, key=vocabulary.get)
        scores = [[float(c), float(v)] for c, v in self.validation_scores_.items()]
        state = {"C": float(self.C_), "validation_scores": scores, "vocabulary": terms, "fitted": self.model_[0]}
        arrays = {"idf": self.vectorizer_.idf_}
        if self.model_[0] == "ovr":
            state["constants"] = [m if isinstance(m, float) else None for m in self.model_[1]]
            for j, m in enumerate(self.model_[1]):
                if not isinstance(m, float):
                    arrays.update(_logistic_arrays(m, f"tag{j}."))
        else:
            _, model, tag_sets = self.model_
            arrays["tag_sets"] = tag_sets
            if model is not None:
                arrays.update(_logistic_arrays(model, "lp."))
        return state, arrays

    def _set_state(self, state, arrays, where):
        terms = state["vocabulary"]
        if not isinstance(terms, list) or not terms or len(set(terms)) != len(terms) \
                or not all(isinstance(t, str) for t in terms):
            raise ValueError(f"{where}: vocabulary must be a non-empty list of distinct terms")
        n_terms, n_labels = len(terms), self.n_labels_
        self.vectorizer_ = self._vectorizer()
        self.vectorizer_.vocabulary_ = {t: i for i, t in enumerate(terms)}
        self.vectorizer_.idf_ = saved_array(arrays, "idf", (n_terms,), where)
        self.C_ = float(state["C"])
        self.validation_scores_ = {float(c): float(v) for c, v in state["validation_scores"]}
        if state["fitted"] == "ovr":
            constants = state["constants"]
            if not isinstance(constants, list) or len(constants) != n_labels:
                raise ValueError(f"{where}: constants must be a list of {n_labels} entries")
            models = []
            for j, constant in enumerate(constants):
                if constant is None:
                    models.append(self._logistic_from(arrays, f"tag{j}.", n_terms, 2, where))
                elif isinstance(constant, (int, float)) and not isinstance(constant, bool):
                    models.append(float(constant))
                else:
                    raise ValueError(f"{where}: constants[{j}] must be a number or null, got {constant!r}")
            self.model_ = ("ovr", models)
        elif state["fitted"] == "lp":
            tag_sets = saved_array(arrays, "tag_sets", (None, n_labels), where)
            model = None
            if len(tag_sets) > 1:
                model = self._logistic_from(arrays, "lp.", n_terms, len(tag_sets), where)
                if model.classes_.dtype.kind not in "iu" or model.classes_.min() < 0 \
                        or model.classes_.max() >= len(tag_sets):
                    raise ValueError(f"{where}: array 'lp.classes' does not index the {len(tag_sets)} tag sets")
            self.model_ = ("lp", model, tag_sets)
        else:
            raise ValueError(f"{where}: fitted must be 'ovr' or 'lp', got {state['fitted']!r}")

    def _logistic_from(self, arrays, prefix, n_terms, n_classes, where) -> LogisticRegression:
        rows = 1 if n_classes == 2 else n_classes
        model = self._logistic(self.C_)
        model.coef_ = saved_array(arrays, prefix + "coef", (rows, n_terms), where)
        model.intercept_ = saved_array(arrays, prefix + "intercept", (rows,), where)
        model.classes_ = saved_array(arrays, prefix + "classes", (n_classes,), where, kind="fiu")
        model.n_features_in_ = n_terms
        return model


def _logistic_arrays(model: LogisticRegression, prefix: str) -> dict[str, np.ndarray]:
    return {prefix + "coef": model.coef_, prefix + "intercept": model.intercept_, prefix + "classes": model.classes_}
