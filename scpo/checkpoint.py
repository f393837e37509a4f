"""Crash-safe checkpoints of a whole run, loadable without executing anything.

Two files. ``path`` (``.npz``): every array of the algorithm state under ``state.<field>``,
the best point, and a JSON member ``meta`` with everything else (algorithm, options, the
problem's fingerprint, iteration, counters, the generator's exact bit state, how many
history rows belong to it, the stopping rules' counters). Written to a temporary file, fsynced and renamed, so a kill at
any moment leaves either the old or the new checkpoint. ``path.history``: the history, one
fixed-size binary row per iteration (best, nfev, seconds, constraint violation: four float64; format 2
files have the first three), only appended to
(fsynced before the ``.npz`` is replaced), so a save costs O(state + new rows), not
O(history). Rows past the count in ``meta`` (a kill between the two writes) are cut on
resume. Loaded with ``allow_pickle=False``: a checkpoint can carry data, never code.

``extra`` (an observer's own state, e.g. a network trainer's: arrays and a JSON-able dict)
is stored in the same ``.npz`` under ``extra.<name>`` and ``meta["extra"]``, so it is saved
at exactly the same moments as the run it belongs to; :func:`read_extra` reads it back.

A checkpoint belongs to one run: algorithm and options, the problem's fingerprint (name,
dim, bounds, shift and rotation seeds, integral coordinates, number of constraints), population, iterations,
evaluation budget, seed, backend, dtype, draws, ``x0`` and ``sigma0`` must all match, or loading is refused
with a ``ValueError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from scpo.io import atomic_write

FORMAT = "scpo-checkpoint/3"
ROW = np.dtype([("best", "<f8"), ("nfev", "<f8"), ("time", "<f8"), ("violation", "<f8")])
ROWS = {"scpo-checkpoint/2": np.dtype([("best", "<f8"), ("nfev", "<f8"), ("time", "<f8")]), FORMAT: ROW}


def history_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".history")


def save_checkpoint(optimizer, path: str | Path, history_rows: int | None = None,
                    extra: tuple[dict[str, Any], dict[str, Any]] | None = None) -> int:
    """Write the optimizer's full state to ``path`` atomically; returns the history rows now saved.

    ``history_rows``: rows the sidecar already holds for this run (appends the rest);
    ``None`` rewrites the sidecar whole. ``extra``: ``(arrays, meta)`` of an observer, saved
    in the same file (see :func:`read_extra`).
    """
    arrays, meta = state_dict(optimizer)
    if extra is not None:
        extra_arrays, meta["extra"] = extra
        arrays.update({f"extra.{k}": np.asarray(v) for k, v in extra_arrays.items()})
    rows = len(optimizer.history)
    _write_history(optimizer.history, history_path(path), history_rows)
    meta["history_rows"] = rows
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            named: dict[str, Any] = arrays  # names of our choosing: none is savez's own allow_pickle
            np.savez(handle, **named)

    atomic_write(path, write)
    return rows


def _write_history(history, path: Path, saved: int | None) -> None:
    def rows(start: int) -> bytes:
        table = np.empty(len(history) - start, ROW)
        table["best"] = [float(b) for b in history.best[start:]]
        table["nfev"], table["time"] = history.nfev[start:], history.time[start:]
        table["violation"] = [float(v) for v in history.violation[start:]] if history.violation else np.nan
        return table.tobytes()

    if saved is None or not path.exists():
        atomic_write(path, lambda tmp: tmp.write_bytes(rows(0)))
        return
    with open(path, "r+b") as handle:
        handle.truncate(saved * ROW.itemsize)  # rows written after the last checkpoint was renamed
        handle.seek(0, os.SEEK_END)
        handle.write(rows(saved))
        handle.flush()
        os.fsync(handle.fileno())


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
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
    if not isinstance(meta, dict) or meta.get("format") not in ROWS:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path} is not an scpo checkpoint of this version (format {found!r}, expected {FORMAT!r})")
    return arrays, meta


def read_extra(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """The ``extra`` arrays and meta saved with the checkpoint at ``path`` (``({}, None)`` if none)."""
    arrays, meta = _read(Path(path))
    return {k[len("extra."):]: v for k, v in arrays.items() if k.startswith("extra.")}, meta.get("extra")


def load_checkpoint(optimizer, path: str | Path) -> int:
    """Restore ``optimizer`` (built with the same settings) from ``path``; clear errors otherwise.

    Returns the number of history rows restored (the sidecar is cut to them)."""
    path = Path(path)
    arrays, meta = _read(path)
    arrays = {k: v for k, v in arrays.items() if not k.startswith("extra.")}
    history = _read_history(history_path(path), int(meta["history_rows"]), ROWS[meta["format"]])
    load_state_dict(optimizer, arrays, meta, source=str(path))
    optimizer.history.best = history["best"].tolist()
    optimizer.history.nfev = history["nfev"].astype(int).tolist()
    optimizer.history.time = history["time"].tolist()
    if optimizer.problem.constraints is not None and "violation" in (history.dtype.names or ()):
        optimizer.history.violation = history["violation"].tolist()
    optimizer.resume_elapsed(optimizer.history.time[-1] if optimizer.history.time else 0.0)
    return int(meta["history_rows"])


BEST_RTOL = 1e-9  # re-evaluating the saved best point: relative tolerance (the same code gives the same bits)


def check_best(optimizer, source: str | Path = "checkpoint") -> float:
    """Re-evaluate the restored best point with the run's own evaluator (compiled F1-F13 for numba)
    and count the evaluation in ``nfev``; a ``ValueError`` naming both values if it no longer gives
    the saved best fitness within :data:`BEST_RTOL` (the objective changed since the checkpoint: the
    resumed run would report a stale best). Returns the value found (the saved one if there is no point).
    A benchmark that adds noise from its own generator (F7) is not re-evaluated: its value at a point is
    not reproducible, and a draw would shift its noise stream."""
    run, impl = optimizer.run_state, optimizer.impl
    saved = float(optimizer.best_objective)
    if run.best_x is None or getattr(optimizer.problem.objective, "noise", None) is not None:
        return saved
    evaluate = optimizer.evaluator()
    try:
        fitness = evaluate(impl.given_population(np.asarray(impl.to_numpy(run.best_x))[None, :]))
        if not evaluate.checked:
            fitness = impl.check_fitness(run, optimizer.problem, fitness, 1)
    except BaseException:
        optimizer.problem.close()
        raise
    run.nfev += 1
    found = impl.to_float(fitness[0])
    if found == saved or (np.isfinite(saved) and abs(found - saved) <= BEST_RTOL * abs(saved)):
        return found
    optimizer.problem.close()
    raise ValueError(f"{source}: the objective changed since the checkpoint (or is not deterministic): its best "
                     f"point now evaluates to {found!r}, the checkpoint saved {saved!r} (relative tolerance "
                     f"{BEST_RTOL:g}); restore the objective or start a new run with another checkpoint path")


def _read_history(path: Path, rows: int, row: np.dtype = ROW) -> np.ndarray:
    size = rows * row.itemsize
    if not path.exists() or path.stat().st_size < size:
        found = path.stat().st_size // row.itemsize if path.exists() else "no file"
        raise ValueError(f"{path} (the checkpoint's history) is missing or truncated: {rows} rows expected, "
                         f"found {found}")
    with open(path, "rb") as handle:
        return np.frombuffer(handle.read(size), dtype=row)


def fingerprint(optimizer) -> dict[str, Any]:
    """What must match for a checkpoint to belong to this run."""
    problem = optimizer.problem
    objective = problem.objective
    return {
        "algorithm": optimizer.algorithm.name, "options": getattr(optimizer.algorithm, "options", {}),
        "problem": problem.name, "dim": problem.dim, "lb": problem.lb.tolist(), "ub": problem.ub.tolist(),
        "shift_seed": getattr(objective, "shift_seed", None),
        "rotation_seed": getattr(objective, "rotation_seed", None),
        "pop_size": optimizer.pop_size, "max_iter": optimizer.max_iter, "max_evals": optimizer.max_evals,
        "seed": optimizer.seed, "restarts": getattr(optimizer, "restart_strategy", None),
        "backend": optimizer.backend, "dtype": optimizer.dtype, "draws": optimizer.impl.draws,
        "device": optimizer.device if optimizer.backend == "torch" else None,
        "integrality": None if problem.integrality is None else np.flatnonzero(problem.integrality).tolist(),
        "constraints": None if problem.constraints is None else len(problem.constraints.parts),
        **{key: None if getattr(optimizer, key, None) is None else getattr(optimizer, key).tolist()
           for key in ("x0", "sigma0")},
    }


def state_dict(optimizer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    run = optimizer.run_state
    if run.pending is not None:
        raise ValueError("cannot checkpoint between ask() and tell(): tell the pending fitness first")
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    state = run.algorithm_state
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
    impl = optimizer.impl
    if run.best_x is not None:
        arrays["best_x"] = np.asarray(impl.to_numpy(run.best_x))
    if run.feasibility is not None and run.feasibility.best_x is not None:  # [f, violation] of the best
        arrays["feasibility_best"] = np.asarray(impl.to_numpy(run.feasibility.best_x))
    arrays.update(impl.generator_state(optimizer._settings))  # torch's own generator
    counters = dataclasses.asdict(run.counters)
    counters["nonfinite"] += impl.pending_nonfinite(run)  # torch counts them on the device
    meta = {
        "format": FORMAT, **fingerprint(optimizer), "state_type": state_type, "state_scalars": scalars,
        "initialized": state is not None, "nit": run.nit, "nfev": run.nfev, "extra_evals": run.extra_evals,
        "best_f": float(run.best_fitness),
        "rng": run.rng.bit_generator.state, "counters": counters,
        "stopping": optimizer.stopping.state() if getattr(optimizer, "stopping", None) else {},
    }
    return arrays, meta


def load_state_dict(optimizer, arrays: dict[str, np.ndarray], meta: dict[str, Any], source: str = "checkpoint"):
    impl = optimizer.impl
    for key, value in fingerprint(optimizer).items():
        if key == "backend" and value != meta.get(key):
            raise ValueError(f"{source} was taken on backend {meta.get(key)!r} and this run is on backend "
                             f"{value!r}: a checkpoint resumes on the backend that wrote it")
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
            values = {k[len("state."):]: impl.restore(v) for k, v in arrays.items() if k.startswith("state.")}
            state = state_cls(**values, **meta["state_scalars"])
    run = optimizer.run_state
    run.algorithm_state = state
    run.nit, run.nfev, run.extra_evals = meta["nit"], meta["nfev"], meta.get("extra_evals", 0)
    run.best_fitness = float(meta["best_f"])
    run.best_x = arrays.get("best_x")
    if run.best_x is not None and optimizer.backend == "torch":  # tensors on the device, as the run keeps them
        run.best_x, run.best_fitness = impl.restore(run.best_x), impl.restore(run.best_fitness)
    if "feasibility_best" in arrays:
        from scpo.engine import BestPair

        run.feasibility = BestPair(impl.restore(arrays["feasibility_best"]), run.best_fitness)
    run.device_nonfinite = 0  # in the counters below
    run.rng.bit_generator.state = meta["rng"]
    impl.load_generator_state(optimizer._settings, arrays)
    for key, value in meta["counters"].items():
        setattr(run.counters, key, value)
    if getattr(optimizer, "stopping", None):  # the stagnation counter, tol_f's window: a resumed run stops
        optimizer.stopping.load(meta.get("stopping", {}))  # where an uninterrupted one does
