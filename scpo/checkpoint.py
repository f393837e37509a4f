"""Crash-safe checkpoints of a whole run, loadable without executing anything.

One ``.npz`` file: every array of the algorithm state under ``state.<field>``, plus the
best point, and a JSON member ``meta`` with everything else (algorithm, options, problem,
iteration, history, the generator's exact bit state). Written to a temporary file, fsynced
and renamed, so a kill at any moment leaves either the old or the new checkpoint. Loaded
with ``allow_pickle=False``: a checkpoint can carry data, never code.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from scpo.io import atomic_write

FORMAT = "scpo-checkpoint/1"


def save_checkpoint(optimizer, path: str | Path) -> Path:
    """Write the optimizer's full state to ``path`` atomically."""
    arrays, meta = state_dict(optimizer)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    return atomic_write(path, write)


def load_checkpoint(optimizer, path: str | Path) -> None:
    """Restore ``optimizer`` (built with the same settings) from ``path``; clear errors otherwise."""
    path = Path(path)
    if path.exists() and not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an scpo checkpoint (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable scpo checkpoint (corrupted or truncated: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path} is not an scpo checkpoint (format {found!r})")
    load_state_dict(optimizer, arrays, meta, source=str(path))


def _identity(optimizer) -> dict[str, Any]:
    """What must match for a checkpoint to belong to this run."""
    problem = optimizer.problem
    return {
        "algorithm": optimizer.algorithm.name, "options": getattr(optimizer.algorithm, "options", {}),
        "problem": problem.name, "dim": problem.dim, "lb": problem.lb.tolist(), "ub": problem.ub.tolist(),
        "pop_size": optimizer.pop_size, "max_iter": optimizer.max_iter, "seed": optimizer.seed,
        "backend": optimizer.backend,
    }


def state_dict(optimizer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if optimizer._pending is not None:
        raise ValueError("cannot checkpoint between ask() and tell(): tell the pending fitness first")
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    state = optimizer.state
    state_type = None
    if dataclasses.is_dataclass(state):
        state_type = f"{type(state).__module__}:{type(state).__qualname__}"
        for field in dataclasses.fields(state):
            value = getattr(state, field.name)
            if hasattr(value, "shape"):
                arrays[f"state.{field.name}"] = np.asarray(value.cpu() if hasattr(value, "cpu") else value)
            elif value is None or isinstance(value, str | int | float | bool):
                scalars[field.name] = value
            else:  # e.g. an external library's object: we will not pickle it
                raise ValueError(
                    f"algorithm {optimizer.algorithm.name!r} does not support checkpoints "
                    f"(its state holds a {type(value).__name__})"
                )
    elif state is not None:
        scalars["value"] = state
    if optimizer.ctx.best_x is not None:
        arrays["best_x"] = np.asarray(optimizer.ctx.best_x)
    meta = {
        "format": FORMAT, **_identity(optimizer), "state_type": state_type, "state_scalars": scalars,
        "initialized": state is not None, "nit": optimizer.nit, "nfev": optimizer.nfev,
        "best_f": optimizer.ctx.best_f, "t": optimizer.ctx.t, "history": optimizer.history.as_dict(),
        "rng": optimizer.ctx.rng.bit_generator.state, "nonfinite": optimizer.problem.nonfinite_count,
    }
    return arrays, meta


def load_state_dict(optimizer, arrays: dict[str, np.ndarray], meta: dict[str, Any], source: str = "checkpoint"):
    expected = _identity(optimizer)
    for key, value in expected.items():
        if json.loads(json.dumps(value)) != meta.get(key):
            raise ValueError(f"{source} belongs to another run: {key}={meta.get(key)!r}, this run has {value!r}")
    state = None
    if meta["initialized"]:
        if meta["state_type"] is None:
            state = meta["state_scalars"]["value"]
        else:
            module_name, _, qualname = meta["state_type"].partition(":")
            if not module_name.startswith("scpo."):
                raise ValueError(f"{source} names a state type outside scpo: {meta['state_type']!r}")
            state_cls = getattr(importlib.import_module(module_name), qualname)
            values = {k[len("state."):]: v for k, v in arrays.items() if k.startswith("state.")}
            state = state_cls(**values, **meta["state_scalars"])
    optimizer.state = state
    optimizer.nit, optimizer.nfev = meta["nit"], meta["nfev"]
    optimizer.ctx.best_f = float(meta["best_f"])
    optimizer.ctx.best_x = arrays.get("best_x")
    optimizer.ctx.t = meta["t"]
    optimizer.ctx.rng.bit_generator.state = meta["rng"]
    optimizer.problem.nonfinite_count = meta["nonfinite"]
    history = meta["history"]
    optimizer.history.best, optimizer.history.nfev, optimizer.history.time = (
        list(history["best"]), list(history["nfev"]), list(history["time"]))
    optimizer.resume_elapsed(history["time"][-1] if history["time"] else 0.0)
