"""The SC-Political ResNet hashtag recommender as one scikit-learn estimator.

``HashtagRecommender().fit(texts, tags)`` keeps the ``top_k_tags`` most frequent training tags,
computes the keyword-set features (``features.KeywordSetFeaturizer``, fitted on the training texts
only), standardizes them (mean and scale of the training rows), and trains a
:class:`networks.DeepResNet` on them with a population optimizer (``optimizer="scpo"``, or any
``scpo`` algorithm) or with Adam (``optimizer="adam"``). ``model=`` may instead name one of the
gradient-trained baselines of :mod:`networks.baselines`, which read the raw texts.

``save(dir)`` writes ``weights.safetensors`` (network, scaler, the featurizer's fitted arrays and its
LSTM) and ``config.json`` (settings, tags, vocabulary, scalars), each through a temporary file and
``os.replace``; ``HashtagRecommender.load(dir)`` rebuilds the estimator without unpickling anything.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

import scpo
from networks.baselines._base import check_texts
from networks.resnet import DeepResNet, probabilities
from networks.training import RESAMPLING, TrainHistory, train_adam, train_population

__all__ = ["HashtagRecommender"]

FORMAT = "scpo.HashtagRecommender"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE = "config.json", "weights.safetensors"


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


def _multi_hot(tag_lists: list[list[str]], classes: list[str]) -> np.ndarray:
    column = {tag: j for j, tag in enumerate(classes)}
    Y = np.zeros((len(tag_lists), len(classes)), dtype=np.float32)
    for i, tags in enumerate(tag_lists):
        Y[i, [column[t] for t in tags if t in column]] = 1.0
    return Y


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _json_value(value, where: str):
    """JSON-safe copy of a parameter value (tuples become lists); anything else is refused."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"cannot save {where}={value!r}: only JSON values (numbers, strings, lists, dicts) are saved")


# --------------------------------------------------------------------------- featurizer state

_FEATURIZER_MODULE_ATTR = "lstm_"


