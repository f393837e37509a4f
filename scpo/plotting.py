"""Convergence plots: best fitness against evaluations, one colour per algorithm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from scpo.io import atomic_write

Curve = tuple[Sequence[float], Sequence[float]]  # (evaluations, best fitness)


def plot_convergence(curves: Mapping[str, Sequence[Curve]], out: str | Path, title: str = "") -> Path:
    """One line per label; with several runs under a label, their median and inter-quartile band.

    Runs are aligned on a common evaluation grid (each run's best-so-far held constant
    between its own points). The y axis is logarithmic when every value is positive.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    positive = True
    for label, runs in curves.items():
        if len(runs) == 1:
            x, y = (np.asarray(v, dtype=float) for v in runs[0])
            ax.plot(x, y, label=label)
            positive &= bool(np.all(y > 0))
            continue
        grid = np.unique(np.concatenate([np.asarray(x, dtype=float) for x, _ in runs]))
        stacked = np.stack([_step_interp(grid, x, y) for x, y in runs])
        low, median, high = np.nanpercentile(stacked, [25, 50, 75], axis=0)
        (line,) = ax.plot(grid, median, label=f"{label} (median of {len(runs)})")
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2)
        positive &= bool(np.all(stacked[np.isfinite(stacked)] > 0))
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("function evaluations")
    ax.set_ylabel("best fitness so far")
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
