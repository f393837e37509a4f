"""What every baseline shares: input validation, the IDF loss weights, device resolution, and the
saved state (``get_state`` / ``from_state``: a JSON-able dict plus numpy arrays, nothing pickled)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


def check_positive_int(name: str, value) -> int:
    """``value`` as an int, or a ValueError naming it when it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_texts(texts, name: str = "texts") -> list[str]:
    """A list of strings; a bare string is refused (it would be read as one text per character)."""
    if isinstance(texts, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of strings, got a single string {texts[:40]!r}")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"{name}[{i}] must be a str, got {type(t).__name__} {t!r}")
    return texts


def check_labels(Y, n_rows: int, name: str = "Y", n_labels: int | None = None) -> np.ndarray:
    """A dense (n_rows, L) float32 0/1 matrix."""
    if hasattr(Y, "toarray"):
        Y = Y.toarray()
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_texts, n_labels), got shape {Y.shape}")
    if Y.shape[0] != n_rows:
        raise ValueError(f"{name} has {Y.shape[0]} rows but there are {n_rows} texts")
    if Y.shape[1] == 0:
        raise ValueError(f"{name} must have at least one label column, got shape {Y.shape}")
    if n_labels is not None and Y.shape[1] != n_labels:
        raise ValueError(f"{name} has {Y.shape[1]} label columns, expected {n_labels}")
    if Y.dtype != bool:
        bad = (Y != 0) & (Y != 1)
        if bad.any():
            raise ValueError(f"{name} must be binary (0/1), found value {Y[bad].flat[0]!r}")
    return Y.astype(np.float32)


def check_fit_inputs(texts, Y, texts_val, Y_val, min_texts: int = 1):
    """Validate the common ``fit(texts, Y, texts_val=None, Y_val=None)`` arguments."""
    texts = check_texts(texts)
    if len(texts) < min_texts:
        raise ValueError(f"need at least {min_texts} training texts, got {len(texts)}")
    Y = check_labels(Y, len(texts))
    if (texts_val is None) != (Y_val is None):
        raise ValueError("texts_val and Y_val must be given together (one of them is None)")
    if texts_val is not None:
        texts_val = check_texts(texts_val, "texts_val")
        if not texts_val:
            raise ValueError("texts_val is empty; pass None to train without validation")
        Y_val = check_labels(Y_val, len(texts_val), "Y_val", n_labels=Y.shape[1])
    return texts, Y, texts_val, Y_val


def idf_bce_weights(Y) -> np.ndarray:
    """The TagFinder study's per-tag BCE weights, ``log(total / count_j)`` scaled to a maximum of 1.

    ``count_j`` is how many training tweets carry tag ``j`` and ``total`` the sum of all counts, so
    rare tags weigh more. Pass the training labels only. A tag absent from training is counted as
    1; if every weight is 0 (a single tag) all weights are 1.
    """
    Y = check_labels(Y, len(Y))
    counts = Y.sum(axis=0).astype(float)
    total = counts.sum()
    if total == 0:
        return np.ones(Y.shape[1])
    idf = np.log(total / np.maximum(counts, 1.0))
    top = idf.max()
    return idf / top if top > 0 else np.ones(Y.shape[1])


def resolve_device(device: str):
    """A ``torch.device``; ``"cuda"`` is refused with a clear message when CUDA is not available."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu' or 'cuda[:i]', got {device!r}") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but torch.cuda.is_available() is False")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda[:i]', got {device!r}")
    return dev


def json_value(value, where: str):
    """JSON-safe copy of a parameter value (tuples become lists); anything else is refused."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"cannot save {where}={value!r}: only JSON values (numbers, strings, lists, dicts) are saved")


def params_from_json(cls: type, params, where: str) -> dict:
    """Saved ``__init__`` arguments of ``cls``: lists become tuples where the default is a tuple;
    a name ``cls`` does not take is a ValueError."""
    if not isinstance(params, dict):
        raise ValueError(f"{where}: params must be a dict, got {params!r}")
    signature = inspect.signature(cls.__init__).parameters
    out = {}
    for key, value in params.items():
        if key not in signature or key == "self":
            raise ValueError(f"{where}: {cls.__name__} takes no parameter {key!r}")
        default = signature[key].default
        out[key] = tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
    return out


