"""Structural bias, measured the field's two ways, offline and with scipy alone.

**The f0 protocol** of the BIAS toolbox (Vermetten, van Stein, Caraffini, Minku and Kononova, "BIAS: A
Toolbox for Benchmarking Structural Bias in the Continuous Domain", IEEE TEVC 26(6), 2022): the objective
``f0`` returns uniform noise from a seeded generator whatever ``x`` is, so nothing in the landscape can
attract a search, and the final positions of ``N`` independent runs of an unbiased algorithm are uniform in
the box. They are normalised to ``[0, 1]^d`` and each dimension is tested for uniformity with
Kolmogorov-Smirnov (``scipy.stats.kstest``), Anderson-Darling (the statistic against the fully specified
U(0, 1), its p-value from ``scipy.stats.monte_carlo_test`` on a seeded null sample, shared by every
dimension) and Cramér-von Mises (``scipy.stats.cramervonmises``). The ``3 d`` p-values are adjusted
together with Benjamini-Hochberg (the toolbox's correction, over tests and dimensions); the algorithm is
"biased" when some adjusted p is below ``alpha`` (0.01, the toolbox's default). ``N`` is one of 30, 50,
100, 600: the sample sizes the toolbox supports. The direction comes from the rejected dimensions'
positions, pooled: "centre" when significantly more than a uniform sample's 10 % lie in the central band
(within 0.05 of 0.5), "bounds" when significantly more than 10 % lie within 0.05 of a bound, "centre and
bounds" when both, else "region" (a part of the box, reported by its quartiles).

The default box is [-100, 100]^d, F1's: its centre is the origin, where SCA's and SCPO's published moves
pull (README, Fidelity). On the toolbox's [0, 1]^d the origin would be a corner and the same pull would
read as "bounds".

**The shift test** of Kudela ("A critical problem in benchmarking and analysis of evolutionary
computation methods", Nature Machine Intelligence 2022; "The evolutionary computation methods no one
should use", 2023): the mean error ``f - f*`` over runs on each classical function unshifted and shifted
by 10 % of its range in every coordinate; the ratio shifted / unshifted per function and its geometric
mean over functions; "centre-biased" when it exceeds 10. Errors are floored at ``ERROR_FLOOR`` so that an
exact zero (F6, or a bug that lands on the origin) gives a finite ratio. F8 (Schwefel 2.26) is left out
by default: its optimum (420.97) lies near the bound, and a 10 % shift either moves it out of the box or
uncovers the deeper valleys beyond +-500, so its error has no fixed zero.

``run_bias`` writes into ``out_dir`` (re-running resumes): ``config.json``; ``runs.csv``, one fsynced row
per finished run (an f0 run's normalised final position in its ``x`` column); ``bias.json``, per
algorithm ``{"f0": {"verdict", "p_values", ...}, "shift": {"ratio", "verdict", ...}}``; ``bias.md``, the
same as tables; ``bias.png``, per algorithm the histogram of its f0 positions over all dimensions and per
dimension. Ctrl-C keeps the finished runs and writes ``bias.json`` from them (unfinished parts say
``"incomplete"``).
"""

from __future__ import annotations

import functools
import io
import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scpo import problems as problem_registry
from scpo.algorithms.base import check_positive_int
from scpo.benchmark import AlgoSpec, ResultsFile, _check_config, _progress_bar, resolve_algos, run_tasks
from scpo.engine import make, minimize
from scpo.io import write_if_changed, write_json
from scpo.problem import Problem

RUN_SIZES = (30, 50, 100, 600)  # the BIAS toolbox's sample sizes
TESTS = ("ks", "ad", "cvm")
ALPHA = 0.01  # the BIAS toolbox's default
BOUNDS = (-100.0, 100.0)
EVALS_PER_DIM = 10_000  # f0 budget per run: 10^4 x d
AD_RESAMPLES = 9999
SHIFT_SHARE = 0.1
SHIFT_THRESHOLD = 10.0
SHIFT_RUNS = 20  # Kudela's runs per function
SHIFT_EVALS = 50_000  # Kudela's evaluations per run (d = 30)
ERROR_FLOOR = 1e-8
SHIFT_FUNCTIONS = tuple(name for name in problem_registry.names() if name != "schwefel226")
SHIFTED = "-shifted"
FIELDS = ("algorithm", "test", "problem", "run", "seed", "value", "x", "wall_time_s")
CONFIG_KEYS = ("dim", "runs", "evals", "bounds", "seed", "shift_functions", "shift_runs", "shift_evals")

