"""The SC-Political ResNet hashtag recommender as one scikit-learn estimator.

``HashtagRecommender().fit(texts, tags)`` keeps the ``top_k_tags`` most frequent training tags,
computes the keyword-set features (``features.KeywordSetFeaturizer``, fitted on the training texts
only), standardizes them (mean and scale of the training rows), and trains a
:class:`networks.DeepResNet` on them with a population optimizer (``optimizer="scpo"``, or any
``scpo`` algorithm) or with Adam (``optimizer="adam"``). ``model=`` may instead name one of the
gradient-trained baselines of :mod:`networks.baselines`, which read the raw texts.

``save(dir)`` writes any fitted model, the ResNet or a baseline, as ``weights.safetensors`` (arrays:
network, scaler, the featurizer's word scores and LSTM; or the baseline's weights, TF-IDF idf and
logistic coefficients) and ``config.json`` (format version, settings, tags, vocabularies, scalars,
and a SHA-256 over both), each through ``scpo.io.atomic_write``; ``HashtagRecommender.load(dir)``
rebuilds the estimator without unpickling anything, and refuses with a one-line ValueError a
directory of another format version or one whose files were changed, cut short or do not fit.
What a baseline stores is its ``get_state()`` (see ``networks.baselines``); ``bert`` re-reads its
encoder and tokenizer from the saved ``model_dir`` (see ``networks.baselines.bert``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

import scpo
from features.labels import choose_tags, multi_hot
from features.text import LEAKAGE_MODES, extract_hashtags, prepare_text
from networks.baselines._base import check_texts, json_value, params_from_json

if TYPE_CHECKING:
    import torch

# torch, the ResNet and its training are imported where used, so loading and using a saved ``frequency`` or
# ``tfidf-lr`` model (``scpo recommend``) does not import torch (1.6 s of a 3 s call).
_RESAMPLING = ("fixed", "per-iteration")  # networks.training.RESAMPLING, here so that checking needs no torch

__all__ = ["HashtagRecommender"]

FORMAT = "scpo.HashtagRecommender"
FORMAT_VERSION = 2
CONFIG_FILE, WEIGHTS_FILE = "config.json", "weights.safetensors"
RUN_ONLY = ("callback", "checkpoint", "checkpoint_every", "resume", "stop_on_sigint")  # not saved with the model


def _normalize_tags(tags, n: int, name: str = "tags") -> list[list[str]]:
    """Per-text lists of lowercased tags without '#'; a bare string per text is one tag."""
    if isinstance(tags, (str, bytes)):
        raise ValueError(f"{name} must hold one tag list per text, got a single string {tags[:40]!r}")
    tags = list(tags)
    if len(tags) != n:
        raise ValueError(f"{name} has {len(tags)} entries but there are {n} texts")
    out = []
    for i, item in enumerate(tags):
        items = [item] if isinstance(item, str) else item
        try:
            items = list(items)
        except TypeError:
            raise ValueError(f"{name}[{i}] must be a list of tag strings, got {item!r}") from None
        clean = []
        for tag in items:
            if not isinstance(tag, str):
                raise ValueError(f"{name}[{i}] must contain strings, got {type(tag).__name__} {tag!r}")
            tag = tag.strip().lstrip("#").lower()
            if tag and tag not in clean:
                clean.append(tag)
        out.append(clean)
    return out


def _digest(config: dict[str, Any], weights: bytes) -> str:
    """SHA-256 of the weights file and of the config (without its own ``sha256`` entry)."""
    body = json.dumps({k: v for k, v in config.items() if k != "sha256"}, sort_keys=True).encode()
    return hashlib.sha256(weights + b"\0" + body).hexdigest()


# --------------------------------------------------------------------------- the estimator


class HashtagRecommender(BaseEstimator):
    """Hashtag recommendation from tweet texts: keyword-set features + DeepResNet, or a baseline.

    Parameters
    ----------
    model : ``"resnet"`` (DeepResNet on the keyword-set features) or a baseline name from
        ``networks.baselines.names()`` (reads raw texts; ``baseline_params`` go to it).
    optimizer : ``"adam"`` or any ``scpo.algorithm_names()`` entry for the ResNet (``None``: ``"scpo"``).
        Baselines train their own way; for them leave ``None`` (or ``"adam"`` for the torch ones).
    top_k_tags : the number of tags learned, most frequent on the training texts (ties alphabetical);
        ``None``: every tag with at least ``min_tag_count`` training texts (K from the data). Training
        texts with none of them are dropped.
    min_tag_count : with ``top_k_tags=None``, the training texts a tag needs (``None``: 20,
        ``features.labels.MIN_TAG_COUNT``); with a fixed ``top_k_tags``, at most that many of these.
    multilabel : sigmoid outputs and multi-hot targets; otherwise softmax over the tags (a text with
        several kept tags wants equal mass on each).
    loss : ``"mse"`` (the paper's fitness), ``"ce"`` or ``"bce"`` (see ``networks.population``).
    max_evals, pop_size, bounds, batch_size, resample, algorithm_options : population training
        (``networks.training.train_population``).
    refine, refine_steps, refine_members, refine_lr, refine_batch_size, refine_adam : memetic population
        training (``refine="adam"``: the best members take Adam steps after every iteration, written back;
        ``refine_adam``: ``"fresh"`` Adam per refinement or ``"continued"`` chains; ``networks.memetic``);
        needs a population algorithm (sca, po, scpo, pso, de).
    subspace, subspace_seed : search ``z`` in ``R^k`` with ``W = W0 + A z`` (``networks.memetic.Subspace``;
        ``bounds`` are then those of ``z``).
    init, init_spread : the initial population of population training: ``"uniform"`` in the bounds
        or ``"w0"`` around the network's initial weights (``networks.training.train_population``).
    epochs, lr, adam_batch_size : Adam training (``networks.training.train_adam``).
    patience : early-stopping patience in iterations (population) or epochs (Adam); ``None``: Adam
        uses 20, population runs use the whole budget (the weights kept are still the best on the
        validation texts).
    validation_fraction : share of the training texts held out (seeded) for weight selection when
        ``fit`` gets no ``texts_val``; 0 disables validation.
    width, depth, kernel_size : DeepResNet size.
    hashing, featurizer_params : ``KeywordSetFeaturizer(hashing=hashing, random_state=seed,
        **featurizer_params)``. ``extended=True`` in ``featurizer_params`` appends the TF-IDF bag
        (densified; the network then convolves over thousands of positions: slow for populations).
    threshold : probability at or above which ``predict`` sets a tag when ``multilabel``.
    leakage : how ``#tags`` are removed from every text the model reads, in ``fit`` and when predicting, for
        every model: ``features.prepare_text(text, leakage)``, the function ``features.build_dataset`` (and
        so ``scpo train``) applies; ``"strict"`` removes every tag, ``"tagfinder"`` copies the TagFinder
        study (mid-text tags kept as words). Texts empty once prepared are dropped from training.
    seed : one integer from which the split, network initialization, featurizer, and optimizer are seeded.
    device : torch device for the network (``"cpu"``, ``"cuda"``).
    num_threads : torch threads while training (``None``: unchanged); 1 is fastest for the small
        default network on a busy machine.
    dtype, memory_budget_mb : the population fitness pass (``networks.population.batched_loss``):
        ``"float32"`` or ``"float64"``, and the memory its activations may take.
    callback : ``callback(history)`` after every population iteration or Adam epoch (progress); True
        stops. Not saved.
    checkpoint, checkpoint_every, resume : training checkpoints (a path; iterations or epochs between
        saves, ``None``: adaptive for population runs, every epoch for Adam; continue from the path if
        it exists), see ``networks.training``. Not saved.
    stop_on_sigint : Ctrl-C ends training cleanly, the best weights so far kept
        (``history_.interrupted``); a second Ctrl-C exits at once. Not saved.
    """

    def __init__(self, model: str = "resnet", optimizer: str | None = None, top_k_tags: int | None = 10,
                 multilabel: bool = False, loss: str = "mse", max_evals: int = 30_000, pop_size: int | None = 64,
                 bounds=(-1.0, 1.0), batch_size: int | None = None, resample: str = "fixed",
                 epochs: int = 200, lr: float = 1e-2, adam_batch_size: int = 64, patience: int | None = None,
                 validation_fraction: float = 0.1, width: int = 8, depth: int = 2, kernel_size: int = 3,
                 hashing: bool = True, featurizer_params: dict | None = None, baseline_params: dict | None = None,
                 algorithm_options: dict | None = None, threshold: float = 0.5, seed: int = 0, device: str = "cpu",
                 num_threads: int | None = None, dtype: str = "float32", memory_budget_mb: float = 256.0,
                 callback=None, checkpoint=None, checkpoint_every: int | None = None, resume: bool = False,
                 stop_on_sigint: bool = False, refine: str | None = None, refine_steps: int = 10,
                 refine_members: int = 4, refine_lr: float = 1e-2, refine_batch_size: int = 64,
                 subspace: int | None = None, subspace_seed: int = 0, init: str = "uniform",
                 init_spread: float = 0.1, refine_adam: str = "fresh", leakage: str = "strict",
                 min_tag_count: int | None = None):
        self.model = model
        self.optimizer = optimizer
        self.top_k_tags = top_k_tags
        self.min_tag_count = min_tag_count
        self.multilabel = multilabel
        self.loss = loss
        self.max_evals = max_evals
        self.pop_size = pop_size
        self.bounds = bounds
        self.batch_size = batch_size
        self.resample = resample
        self.epochs = epochs
        self.lr = lr
        self.adam_batch_size = adam_batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.width = width
        self.depth = depth
        self.kernel_size = kernel_size
        self.hashing = hashing
        self.featurizer_params = featurizer_params
        self.baseline_params = baseline_params
        self.algorithm_options = algorithm_options
        self.threshold = threshold
        self.seed = seed
        self.device = device
        self.num_threads = num_threads
        self.dtype = dtype
        self.memory_budget_mb = memory_budget_mb
        self.callback = callback
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.stop_on_sigint = stop_on_sigint
        self.refine = refine
        self.refine_steps = refine_steps
        self.refine_members = refine_members
        self.refine_lr = refine_lr
        self.refine_batch_size = refine_batch_size
        self.refine_adam = refine_adam
        self.subspace = subspace
        self.subspace_seed = subspace_seed
        self.init = init
        self.init_spread = init_spread
        self.leakage = leakage

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        from networks import baselines

        if self.model != "resnet" and self.model not in baselines.names():
            raise ValueError(f"model must be 'resnet' or one of {baselines.names()}, got {self.model!r}")
        if self.model == "resnet":
            allowed = ["adam", *scpo.algorithm_names()]
            if self.optimizer is not None and self.optimizer not in allowed:
                raise ValueError(f"optimizer must be one of {', '.join(allowed)}, got {self.optimizer!r}")
        elif self.checkpoint is not None:
            raise ValueError(f"model={self.model!r} is a baseline: training checkpoints are for model='resnet'")
        elif self.optimizer not in (None, "adam"):
            raise ValueError(
                f"model={self.model!r} is a baseline trained its own way; use optimizer=None, got {self.optimizer!r}"
            )
        for name in ("top_k_tags", "min_tag_count"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < 1):
                raise ValueError(f"{name} must be an integer >= 1 or None, got {value!r}")
        if self.refine is not None:
            from networks.memetic import REFINERS, check_refinable

            if self.refine not in REFINERS:
                raise ValueError(f"refine must be one of {', '.join(REFINERS)} or None, got {self.refine!r}")
            if self.model != "resnet":
                raise ValueError(f"refine applies to model='resnet' only, got model={self.model!r}")
            check_refinable(self.optimizer or "scpo")
        if self.subspace is not None and (self.model != "resnet" or self.optimizer == "adam"):
            raise ValueError(f"subspace applies to a population optimizer of model='resnet', "
                             f"got model={self.model!r}, optimizer={self.optimizer!r}")
        if self.resample not in _RESAMPLING:
            raise ValueError(f"resample must be one of {', '.join(_RESAMPLING)}, got {self.resample!r}")
        if not (isinstance(self.validation_fraction, (int, float)) and 0 <= self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold)):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.leakage not in LEAKAGE_MODES:
            raise ValueError(f"leakage must be one of {', '.join(LEAKAGE_MODES)}, got {self.leakage!r}")
        for name in ("featurizer_params", "baseline_params", "algorithm_options"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"{name} must be a dict or None, got {value!r}")

    def _device(self) -> torch.device:
        from networks.baselines._base import resolve_device

        return resolve_device(self.device)

    # ------------------------------------------------------------------ fit
    def fit(self, texts: Sequence[str], tags=None, texts_val: Sequence[str] | None = None, tags_val=None):
        """Learn from ``texts`` and their ``tags`` (one list of tags per text; ``None``: the hashtags
        found in the texts). ``texts_val``/``tags_val`` choose the weights kept (early stopping);
        without them ``validation_fraction`` of the training texts is held out, by the models that
        use validation data (a frequency or single-``C`` TF-IDF model trains on all its rows).
        The model learns from the texts with their tags removed (``leakage``), as ``scpo train`` does."""
        self._check_params()
        texts = check_texts(texts)
        if tags is None:
            tags = [extract_hashtags(t) for t in texts]
        tags = _normalize_tags(tags, len(texts))
        if (texts_val is None) != (tags_val is None):
            raise ValueError("texts_val and tags_val must be given together (one of them is None)")
        texts, tags = self._prepared(texts, tags)
        if not texts:
            raise ValueError("every text is empty once its #tags, links and @mentions are removed")
        counts = Counter(t for ts in tags for t in ts)
        if not counts:
            raise ValueError("no tags in the training data: every entry of tags is empty")
        self.classes_ = [t for t, _ in choose_tags(counts, self.top_k_tags, self.min_tag_count)]
        if len(self.classes_) < 2:
            raise ValueError(f"need at least 2 distinct tags to recommend from, got {len(self.classes_)} "
                             f"(#{self.classes_[0]}; top_k_tags={self.top_k_tags}): every text would get the same tag")
        Y = multi_hot(tags, self.classes_)
        keep = Y.any(axis=1)
        texts, Y = [t for t, k in zip(texts, keep, strict=True) if k], Y[keep]
        rng = np.random.default_rng(self.seed)
        baseline = None if self.model == "resnet" else self._baseline()
        if texts_val is not None:
            texts_val = check_texts(texts_val, "texts_val")
            texts_val, tags_val = self._prepared(texts_val, _normalize_tags(tags_val, len(texts_val), "tags_val"))
            Y_val = multi_hot(tags_val, self.classes_)
            keep_val = Y_val.any(axis=1)
            texts_val, Y_val = [t for t, k in zip(texts_val, keep_val, strict=True) if k], Y_val[keep_val]
            if len(texts_val) < 2:
                texts_val, Y_val = None, None
        elif self.validation_fraction > 0 and (baseline is None or baseline.uses_validation()):
            order = rng.permutation(len(texts))
            n_val = int(round(self.validation_fraction * len(texts)))
            if n_val >= 2 and len(texts) - n_val >= 2:
                val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
                texts_val, Y_val = [texts[i] for i in val_idx], Y[val_idx]
                texts, Y = [texts[i] for i in train_idx], Y[train_idx]
            else:
                texts_val, Y_val = None, None
        else:
            Y_val = None
        if len(texts) < 2:
            raise ValueError(f"need at least 2 training texts carrying a kept tag, got {len(texts)}")
        self.n_train_ = len(texts)
        if self.model == "resnet":
            self._fit_resnet(texts, Y, texts_val, Y_val)
        else:
            self.baseline_ = baseline.fit(texts, Y, texts_val, Y_val)
            self.history_ = None
        return self

    def _prepare(self, texts: list[str]) -> list[str]:
        """What the model reads of each text: ``features.prepare_text`` (tags removed), as ``build_dataset``."""
        return [prepare_text(t, self.leakage) for t in texts]

    def _prepared(self, texts: list[str], tags: list[list[str]]) -> tuple[list[str], list[list[str]]]:
        """Prepared texts and their tags, without the texts left empty (``build_dataset`` drops them too)."""
        pairs = [(p, ts) for p, ts in zip(self._prepare(texts), tags, strict=True) if p]
        return [p for p, _ in pairs], [ts for _, ts in pairs]

    def _featurizer(self):
        from features import KeywordSetFeaturizer

        params = {"hashing": self.hashing, "random_state": int(self.seed), **(self.featurizer_params or {})}
        try:
            return KeywordSetFeaturizer(**params)
        except TypeError as exc:
            raise ValueError(f"bad featurizer_params {self.featurizer_params!r}: {exc}") from None

    def _features(self, texts: list[str]) -> np.ndarray:
        X = self.featurizer_.transform(texts)
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        return ((X - self.feature_mean_) / self.feature_scale_).astype(np.float32)

    def _fit_resnet(self, texts, Y, texts_val, Y_val) -> None:
        from networks.resnet import DeepResNet
        from networks.training import train_adam, train_population

        self.featurizer_ = self._featurizer().fit(texts, Y)
        X = self.featurizer_.transform(texts)
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=float)
        self.feature_mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.feature_scale_ = np.where(scale > 1e-12, scale, 1.0)
        X = ((X - self.feature_mean_) / self.feature_scale_).astype(np.float32)
        X_val = None if texts_val is None else self._features(texts_val)
        device = self._device()
        self.network_ = DeepResNet(X.shape[1], len(self.classes_), width=self.width, depth=self.depth,
                                   kernel_size=self.kernel_size, multilabel=self.multilabel, seed=self.seed).to(device)
        optimizer = self.optimizer or "scpo"
        run = {"checkpoint": self.checkpoint, "checkpoint_every": self.checkpoint_every, "resume": self.resume,
               "stop_on_sigint": self.stop_on_sigint, "callback": self.callback}
        if optimizer == "adam":
            self.history_ = train_adam(
                self.network_, X, Y, epochs=self.epochs, lr=self.lr, batch_size=self.adam_batch_size,
                X_val=X_val, Y_val=Y_val, patience=20 if self.patience is None else self.patience,
                seed=self.seed, loss=self.loss, num_threads=self.num_threads, **run,
            )
        else:
            self.history_ = train_population(
                self.network_, X, Y, algorithm=optimizer, max_evals=self.max_evals, pop_size=self.pop_size,
                bounds=self.bounds, batch_size=self.batch_size, resample=self.resample, loss=self.loss,
                X_val=X_val, Y_val=Y_val, patience=self.patience, seed=self.seed, num_threads=self.num_threads,
                dtype=self.dtype, memory_budget_mb=self.memory_budget_mb, refine=self.refine,
                refine_steps=self.refine_steps, refine_members=self.refine_members, refine_lr=self.refine_lr,
                refine_batch_size=self.refine_batch_size, refine_adam=self.refine_adam, subspace=self.subspace,
                subspace_seed=self.subspace_seed,
                init=self.init, init_spread=self.init_spread,
                **run, **(self.algorithm_options or {}),
            )
        self.network_.eval()

    def _baseline(self):
        """The unfitted baseline ``model`` names, with the estimator's seed and device unless given."""
        from networks import baselines

        params = dict(self.baseline_params or {})
        estimator = baselines.get(self.model, **params)
        if "seed" in estimator.get_params() and "seed" not in params:
            estimator.set_params(seed=int(self.seed))
        if "device" in estimator.get_params() and "device" not in params:
            estimator.set_params(device=self.device)
        return estimator

    # ------------------------------------------------------------------ predict
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Scores ``(n, n_tags)`` in ``classes_`` order, in [0, 1], higher = likelier; the texts are read
        with their tags removed (``leakage``), as in ``fit``. What a score is depends on the model:

        - ``resnet``: softmax probabilities, each row sums to 1 (the tags compete for one tweet);
          with ``multilabel=True`` an independent sigmoid per tag.
        - ``frequency``: the share of training tweets carrying the tag, the same for every text
          (a floor: it knows nothing of the text).
        - ``tfidf-lr``: one-vs-rest logistic regression (the default strategy): an independent probability
          per tag that the tweet carries it, so a row need not sum to 1 (several tags can be near 1, or
          none); ``strategy="label-powerset"``: the probability of the tag sets containing the tag.
        - ``fasttext``, ``lstm``, ``text-resnet``, ``bert``: an independent sigmoid per tag (trained with
          binary cross-entropy), rows need not sum to 1.
        """
        check_is_fitted(self, "classes_")
        texts = self._prepare(check_texts(texts))
        if not texts:
            return np.zeros((0, len(self.classes_)))
        if self.model != "resnet":
            return np.asarray(self.baseline_.predict_proba(texts), dtype=float)
        import torch

        from networks.resnet import probabilities

        X = torch.as_tensor(self._features(texts), device=next(self.network_.parameters()).device)
        self.network_.eval()
        with torch.no_grad():
            out = [probabilities(self.network_(part), self.multilabel) for part in torch.split(X, 4096)]
        return torch.cat(out).cpu().double().numpy()

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """0/1 matrix ``(n, n_tags)``: the top tag (single-label), or every tag scoring at least
        ``threshold`` and the top tag where none does (``multilabel``)."""
        from networks.metrics import rank_labels

        scores = self.predict_proba(texts)
        out = np.zeros(scores.shape, dtype=int)
        if not len(scores):
            return out
        top = rank_labels(scores, 1)[:, 0]
        out[np.arange(len(scores)), top] = 1
        if self.multilabel:
            out |= (scores >= self.threshold).astype(int)
        return out

    def recommend(self, texts: Sequence[str], k: int = 5, *, min_score: float | None = None,
                  with_scores: bool = False) -> list[list[str]] | list[list[tuple[str, float]]]:
        """The ``k`` best tags of each text, best first (ties by tag frequency rank).

        ``min_score``: tags scoring below it are left out, so a text no tag fits gets an empty list
        (abstention). ``with_scores``: ``(tag, score)`` pairs instead of tags. Scores are
        ``predict_proba``'s, whose meaning depends on the model (see there): compare them within a
        model, and set ``min_score`` per model."""
        from networks.metrics import rank_labels

        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, (int, float, np.number))
                                      or not math.isfinite(min_score)):
            raise ValueError(f"min_score must be a finite number or None, got {min_score!r}")
        scores = self.predict_proba(texts)
        if not len(scores):
            return []
        ranked = rank_labels(scores, min(int(k), len(self.classes_)))
        out = []
        for row, order in zip(scores, ranked, strict=True):
            pairs = [(self.classes_[j], float(row[j])) for j in order if min_score is None or row[j] >= min_score]
            out.append(pairs if with_scores else [tag for tag, _ in pairs])
        return out

    def score(self, texts: Sequence[str], tags=None) -> float:
        """Precision at 1: the share of texts whose top recommended tag is one of their tags.

        ``tags=None`` takes them from the texts, as ``fit`` does (the model reads the texts without
        them); texts that carry no tag are then left out, having nothing to be scored against."""
        texts = check_texts(texts)
        if tags is None:
            tags = [extract_hashtags(t) for t in texts]
            texts, tags = [t for t, ts in zip(texts, tags, strict=True) if ts], [ts for ts in tags if ts]
            if not texts:
                raise ValueError("score(texts, None) takes the tags from the texts, but no text carries a #tag")
        tags = _normalize_tags(tags, len(texts))
        top = self.recommend(texts, 1)
        if not top:
            raise ValueError("score needs at least one text")
        return float(np.mean([row[0] in ts for row, ts in zip(top, tags, strict=True)]))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``weights.safetensors`` and ``config.json`` into ``directory`` (created if needed),
        each atomically; any fitted model (``model="resnet"`` or a baseline) can be saved."""
        from safetensors.numpy import save as st_save

        from scpo.io import atomic_write

        check_is_fitted(self, "classes_")
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "format": FORMAT, "version": FORMAT_VERSION, "kind": self.model,
            "params": {k: json_value(v, k) for k, v in self.get_params(deep=False).items() if k not in RUN_ONLY},
            "classes": list(self.classes_), "n_train": int(self.n_train_),
            "history": None if self.history_ is None else json_value(self.history_.as_dict(), "history"),
        }
        if self.model == "resnet":
            featurizer_state, featurizer_arrays = self.featurizer_.get_state()
            from features.torchutil import module_state

            arrays = module_state(self.network_, "network.")
            arrays["scaler.mean"] = np.asarray(self.feature_mean_, dtype=np.float64)
            arrays["scaler.scale"] = np.asarray(self.feature_scale_, dtype=np.float64)
            arrays.update({f"featurizer.{k}": v for k, v in featurizer_arrays.items()})
            config["network"] = self.network_.config()
            config["featurizer"] = json_value(featurizer_state, "featurizer")
        else:
            baseline_state, baseline_arrays = self.baseline_.get_state()
            arrays = {f"baseline.{k}": v for k, v in baseline_arrays.items()}
            config["baseline"] = baseline_state
        weights = st_save({k: np.array(v, order="C") for k, v in arrays.items()})
        config["sha256"] = _digest(config, weights)
        atomic_write(path / WEIGHTS_FILE, lambda tmp: tmp.write_bytes(weights))
        atomic_write(path / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(config, indent=1) + "\n"))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str], device: str | None = None) -> HashtagRecommender:
        """Rebuild a saved recommender (no pickle: JSON and safetensors only); ``.model`` says which
        kind was read. Anything wrong with the directory is a one-line ValueError."""
        from safetensors import SafetensorError
        from safetensors.numpy import load as st_load

        path = Path(directory)
        config_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
        for p in (config_path, weights_path):
            if not p.is_file():
                raise ValueError(f"{p} not found: not a saved HashtagRecommender directory")
        try:
            config = json.loads(config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{config_path} is not valid JSON: {exc}") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ValueError(f"{config_path} is not a {FORMAT} config")
        if config.get("version") != FORMAT_VERSION:
            found = config.get("version")
            raise ValueError(f"{config_path} has format version {found!r}; this code reads {FORMAT_VERSION}")
        weights = weights_path.read_bytes()
        try:
            arrays = st_load(weights)
        except (SafetensorError, ValueError, OSError) as exc:
            raise ValueError(f"{weights_path} is not a readable safetensors file: {exc}") from None
        if config.get("sha256") != _digest(config, weights):
            raise ValueError(f"{path}: config.json and weights.safetensors do not match their checksum "
                             "(changed or mixed up after saving)")
        try:
            return cls._from_saved(config, arrays, device)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"{config_path}: missing or malformed entry {exc!r}") from None
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        except OSError as exc:
            raise ValueError(f"{path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    @classmethod
    def _from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], device: str | None):
        params = params_from_json(cls, config["params"], "config.json")
        if params.get("baseline_params") and params.get("model") != "resnet":
            from networks import baselines

            baseline = baselines.get_class(params["model"])
            params["baseline_params"] = params_from_json(baseline, params["baseline_params"], "baseline_params")
        if device is not None:
            params["device"] = device
        est = cls(**params)
        est._check_params()
        if config["kind"] != est.model:
            raise ValueError(f"kind {config['kind']!r} does not match model={est.model!r}")
        est.classes_ = list(config["classes"])
        if not est.classes_ or not all(isinstance(t, str) for t in est.classes_):
            raise ValueError("classes must be a non-empty list of tags")
        est.n_train_ = int(config["n_train"])
        history = config.get("history")
        if history is not None:
            from networks.training import TrainHistory

            history = TrainHistory(**history)
        est.history_ = history
        if est.model != "resnet":
            from networks import baselines

            state = {k[len("baseline."):]: v for k, v in arrays.items() if k.startswith("baseline.")}
            if len(state) != len(arrays):
                raise ValueError(f"unexpected array {sorted(set(arrays) - {'baseline.' + k for k in state})[0]!r}")
            est.baseline_ = baselines.get_class(est.model).from_state(config["baseline"], state, device=device)
            if est.baseline_.n_labels_ != len(est.classes_):
                raise ValueError(f"the baseline scores {est.baseline_.n_labels_} tags, not {len(est.classes_)}")
            return est
        import torch

        from features import KeywordSetFeaturizer
        from features.torchutil import load_state
        from networks.resnet import DeepResNet

        featurizer = {k[len("featurizer."):]: v for k, v in arrays.items() if k.startswith("featurizer.")}
        est.featurizer_ = KeywordSetFeaturizer.from_state(config["featurizer"], featurizer)
        n_features = len(est.featurizer_.get_feature_names_out())
        est.feature_mean_ = np.array(arrays["scaler.mean"])
        est.feature_scale_ = np.array(arrays["scaler.scale"])
        if est.feature_mean_.shape != (n_features,) or est.feature_scale_.shape != (n_features,):
            raise ValueError(f"scaler arrays do not have the featurizer's {n_features} features")
        net = dict(config["network"])
        if net["in_features"] != n_features or net["n_classes"] != len(est.classes_):
            raise ValueError(f"the network reads {net['in_features']} features for {net['n_classes']} tags, "
                             f"the featurizer gives {n_features} for {len(est.classes_)}")
        with torch.random.fork_rng(devices=[]):  # initial weights are overwritten; the caller's RNG is left alone
            est.network_ = DeepResNet(net["in_features"], net["n_classes"], channels=net["channels"],
                                      kernel_size=net["kernel_size"], multilabel=net["multilabel"])
        load_state(est.network_, arrays, "network", prefix="network.")
        known = {"scaler.mean", "scaler.scale"} | {k for k in arrays if k.startswith(("network.", "featurizer."))}
        if set(arrays) != known:
            raise ValueError(f"unexpected array {sorted(set(arrays) - known)[0]!r}")
        est.network_.to(est._device()).eval()
        return est