def _featurizer_state(featurizer) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The featurizer's settings and fitted attributes as JSON plus tensors (read from its public
    fitted attributes: every attribute ending in ``_``)."""
    config: dict[str, Any] = {"class": type(featurizer).__name__, "params": {}, "scalars": {}, "arrays": []}
    for key, value in featurizer.get_params(deep=False).items():
        if isinstance(value, np.random.Generator):
            value = None  # only used while fitting
        config["params"][key] = _json_value(value, f"featurizer.{key}")
    tensors: dict[str, torch.Tensor] = {}
    for key, value in sorted(vars(featurizer).items()):
        if not key.endswith("_") or key.startswith("_"):
            continue
        if key == "vocabulary_":
            words = sorted(value, key=value.get)
            if [value[w] for w in words] != list(range(len(words))):
                raise ValueError("featurizer.vocabulary_ ids are not 0..V-1; cannot save it as a word list")
            config["vocabulary"] = words
        elif isinstance(value, np.ndarray):
            if value.dtype.kind not in "fiub":
                raise ValueError(f"cannot save featurizer.{key}: array of dtype {value.dtype}")
            tensors[f"featurizer.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
            config["arrays"].append(key)
        elif isinstance(value, torch.nn.Module):
            if key != _FEATURIZER_MODULE_ATTR:
                raise ValueError(f"cannot save featurizer.{key}: unexpected module {type(value).__name__}")
            for name, t in value.state_dict().items():
                tensors[f"featurizer.{key}.{name}"] = t.detach().cpu().contiguous()
            config["module"] = {"attr": key, "class": type(value).__name__}
        elif value is None and key == _FEATURIZER_MODULE_ATTR:
            config["module"] = None
        elif key.endswith("words_") and isinstance(value, list):
            continue  # derived from the vocabulary and the scores, rebuilt on load
        else:
            config["scalars"][key] = _json_value(value, f"featurizer.{key}")
    return config, tensors


def _featurizer_from_state(config: dict[str, Any], tensors: dict[str, torch.Tensor]):
    from features import KeywordSetFeaturizer
    from features import keywords as kw

    if config.get("class") != KeywordSetFeaturizer.__name__:
        raise ValueError(f"saved featurizer class {config.get('class')!r} is not {KeywordSetFeaturizer.__name__}")
    params = dict(config["params"])
    if params.get("random_state") is None:
        params["random_state"] = 0
    featurizer = KeywordSetFeaturizer(**params)
    words = config["vocabulary"]
    featurizer.vocabulary_ = {w: i for i, w in enumerate(words)}
    for key in config["arrays"]:
        setattr(featurizer, key, tensors[f"featurizer.{key}"].numpy())
    for key, value in config["scalars"].items():
        setattr(featurizer, key, value)
    for key, scores in (("thematic_words_", "thematic_score_"), ("relevant_words_", "relevance_score_")):
        if hasattr(featurizer, scores):
            setattr(featurizer, key, [words[i] for i in np.flatnonzero(getattr(featurizer, scores))])
    module_info = config.get("module")
    if module_info is None:
        featurizer.lstm_ = None
    else:
        prefix = f"featurizer.{module_info['attr']}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        n_outputs = state["readout.weight"].shape[0]
        lstm = kw._HashingLSTM(featurizer.hidden_size, featurizer.num_layers, n_outputs)
        lstm.load_state_dict(state)
        lstm.eval()
        setattr(featurizer, module_info["attr"], lstm)
    return featurizer


# --------------------------------------------------------------------------- the estimator


class HashtagRecommender(BaseEstimator):
    """Hashtag recommendation from tweet texts: keyword-set features + DeepResNet, or a baseline.

    Parameters
    ----------
    model : ``"resnet"`` (DeepResNet on the keyword-set features) or a baseline name from
        ``networks.baselines.names()`` (reads raw texts; ``baseline_params`` go to it).
    optimizer : ``"adam"`` or any ``scpo.algorithm_names()`` entry for the ResNet (``None``: ``"scpo"``).
        Baselines train their own way; for them leave ``None`` (or ``"adam"`` for the torch ones).
    top_k_tags : the tags kept, most frequent on the training texts (ties alphabetical); training
        texts with none of them are dropped.
    multilabel : sigmoid outputs and multi-hot targets; otherwise softmax over the tags (a text with
        several kept tags wants equal mass on each).
    loss : ``"mse"`` (the paper's fitness), ``"ce"`` or ``"bce"`` (see ``networks.population``).
    max_evals, pop_size, bounds, batch_size, resample, algorithm_options : population training
        (``networks.training.train_population``).
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
    seed : one integer from which the split, network initialization, featurizer, and optimizer are seeded.
    device : torch device for the network (``"cpu"``, ``"cuda"``).
    num_threads : torch threads while training (``None``: unchanged); 1 is fastest for the small
        default network on a busy machine.
    dtype, memory_budget_mb : the population fitness pass (``networks.population.batched_loss``):
        ``"float32"`` or ``"float64"``, and the memory its activations may take.
    callback : ``callback(history)`` after every population iteration (progress); True stops. Not saved.
    """

    def __init__(self, model: str = "resnet", optimizer: str | None = None, top_k_tags: int = 10,
                 multilabel: bool = False, loss: str = "mse", max_evals: int = 30_000, pop_size: int | None = 64,
                 bounds=(-1.0, 1.0), batch_size: int | None = None, resample: str = "fixed",
                 epochs: int = 200, lr: float = 1e-2, adam_batch_size: int = 64, patience: int | None = None,
                 validation_fraction: float = 0.1, width: int = 8, depth: int = 2, kernel_size: int = 3,
                 hashing: bool = True, featurizer_params: dict | None = None, baseline_params: dict | None = None,
                 algorithm_options: dict | None = None, threshold: float = 0.5, seed: int = 0, device: str = "cpu",
                 num_threads: int | None = None, dtype: str = "float32", memory_budget_mb: float = 256.0,
                 callback=None):
        self.model = model
        self.optimizer = optimizer
        self.top_k_tags = top_k_tags
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

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        from networks import baselines

        if self.model != "resnet" and self.model not in baselines.names():
            raise ValueError(f"model must be 'resnet' or one of {baselines.names()}, got {self.model!r}")
        if self.model == "resnet":
            allowed = ["adam", *scpo.algorithm_names()]
            if self.optimizer is not None and self.optimizer not in allowed:
                raise ValueError(f"optimizer must be one of {', '.join(allowed)}, got {self.optimizer!r}")
        elif self.optimizer not in (None, "adam"):
            raise ValueError(
                f"model={self.model!r} is a baseline trained its own way; use optimizer=None, got {self.optimizer!r}"
            )
        if isinstance(self.top_k_tags, bool) or not isinstance(self.top_k_tags, (int, np.integer)) \
                or self.top_k_tags < 1:
            raise ValueError(f"top_k_tags must be an integer >= 1, got {self.top_k_tags!r}")
        if self.resample not in RESAMPLING:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, got {self.resample!r}")
        if not (isinstance(self.validation_fraction, (int, float)) and 0 <= self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold)):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
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
        without them ``validation_fraction`` of the training texts is held out."""
        self._check_params()
        texts = check_texts(texts)
        if tags is None:
            from features import extract_hashtags

            tags = [extract_hashtags(t) for t in texts]
        tags = _normalize_tags(tags, len(texts))
        if (texts_val is None) != (tags_val is None):
            raise ValueError("texts_val and tags_val must be given together (one of them is None)")
        counts = Counter(t for ts in tags for t in ts)
        if not counts:
            raise ValueError("no tags in the training data: every entry of tags is empty")
        self.classes_ = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.top_k_tags]]
        Y = _multi_hot(tags, self.classes_)
        keep = Y.any(axis=1)
        texts, Y = [t for t, k in zip(texts, keep, strict=True) if k], Y[keep]
        rng = np.random.default_rng(self.seed)
        if texts_val is not None:
            texts_val = check_texts(texts_val, "texts_val")
            Y_val = _multi_hot(_normalize_tags(tags_val, len(texts_val), "tags_val"), self.classes_)
            keep_val = Y_val.any(axis=1)
            texts_val, Y_val = [t for t, k in zip(texts_val, keep_val, strict=True) if k], Y_val[keep_val]
            if len(texts_val) < 2:
                texts_val, Y_val = None, None
        elif self.validation_fraction > 0:
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
            self._fit_baseline(texts, Y, texts_val, Y_val)
        return self

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
        if optimizer == "adam":
            self.history_ = train_adam(
                self.network_, X, Y, epochs=self.epochs, lr=self.lr, batch_size=self.adam_batch_size,
                X_val=X_val, Y_val=Y_val, patience=20 if self.patience is None else self.patience,
                seed=self.seed, loss=self.loss, num_threads=self.num_threads,
            )
        else:
            self.history_ = train_population(
                self.network_, X, Y, algorithm=optimizer, max_evals=self.max_evals, pop_size=self.pop_size,
                bounds=self.bounds, batch_size=self.batch_size, resample=self.resample, loss=self.loss,
                X_val=X_val, Y_val=Y_val, patience=self.patience, seed=self.seed, num_threads=self.num_threads,
                dtype=self.dtype, memory_budget_mb=self.memory_budget_mb, callback=self.callback,
                **(self.algorithm_options or {}),
            )
        self.network_.eval()

    def _fit_baseline(self, texts, Y, texts_val, Y_val) -> None:
        from networks import baselines

        params = dict(self.baseline_params or {})
        estimator = baselines.get(self.model, **params)
        if "seed" in estimator.get_params() and "seed" not in params:
            estimator.set_params(seed=int(self.seed))
        if "device" in estimator.get_params() and "device" not in params:
            estimator.set_params(device=self.device)
        self.baseline_ = estimator.fit(texts, Y, texts_val, Y_val)
        self.history_ = None

    # ------------------------------------------------------------------ predict
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Scores ``(n, n_tags)`` in ``classes_`` order: probabilities for the ResNet (rows sum to
        1 unless ``multilabel``), the baseline's scores otherwise."""
        check_is_fitted(self, "classes_")
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        if self.model != "resnet":
            return np.asarray(self.baseline_.predict_proba(texts), dtype=float)
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

    def recommend(self, texts: Sequence[str], k: int = 5) -> list[list[str]]:
        """The ``k`` best tags of each text, best first (ties by tag frequency rank)."""
        from networks.metrics import rank_labels

        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        scores = self.predict_proba(texts)
        if not len(scores):
            return []
        ranked = rank_labels(scores, min(int(k), len(self.classes_)))
        return [[self.classes_[j] for j in row] for row in ranked]

    def score(self, texts: Sequence[str], tags) -> float:
        """Precision at 1: the share of texts whose top recommended tag is one of their tags."""
        texts = check_texts(texts)
        tags = _normalize_tags(tags, len(texts))
        top = self.recommend(texts, 1)
        if not top:
            raise ValueError("score needs at least one text")
        return float(np.mean([row[0] in ts for row, ts in zip(top, tags, strict=True)]))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``weights.safetensors`` and ``config.json`` into ``directory`` (created if needed),
        each atomically. Only ``model="resnet"`` can be saved."""
        from safetensors.torch import save as st_save

        check_is_fitted(self, "classes_")
        if self.model != "resnet":
            raise ValueError(f"save supports model='resnet' only, not the baseline {self.model!r}")
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {f"network.{k}": v.detach().cpu().contiguous() for k, v in self.network_.state_dict().items()}
        tensors["scaler.mean"] = torch.from_numpy(np.asarray(self.feature_mean_, dtype=np.float64))
        tensors["scaler.scale"] = torch.from_numpy(np.asarray(self.feature_scale_, dtype=np.float64))
        featurizer_config, featurizer_tensors = _featurizer_state(self.featurizer_)
        tensors.update(featurizer_tensors)
        config = {
            "format": FORMAT, "version": FORMAT_VERSION,
            "params": {k: _json_value(v, k) for k, v in self.get_params(deep=False).items() if k != "callback"},
            "classes": list(self.classes_), "n_train": int(self.n_train_),
            "network": self.network_.config(), "featurizer": featurizer_config,
            "history": None if self.history_ is None else _json_value(self.history_.as_dict(), "history"),
        }
        _atomic_write(path / WEIGHTS_FILE, st_save(tensors))
        _atomic_write(path / CONFIG_FILE, (json.dumps(config, indent=1) + "\n").encode())
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str], device: str | None = None) -> HashtagRecommender:
        """Rebuild a saved recommender (no pickle: JSON and safetensors only)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

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
        try:
            tensors = load_file(str(weights_path))
        except (SafetensorError, OSError) as exc:
            raise ValueError(f"{weights_path} is not a readable safetensors file: {exc}") from None
        params = dict(config["params"])
        if isinstance(params.get("bounds"), list):
            params["bounds"] = tuple(params["bounds"])
        if device is not None:
            params["device"] = device
        est = cls(**params)
        est.classes_ = list(config["classes"])
        est.n_train_ = config["n_train"]
        est.featurizer_ = _featurizer_from_state(config["featurizer"], tensors)
        est.feature_mean_ = tensors["scaler.mean"].numpy()
        est.feature_scale_ = tensors["scaler.scale"].numpy()
        net = dict(config["network"])
        est.network_ = DeepResNet(net["in_features"], net["n_classes"], channels=net["channels"],
                                  kernel_size=net["kernel_size"], multilabel=net["multilabel"])
        state = {k[len("network."):]: v for k, v in tensors.items() if k.startswith("network.")}
        try:
            est.network_.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{weights_path} does not match the saved network: {exc}") from None
        est.network_.to(est._device()).eval()
        history = config.get("history")
        est.history_ = None if history is None else TrainHistory(**history)
        return est