#: an algorithm the API can test besides registry names: ``runner(problem, seed, max_evals)`` returns an
#: object with ``x`` and ``fun`` (what :func:`scpo.minimize` returns)
Runner = Callable[[Problem, int, int], Any]


# ---------------------------------------------------------------------------- f0 and its tests


def f0_problem(dim: int, seed: int | Sequence[int], bounds: tuple[float, float] = BOUNDS) -> Problem:
    """f0: U(0, 1) noise for every candidate, from a generator seeded with ``seed``, whatever x is."""
    rng = np.random.default_rng(seed)

    def f0(X):
        return rng.random(len(X))

    return Problem(f0, bounds[0], bounds[1], dim=dim, vectorized=True, name="f0")


def normalise(X, lb, ub) -> np.ndarray:
    """Positions as shares of the box, in [0, 1]."""
    lb, ub = np.asarray(lb, dtype=float), np.asarray(ub, dtype=float)
    return np.clip((np.asarray(X, dtype=float) - lb) / (ub - lb), 0.0, 1.0)


def benjamini_hochberg(pvalues: Iterable[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (``p_(i) m / i``, made monotone from the top, capped at 1)."""
    p = np.asarray(list(pvalues), dtype=float)
    if p.size == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return adjusted


def anderson_darling(U, axis: int = 0) -> np.ndarray:
    """The Anderson-Darling statistic of samples ``U`` along ``axis`` against U(0, 1) (no estimated parameter);
    positions on a bound are moved 1e-12 inside so that the statistic stays finite (and very large)."""
    u = np.sort(np.clip(np.moveaxis(np.asarray(U, dtype=float), axis, -1), 1e-12, 1 - 1e-12), axis=-1)
    n = u.shape[-1]
    weights = 2 * np.arange(1, n + 1) - 1
    return -n - np.mean(weights * (np.log(u) + np.log1p(-u[..., ::-1])), axis=-1)


def uniformity(U, alpha: float = ALPHA, seed: int = 0, resamples: int = AD_RESAMPLES) -> dict:
    """Per-dimension KS, Anderson-Darling and Cramér-von Mises tests of ``U`` (runs x d, in [0, 1]) against
    U(0, 1), Benjamini-Hochberg over all of them, the verdict and its direction.

    ``p_values``: per dimension, the smallest adjusted p of its three tests; ``tests``: the raw p-values.
    """
    from scipy import stats

    U = np.asarray(U, dtype=float)
    if U.ndim != 2 or U.shape[0] < 2 or U.shape[1] < 1:
        raise ValueError(f"positions must be a (runs, dim) array with at least 2 runs, got shape {U.shape}")
    if not np.all(np.isfinite(U)) or U.min() < 0 or U.max() > 1:
        raise ValueError("positions must be normalised to [0, 1] (use normalise())")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    null = np.random.default_rng(seed)
    raw = {
        "ks": np.atleast_1d(stats.kstest(U, "uniform", axis=0).pvalue),
        "ad": np.atleast_1d(stats.monte_carlo_test(U, lambda size: null.random(size), anderson_darling,
                                                   vectorized=True, axis=0, n_resamples=resamples,
                                                   alternative="greater").pvalue),
        "cvm": np.atleast_1d(stats.cramervonmises(U, "uniform", axis=0).pvalue),
    }
    stacked = np.clip(np.vstack([raw[t] for t in TESTS]), 0.0, 1.0)
    adjusted = benjamini_hochberg(stacked.ravel()).reshape(stacked.shape)
    per_dim = adjusted.min(axis=0)
    rejected = per_dim < alpha
    return {"verdict": "biased" if rejected.any() else "unbiased", "p_values": per_dim.tolist(), "alpha": alpha,
            "correction": "Benjamini-Hochberg over all tests and dimensions",
            "rejected_dimensions": (np.flatnonzero(rejected) + 1).tolist(),
            "tests": {t: raw[t].tolist() for t in TESTS},
            "adjusted": {t: adjusted[i].tolist() for i, t in enumerate(TESTS)},
            **direction(U, rejected, alpha)}


def direction(U: np.ndarray, rejected: np.ndarray, alpha: float = ALPHA) -> dict:
    """Where the rejected dimensions' positions gather, pooled: "centre" when significantly more than a
    uniform sample's 10 % lie in the central band (|u - 0.5| < 0.05), "bounds" when significantly more than
    10 % lie within 0.05 of a bound, "centre and bounds" when both, else "region" (reported by its
    quartiles); one-sided binomial z-tests at ``alpha``. "none" when no dimension is rejected."""
    from scipy import stats

    band = np.abs(U - 0.5)
    out = {"direction": "none", "distance_from_centre": float(band.mean()), "distance_from_centre_uniform": 0.25,
           "centre_share": float(np.mean(band < 0.05)), "bounds_share": float(np.mean(band > 0.45)),
           "share_uniform": 0.1}
    if not rejected.any():
        return out
    pooled = band[:, rejected].ravel()
    critical = float(stats.norm.ppf(1 - alpha))
    spread = np.sqrt(0.1 * 0.9 / pooled.size)
    centre = (np.mean(pooled < 0.05) - 0.1) / spread > critical
    bounds = (np.mean(pooled > 0.45) - 0.1) / spread > critical
    label = {(True, True): "centre and bounds", (True, False): "centre", (False, True): "bounds"}.get(
        (bool(centre), bool(bounds)), "region")
    out["direction"] = label
    if label == "region":
        q25, q50, q75 = np.percentile(U[:, rejected], [25, 50, 75])
        out["region"] = {"q25": float(q25), "median": float(q50), "q75": float(q75)}
    return out


# ---------------------------------------------------------------------------- the shift test


def shifted_problem(name: str, dim: int, share: float = SHIFT_SHARE) -> Problem:
    """F1-F13 function ``name`` with its optimum moved by ``share`` of the range in every coordinate
    (towards the upper bound, or the lower one where the upper would leave the box)."""
    base = problem_registry.get(name, dim)
    span = base.ub - base.lb
    sign = np.where(base.x_opt + share * span <= base.ub, 1.0, -1.0)
    offset = sign * share * span
    objective = base.objective

    def shifted(X):
        return objective(X - offset)

    return Problem(shifted, base.lb, base.ub, dim=dim, vectorized=True, name=base.name + SHIFTED, f_opt=base.f_opt,
                   x_opt=base.x_opt + offset)


def shift_summary(errors: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> dict:
    """``{function: (unshifted errors, shifted errors)}`` -> the per-function mean errors and ratios, their
    geometric mean and the verdict (Kudela: centre-biased above ``SHIFT_THRESHOLD``)."""
    functions, logs = {}, []
    for name, (unshifted, shifted) in errors.items():
        low = max(float(np.mean(unshifted)), ERROR_FLOOR)
        high = max(float(np.mean(shifted)), ERROR_FLOOR)
        functions[name] = {"unshifted": low, "shifted": high, "ratio": high / low}
        logs.append(np.log(high / low))
    ratio = float(np.exp(np.mean(logs))) if logs else float("nan")
    return {"ratio": ratio, "verdict": "centre-biased" if ratio > SHIFT_THRESHOLD else "unbiased",
            "threshold": SHIFT_THRESHOLD, "share": SHIFT_SHARE, "error_floor": ERROR_FLOOR,
            "functions": functions}


# ---------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Task:
    label: str
    test: str  # "f0" or "shift"
    problem: str  # "f0", or a function name, with SHIFTED for the shifted one
    run: int
    seed: int

    @property
    def key(self) -> tuple:
        return (self.label, self.test, self.problem, self.run)


def _run_spec(spec: AlgoSpec, problem: Problem, seed: int, evals: int):
    return minimize(problem, algorithm=spec.name, max_evals=evals, seed=seed, **spec.options)


def execute(task: Task, runner: Runner, dim: int, evals: int, bounds: tuple[float, float], shift_evals: int) -> dict:
    """One run: its runs.csv row (an f0 run's normalised final position in ``x``; a shift run's error)."""
    import time

    start = time.perf_counter()
    if task.test == "f0":
        problem = f0_problem(dim, [task.seed, 0xF0], bounds)
        result = runner(problem, task.seed, evals)
        x = normalise(result.x, problem.lb, problem.ub)
        value, position = float(result.fun), json.dumps(x.tolist())
    else:
        name = task.problem.removesuffix(SHIFTED)
        problem = shifted_problem(name, dim) if task.problem.endswith(SHIFTED) else problem_registry.get(name, dim)
        result = runner(problem, task.seed, shift_evals)
        value, position = float(result.fun) - float(problem.f_opt or 0.0), ""  # F1-F13 (F8 left out): f* is 0
    return {"algorithm": task.label, "test": task.test, "problem": task.problem, "run": task.run, "seed": task.seed,
            "value": value, "x": position, "wall_time_s": round(time.perf_counter() - start, 6)}


def _parse_row(raw: dict) -> dict:
    return {**raw, "run": int(raw["run"]), "seed": int(raw["seed"]), "value": float(raw["value"]),
            "wall_time_s": float(raw["wall_time_s"])}


def _row_key(row: dict) -> tuple:
    return (row["algorithm"], row["test"], row["problem"], row["run"])


def run_seed(seed: int, problem: str, run: int) -> int:
    """Run ``run``'s seed on ``problem``: the same for every algorithm, and for a function shifted or not."""
    return int(np.random.SeedSequence([seed, zlib.crc32(problem.encode()), run]).generate_state(1)[0])


def resolve(algos: str | Iterable) -> list[tuple[str, Runner, AlgoSpec | None]]:
    """``(label, runner, spec)`` per entry: registry names or ``name:key=value`` entries (as ``scpo
    benchmark``), or callables ``runner(problem, seed, max_evals)`` labelled by their ``__name__``."""
    if isinstance(algos, str):
        entries: list = [algos]
    else:
        entries = list(algos)
    resolved: list[tuple[str, Callable, AlgoSpec | None]] = []
    for entry in entries:
        if callable(entry) and not isinstance(entry, AlgoSpec):
            resolved.append((getattr(entry, "__name__", "custom"), entry, None))
        else:
            for spec in resolve_algos(entry if isinstance(entry, str) else [entry]):
                resolved.append((spec.label, functools.partial(_run_spec, spec), spec))
    if not resolved:
        raise ValueError("no algorithms given")
    labels = [label for label, _, _ in resolved]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"algorithm {twice[0]!r} is listed twice")
    return resolved


def _check_bounds(bounds) -> tuple[float, float]:
    try:
        lb, ub = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be two numbers (lb, ub), got {bounds!r}") from None
    if not (np.isfinite(lb) and np.isfinite(ub) and lb < ub):
        raise ValueError(f"bounds must be finite with lb < ub, got ({lb}, {ub})")
    return lb, ub


def _check_functions(functions, dim: int) -> tuple[str, ...]:
    if functions is None:
        names = list(SHIFT_FUNCTIONS)
    else:
        items = [s.strip() for s in functions.split(",")] if isinstance(functions, str) else list(functions)
        items = [s for s in items if s]
        if len(items) == 1 and items[0].lower() == "all":
            names = list(SHIFT_FUNCTIONS)
        elif not items:
            raise ValueError("no shift-test functions given")
        else:
            names = [problem_registry.get(name, dim).name for name in items]  # validates names, aliases, dim
    for name in names:
        problem_registry.get(name, dim)
    return tuple(dict.fromkeys(names))


@dataclass
class BiasResult:
    report: dict  # {label: {"f0": {...}, "shift": {...}}}, as bias.json holds it
    ran: int  # runs computed by this call
    skipped: int  # runs found finished in runs.csv
    json_path: Path | None = None
    figure: Path | None = None


def run_bias(algos, dim: int = 30, runs: int = 100, evals: int | None = None, seed: int = 0,
             bounds: tuple[float, float] = BOUNDS, alpha: float = ALPHA, shift: bool = True,
             shift_functions: str | Iterable[str] | None = None, shift_runs: int = SHIFT_RUNS,
             shift_evals: int = SHIFT_EVALS, out_dir: str | Path | None = None, jobs: int = 1,
             progress: bool | str | None = None) -> BiasResult:
    """The f0 protocol (``runs`` runs of ``evals`` evaluations, default 10^4 x ``dim``) and, with ``shift``,
    the shift test (``shift_runs`` runs of ``shift_evals`` evaluations on each function unshifted and
    shifted; default F1-F13 without F8) for every algorithm; see the module docstring.

    ``algos``: names or ``name:key=value`` entries (a list or comma-separated string), or callables
    ``runner(problem, seed, max_evals)`` returning an object with ``x`` and ``fun``. With ``out_dir``,
    writes config.json, runs.csv, bias.json and bias.png there and resumes the finished runs of an
    earlier call with the same settings; ``jobs > 1`` runs in joblib worker processes; ``progress``:
    True (a rich bar), "plain" (lines with an ETA every 10 s) or nothing. Ctrl-C (KeyboardInterrupt)
    writes bias.json from the finished runs, then propagates.
    """
    dim = check_positive_int("dim", dim)
    if isinstance(runs, bool) or runs not in RUN_SIZES:
        raise ValueError(f"runs must be one of {', '.join(map(str, RUN_SIZES))} (the BIAS toolbox's sample "
                         f"sizes), got {runs!r}")
    evals = EVALS_PER_DIM * dim if evals is None else check_positive_int("evals", evals)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    bounds = _check_bounds(bounds)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    shift_runs = check_positive_int("shift_runs", shift_runs)
    shift_evals = check_positive_int("shift_evals", shift_evals)
    jobs = check_positive_int("jobs", jobs)
    functions = _check_functions(shift_functions, dim) if shift else ()
    algorithms = resolve(algos)
    probe = f0_problem(dim, 0, bounds)
    for _, _, spec in algorithms:  # unknown algorithm or option, budget below one iteration: before any run
        if spec is not None:
            for budget in (evals, *((shift_evals,) if shift else ())):
                make(probe, spec.name, seed=0, max_evals=budget, **spec.options)

    tasks = []
    for label, _, _ in algorithms:
        tasks += [Task(label, "f0", "f0", r, run_seed(seed, "f0", r)) for r in range(runs)]
        for name in functions:
            for r in range(shift_runs):
                tasks += [Task(label, "shift", name + suffix, r, run_seed(seed, name, r)) for suffix in ("", SHIFTED)]
    settings = {"dim": dim, "runs": runs, "evals": evals, "bounds": list(bounds), "seed": seed,
                "shift_functions": list(functions), "shift_runs": shift_runs if shift else 0,
                "shift_evals": shift_evals if shift else 0}
    rows: dict[tuple, dict]
    results = None
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        results = ResultsFile(out_dir / "runs.csv", fields=FIELDS, parse=_parse_row, key=_row_key, legacy={})
        _check_config(out_dir, settings, CONFIG_KEYS)
        rows = results.rows
    else:
        rows = {}
    for task in tasks:
        done = rows.get(task.key)
        if done is not None and done["seed"] != task.seed:
            raise ValueError(f"runs.csv has run {task.key} with seed {done['seed']}, expected {task.seed}")
    pending = [t for t in tasks if t.key not in rows]
    runners = {label: runner for label, runner, _ in algorithms}
    labels = [label for label, _, _ in algorithms]

    def finish() -> BiasResult:
        report = build_report(rows, labels, settings, alpha)
        json_path = figure = None
        if out_dir is not None:
            json_path = write_json(out_dir / "bias.json", report)
            write_if_changed(out_dir / "bias.md", render_markdown(report, settings))
            figure = plot_bias(rows, report, out_dir / "bias.png", settings)
        return BiasResult(report, ran, len(tasks) - len(pending), json_path, figure)

    ran = 0
    try:
        with _progress_bar(progress, len(tasks), len(tasks) - len(pending), "bias runs") as advance:
            work = functools.partial(_execute_task, runners=runners, dim=dim, evals=evals, bounds=bounds,
                                     shift_evals=shift_evals)
            for task, row in run_tasks(work, pending, jobs):
                if results is not None:
                    results.append(row)
                else:
                    rows[task.key] = row
                ran += 1
                advance()
    except KeyboardInterrupt:
        if out_dir is not None:
            finish()  # what was done, with the unfinished parts marked incomplete
        raise
    return finish()


def _execute_task(task: Task, runners: Mapping[str, Runner], dim: int, evals: int, bounds, shift_evals: int) -> dict:
    return execute(task, runners[task.label], dim, evals, bounds, shift_evals)


# ---------------------------------------------------------------------------- report and figure


def f0_positions(rows: Mapping[tuple, dict], label: str, runs: int) -> np.ndarray:
    """The normalised final positions of ``label``'s finished f0 runs, in run order (finished ones only)."""
    found = [rows[(label, "f0", "f0", r)] for r in range(runs) if (label, "f0", "f0", r) in rows]
    return np.array([json.loads(row["x"]) for row in found], dtype=float)


def build_report(rows: Mapping[tuple, dict], labels: Sequence[str], settings: dict, alpha: float = ALPHA) -> dict:
    """bias.json: per algorithm its f0 verdict (or ``"incomplete"`` with the runs done) and its shift test."""
    report = {}
    runs = settings["runs"]
    for label in labels:
        U = f0_positions(rows, label, runs)
        f0 = {"runs": runs, "evals": settings["evals"], "dim": settings["dim"], "bounds": settings["bounds"]}
        if len(U) == runs:
            f0 = {**uniformity(U, alpha, seed=settings["seed"]), **f0}
        else:
            f0 = {"verdict": "incomplete", "runs_done": len(U), **f0}
        entry = {"f0": f0}
        if settings["shift_functions"]:
            errors: dict[str, tuple[Sequence[float], Sequence[float]]] = {}
            missing = 0
            for name in settings["shift_functions"]:
                pair = []
                for problem in (name, name + SHIFTED):
                    values = [rows[(label, "shift", problem, r)]["value"] for r in range(settings["shift_runs"])
                              if (label, "shift", problem, r) in rows]
                    missing += settings["shift_runs"] - len(values)
                    pair.append(values)
                errors[name] = (pair[0], pair[1])  # unshifted, shifted
            settings_shift = {"runs": settings["shift_runs"], "evals": settings["shift_evals"], "dim": settings["dim"]}
            if missing:
                entry["shift"] = {"verdict": "incomplete", "ratio": None, "runs_missing": missing, **settings_shift}
            else:
                entry["shift"] = {**shift_summary(errors), **settings_shift}
        report[label] = entry
    return report


def plot_bias(rows: Mapping[tuple, dict], report: Mapping[str, dict], out: str | Path, settings: dict,
              bins: int = 20) -> Path:
    """Per algorithm (one row each): the histogram of its normalised f0 positions over all dimensions (the
    uniform level dashed), and per dimension as a heat map; the verdicts in the titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(report)
    fig, axes = plt.subplots(len(labels), 2, figsize=(11, 2.3 * len(labels) + 0.6), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6]})
    edges = np.linspace(0, 1, bins + 1)
    for (left, right), label in zip(axes, labels, strict=True):
        U = f0_positions(rows, label, settings["runs"])
        f0, shift = report[label]["f0"], report[label].get("shift")
        verdict = f0["verdict"] + (f" ({f0['direction']})" if f0["verdict"] == "biased" else "")
        title = f"{label}: f0 {verdict}"
        if shift is not None and shift.get("ratio") is not None:
            title += f"; shift ratio {shift['ratio']:.3g} ({shift['verdict']})"
        if U.size:
            left.hist(U.ravel(), bins=edges, density=True, color="tab:blue", alpha=0.8)
            counts = np.stack([np.histogram(U[:, j], bins=edges)[0] for j in range(U.shape[1])])
            image = right.imshow(counts * bins / U.shape[0], aspect="auto", origin="lower", cmap="viridis",
                                 extent=(0, 1, 0.5, U.shape[1] + 0.5), vmin=0)
            fig.colorbar(image, ax=right, label="density")
        left.axhline(1.0, color="k", linestyle="--", linewidth=1)
        left.set_xlim(0, 1)
        left.set_title(title, fontsize=9, loc="left")
        left.set_ylabel("density")
        right.set_ylabel("dimension")
        right.set_title(f"per dimension ({len(U)} runs)", fontsize=9)
    axes[-1][0].set_xlabel("final position, share of the box (0.5: its centre)")
    axes[-1][1].set_xlabel("final position, share of the box")
    lb, ub = settings["bounds"]
    fig.suptitle(f"f0 final positions, d = {settings['dim']}, {settings['evals']} evaluations per run, "
                 f"box [{lb:g}, {ub:g}]^d", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the suptitle
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png", metadata={"Software": None})
    plt.close(fig)
    out = Path(out)
    write_if_changed(out, buffer.getvalue())
    return out


def render_markdown(report: Mapping[str, dict], settings: dict) -> str:
    """bias.md: the verdicts as tables (f0, then the shift test's ratio per function)."""
    lb, ub = settings["bounds"]
    alpha = next((e["f0"]["alpha"] for e in report.values() if "alpha" in e["f0"]), ALPHA)
    lines = [
        "# Structural bias", "",
        f"**f0** (BIAS toolbox protocol): {settings['runs']} independent runs per algorithm on f0 (uniform noise "
        f"whatever x is), d = {settings['dim']}, {settings['evals']} evaluations per run, box [{lb:g}, {ub:g}]^d "
        f"(its centre is share 0.5), seed {settings['seed']}. Final positions normalised to [0, 1]^d; per dimension "
        "Kolmogorov-Smirnov, Anderson-Darling (Monte Carlo p, 9999 null samples) and Cramér-von Mises against "
        f"U(0, 1); Benjamini-Hochberg over all 3 x {settings['dim']} p-values; biased when some adjusted p < "
        f"{alpha:g}. Centre / bounds share: positions within 0.05 of the centre / of a bound (0.1 each when "
        "uniform); direction: which of them is significantly above 0.1 over the rejected dimensions (else a "
        "region).", "",
        "| algorithm | f0 verdict | dimensions rejected | direction | centre share | bounds share | smallest "
        "adjusted p |", "|---|---|---:|---|---:|---:|---:|",
    ]
    for label, entry in report.items():
        f0 = entry["f0"]
        if f0["verdict"] == "incomplete":
            lines.append(f"| {label} | incomplete ({f0['runs_done']}/{f0['runs']} runs) | | | | | |")
            continue
        lines.append(f"| {label} | {f0['verdict']} | {len(f0['rejected_dimensions'])}/{len(f0['p_values'])} | "
                     f"{f0['direction']} | {f0['centre_share']:.3f} | {f0['bounds_share']:.3f} | "
                     f"{min(f0['p_values']):.2g} |")
    functions = settings["shift_functions"]
    if functions:
        lines += [
            "", f"**Shift test** (Kudela): mean error f - f* over {settings['shift_runs']} runs of "
            f"{settings['shift_evals']} evaluations, d = {settings['dim']}, on {', '.join(functions)} unshifted and "
            f"shifted by {SHIFT_SHARE:.0%} of the range in every coordinate (the same seeds for both); errors floored "
            f"at {ERROR_FLOOR:g}; ratio = shifted / unshifted; centre-biased when the geometric mean of the ratios "
            f"exceeds {SHIFT_THRESHOLD:g}.", "",
            "| algorithm | geometric mean ratio | verdict | " + " | ".join(functions) + " |",
            "|---|---:|---|" + "---:|" * len(functions),
        ]
        for label, entry in report.items():
            shift = entry.get("shift")
            if shift is None or shift["ratio"] is None:
                lines.append(f"| {label} | | incomplete |" + " |" * len(functions))
                continue
            cells = " | ".join(f"{shift['functions'][name]['ratio']:.3g}" for name in functions)
            lines.append(f"| {label} | {shift['ratio']:.3g} | {shift['verdict']} | {cells} |")
    return "\n".join(lines) + "\n"


def summary_lines(report: Mapping[str, dict]) -> list[str]:
    """One line per algorithm: its f0 verdict and direction, and its shift ratio."""
    lines = []
    for label, entry in report.items():
        f0 = entry["f0"]
        if f0["verdict"] == "incomplete":
            text = f"f0 incomplete ({f0['runs_done']}/{f0['runs']} runs)"
        else:
            rejected = len(f0["rejected_dimensions"])
            where = f", {f0['direction']}" if f0["verdict"] == "biased" else ""
            text = f"f0 {f0['verdict']} ({rejected}/{len(f0['p_values'])} dimensions rejected{where})"
        shift = entry.get("shift")
        if shift is not None:
            text += ("; shift incomplete" if shift["ratio"] is None
                     else f"; shift ratio {shift['ratio']:.3g}, {shift['verdict']}")
        lines.append(f"{label}: {text}")
    return lines


__all__ = ["ALPHA", "BOUNDS", "RUN_SIZES", "SHIFT_FUNCTIONS", "BiasResult", "anderson_darling", "benjamini_hochberg",
           "build_report", "direction", "f0_problem", "normalise", "plot_bias", "render_markdown", "run_bias",
           "shift_summary", "shifted_problem", "summary_lines", "uniformity"]
