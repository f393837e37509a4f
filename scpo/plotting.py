"""Convergence plots: best fitness against evaluations, one colour per algorithm (the one plotter
used by ``scpo optimize``, ``scpo plot`` and the benchmark)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from scpo.io import write_if_changed

Curve = tuple[ArrayLike, ArrayLike]  # (evaluations, best fitness): lists or arrays
DECADES = 40  # the most decades a convergence plot spans


def plot_convergence(curves: Mapping[str, Sequence[Curve]], out: str | Path, title: str = "",
                     f_opt: float | None = None) -> Path:
    """One line per label: a run's best-so-far, or with several runs their median and inter-quartile band.

    Runs are aligned on a common evaluation grid (each run's best-so-far held constant between its
    own points). With ``f_opt`` the plot shows ``f - f*``; when some value is negative (without
    ``f_opt``) or below ``f_opt``, ``f`` minus the best value seen (:func:`reference_level`; the axis
    label says which), so that no value is hidden. The y axis is logarithmic when some value is
    positive; values below a floor (``0``: the optimum or the best value reached exactly) are drawn at
    it: a decade below the smallest positive value, or ``DECADES`` decades below the largest if that is
    higher. The image (format from the suffix, PNG by default) is written atomically, and not at all
    when the file already holds the same bytes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrays = {label: [(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for x, y in runs]
              for label, runs in curves.items()}
    offset, ylabel = reference_level(
        np.concatenate([y for runs in arrays.values() for _, y in runs]) if arrays else np.zeros(0), f_opt)
    bands = {}
    for label, runs in arrays.items():
        grid = np.unique(np.concatenate([x for x, _ in runs]))
        stacked = np.stack([_step_interp(grid, x, y - offset) for x, y in runs])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before the first record
            name = label if len(runs) == 1 else f"{label} (median of {len(runs)})"
            bands[name] = (grid, *np.nanpercentile(stacked, [25, 50, 75], axis=0))
    values = np.concatenate([np.concatenate(b[1:]) for b in bands.values()]) if bands else np.zeros(0)
    positive = values[np.isfinite(values) & (values > 0)]
    log = positive.size > 0
    # a decade below the smallest positive value, but at most DECADES below the largest: one run that
    # reaches 1e-300 (PO's diagonal bug on unshifted functions) must not flatten every other curve
    floor = max(positive.min() / 10, positive.max() / 10.0**DECADES) if log else 0.0  # read only when log
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, (grid, low, median, high) in bands.items():
        if log:
            low, median, high = (np.maximum(v, floor) for v in (low, median, high))
        (line,) = ax.plot(grid, median, label=label, linewidth=1.4, drawstyle="steps-post")
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.18, linewidth=0, step="post")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("function evaluations")
    clipped = bool((values[np.isfinite(values)] < floor).any()) if log else False
    ax.set_ylabel(ylabel + (f" (below {floor:.0e} drawn at it)" if clipped else ""))
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    buffer = io.BytesIO()
    stamp: dict[str, Any] = {"metadata": {"Software": None}} if fmt == "png" else {}  # None: no Software tag
    fig.savefig(buffer, dpi=110, format=fmt, **stamp)
    plt.close(fig)
    write_if_changed(out, buffer.getvalue())
    return out


def reference_level(values: np.ndarray, f_opt: float | None) -> tuple[float, str]:
    """What the y axis subtracts, and its label: ``f*`` when known and no value lies below it; else, when
    some value is negative (or below the stated ``f*``), the best value seen, so that a log axis shows every
    value instead of flattening all that are <= 0 onto its floor; else nothing."""
    finite = values[np.isfinite(values)]
    lowest = float(finite.min()) if finite.size else 0.0
    if f_opt is not None and lowest >= f_opt:
        return float(f_opt), "best f - f* so far"
    if lowest < 0 or (f_opt is not None and lowest < f_opt):
        below = "" if f_opt is None else f", below f* = {f_opt:.6g}"
        return lowest, f"best f - min f seen ({lowest:.6g}{below})"
    return 0.0, "best f so far"


def _step_interp(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A run's best-so-far at each grid point (NaN before its first record)."""
    idx = np.searchsorted(x, grid, side="right") - 1
    return np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan)