def saved_array(arrays: Mapping[str, np.ndarray], name: str, shape: tuple, where: str, kind: str = "f") -> np.ndarray:
    """``arrays[name]`` (copied) if it has ``shape`` (``None``: any length) and a dtype of ``kind``."""
    value = arrays.get(name)
    if value is None:
        raise ValueError(f"{where}: array {name!r} is missing")
    ok = value.ndim == len(shape) and all(w is None or w == g for w, g in zip(shape, value.shape, strict=False))
    if not ok or value.dtype.kind not in kind:
        raise ValueError(f"{where}: array {name!r} is {value.dtype} {value.shape}, expected {kind!r} {shape}")
    return np.array(value)


class BaseTagger(BaseEstimator):
    """Shared surface: ``fit(texts, Y, texts_val=None, Y_val=None)`` and ``predict_proba(texts)``.

    Subclasses implement ``_fit`` and ``_predict``; scores are ``(n, L)`` floats, higher = likelier.
    """

    def fit(self, texts: Sequence[str], Y, texts_val: Sequence[str] | None = None, Y_val=None):
        texts, Y, texts_val, Y_val = check_fit_inputs(texts, Y, texts_val, Y_val, self._min_texts)
        self.n_labels_ = Y.shape[1]
        self._fit(texts, Y, texts_val, Y_val)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        check_is_fitted(self, "n_labels_")
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.n_labels_))
        return np.asarray(self._predict(texts), dtype=float)

    def predict(self, texts: Sequence[str], k: int = 1) -> np.ndarray:
        """Multi-hot ``(n, L)`` prediction of the ``k`` top-scoring tags per text (ties by lower index)."""
        from ..metrics import rank_labels

        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ValueError(f"k must be an integer >= 1, got k={k!r}")
        scores = self.predict_proba(texts)
        out = np.zeros(scores.shape, dtype=int)
        np.put_along_axis(out, rank_labels(scores, min(int(k), self.n_labels_)), 1, axis=1)
        return out

    _min_texts = 1

    def uses_validation(self) -> bool:
        """Whether ``fit`` does anything with validation data (early stopping, a grid); a caller that
        would hold rows out for it (``HashtagRecommender.validation_fraction``) trains on all of them otherwise."""
        return True

    # state ---------------------------------------------------------------------------------------
    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The fitted model as ``(state, arrays)``: a JSON-able dict (class, ``__init__`` parameters,
        fitted settings, vocabularies) and numpy arrays (weights); :meth:`from_state` rebuilds it."""
        check_is_fitted(self, "n_labels_")
        params = {k: json_value(v, f"{type(self).__name__}.{k}") for k, v in self.get_params(deep=False).items()}
        config, arrays = self._get_state()
        return {"class": type(self).__name__, "params": params, "n_labels": int(self.n_labels_), **config}, arrays

    @classmethod
    def from_state(cls, state: dict, arrays: Mapping[str, np.ndarray], device: str | None = None) -> BaseTagger:
        """Rebuild a model saved by :meth:`get_state` (``device`` overrides the saved one, if the model
        has one); a state that does not fit the class is a one-line ValueError."""
        where = f"{cls.__name__} state"
        if not isinstance(state, dict) or state.get("class") != cls.__name__:
            found = state.get("class") if isinstance(state, dict) else state
            raise ValueError(f"{where}: class {found!r} is not {cls.__name__}")
        params = params_from_json(cls, state.get("params"), where)
        if device is not None and "device" in params:
            params["device"] = device
        model = cls(**params)
        n_labels = state.get("n_labels")
        if isinstance(n_labels, bool) or not isinstance(n_labels, int) or n_labels < 1:
            raise ValueError(f"{where}: n_labels must be an integer >= 1, got {n_labels!r}")
        model.n_labels_ = n_labels
        try:
            model._set_state(state, arrays, where)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"{where}: missing or malformed entry {exc}") from None
        saved = {k: (v.shape, v.dtype) for k, v in arrays.items()}
        rebuilt = {k: (v.shape, v.dtype) for k, v in model._get_state()[1].items()}
        if saved != rebuilt:
            odd = sorted(set(saved) ^ set(rebuilt)) or sorted(k for k in saved if saved[k] != rebuilt[k])
            raise ValueError(f"{where}: array {odd[0]!r} does not fit the model")
        return model

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_state(self, state: dict, arrays: Mapping[str, np.ndarray], where: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def _fit(self, texts, Y, texts_val, Y_val):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, texts):  # pragma: no cover - abstract
        raise NotImplementedError
