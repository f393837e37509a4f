"""Convergence plots: best fitness against evaluations, one colour per algorithm."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from scpo.io import atomic_write

Curve = tuple[Sequence[float], Sequence[float]]  # (evaluations, best fitness)


DECADES = 40  # the most decades below the largest value that a log axis spans


def plot_convergence(curves: Mapping[str, Sequence[Curve]], out: str | Path, title: str = "",
                     f_opt: float | None = None) -> Path:
    """One line per label; with several runs under a label, their median and inter-quartile band.

    Runs are aligned on a common evaluation grid (each run's best-so-far held constant
    between its own points). With ``f_opt`` the curves show ``f - f_opt``. The y axis is
    logarithmic whenever any value is positive; values at or below a floor (a decade under
    the smallest positive value, at most ``DECADES`` decades under the largest) are drawn at
    it, as the axis label says. Only without any positive value does the axis stay linear.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offset = 0.0 if f_opt is None else float(f_opt)
    bands = {}
    for label, runs in curves.items():
        if len(runs) == 1:
            x, y = (np.asarray(v, dtype=float) for v in runs[0])
            bands[label] = (x, None, y - offset, None)
            continue
        grid = np.unique(np.concatenate([np.asarray(x, dtype=float) for x, _ in runs]))
        stacked = np.stack([_step_interp(grid, x, np.asarray(y, dtype=float) - offset) for x, y in runs])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before a run's first point
            low, median, high = np.nanpercentile(stacked, [25, 50, 75], axis=0)
        bands[label] = (grid, low, median, high)
    values = np.concatenate([np.ravel(v) for b in bands.values() for v in b[1:] if v is not None] or [[]])
    positive = values[np.isfinite(values) & (values > 0)]
    log = positive.size > 0
    floor = max(positive.min() / 10, positive.max() / 10.0**DECADES) if log else None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, (x, low, median, high) in bands.items():
        if log:
            median = np.maximum(median, floor)
        if low is None:
            ax.plot(x, median, label=label)
            continue
        (line,) = ax.plot(x, median, label=f"{label} (median of {len(curves[label])})")
        if log:
            low, high = np.maximum(low, floor), np.maximum(high, floor)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    if log:
        ax.set_yscale("log")
    clipped = log and bool((values[np.isfinite(values)] < floor).any())
    ylabel = "best f - f* so far" if f_opt is not None else "best fitness so far"
    ax.set_xlabel("function evaluations")
    ax.set_ylabel(ylabel + (f" (<= {floor:.0e} drawn at it)" if clipped else ""))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(out)
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110, format=out.suffix.lstrip(".") or "png"))
    plt.close(fig)
    return out


def _step_interp(grid: np.ndarray, x, y) -> np.ndarray:
    """A run's best-so-far at each grid point (NaN before its first evaluation)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    idx = np.searchsorted(x, grid, side="right") - 1
    return np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan)
