"""Optimizer benchmark: every (algorithm, problem, run) at one budget of evaluations, then statistics and plots.

``run_benchmark`` writes into ``out_dir``:

- ``config.json``: dim, evaluations, seed, shifted and instance; a later call on the same folder
  must match them;
- ``results.csv``: one row per run (algorithm, problem, instance, run, seed, best_fitness, nfev,
  wall_time_s), appended with flush + fsync as each run finishes, so an interrupted
  benchmark resumes where it stopped (finished runs are read back, never recomputed);
- ``histories/<algorithm>__<problem>__<run>.json``: best-so-far against evaluations;
- ``summary.md``: mean, std, median and best per cell; Wilcoxon rank-sum tests against
  SCPO with Holm's correction; Friedman tests and mean ranks;
- ``plots/<problem>.png``: median and inter-quartile band of ``f - f*`` per algorithm.

Problems are shifted by default (the optimum off the diagonal, as ``scpo optimize`` does);
``shifted=False`` gives the classical functions of the papers.

Seeds: the run seed comes from ``(seed, problem, run)`` and is the same for every
algorithm in that run (same initial population for algorithms of the same population
size). The problem instance is apart from it, as BBOB's instances are: a shifted problem's
offset comes from ``instance`` (default 0) alone, so every run of every algorithm faces the same
problem, and ``scpo optimize --instance K`` runs that same problem.

Algorithms are given as ``"name"`` or ``"name:key=value:key=value"`` (for example
``"po:reference_switch_bug=True"``), labelled ``po[reference_switch_bug=True]``.

``run_engineering`` (``scpo benchmark --suite engineering``) runs the constrained design problems of
:mod:`scpo.engineering` the same way (resumable results.csv, summary.md), with feasibility-aware
statistics in place of the rank tests and plots.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from scpo import problems as problem_registry
from scpo.algorithms.base import check_positive_int
from scpo.engine import make, minimize
from scpo.io import write_if_changed
from scpo.options import parse_option
from scpo.plotting import plot_convergence

FIELDS = ("algorithm", "problem", "instance", "run", "seed", "best_fitness", "nfev", "wall_time_s")
FIELDS_V1 = ("algorithm", "problem", "run", "seed", "best_fitness", "nfev", "wall_time_s")  # before the instance
CONFIG_KEYS = ("dim", "evals", "seed", "shifted", "instance")
RESERVED_OPTIONS = ("max_evals", "max_iter", "seed", "bounds", "callback", "vectorized", "algorithm")
REFERENCE = "scpo"
ALPHA = 0.05


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class AlgoSpec:
    """One benchmarked configuration: registry name, options (``pop_size`` included), label."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            shown = ",".join(f"{k}={v}" for k, v in self.options.items())
            object.__setattr__(self, "label", f"{self.name}[{shown}]" if shown else self.name)

    @property
    def slug(self) -> str:
        """The label as a file-name part."""
        return slug(self.label)


def slug(label: str) -> str:
    """An algorithm label as a file-name part (the histories' names)."""
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", label).strip("-")


def parse_algo(entry: str | AlgoSpec | tuple) -> AlgoSpec:
    """``"po:reference_switch_bug=True"`` -> AlgoSpec("po", {"reference_switch_bug": True})."""
    if isinstance(entry, AlgoSpec):
        return entry
    if isinstance(entry, tuple) and len(entry) == 2:
        return AlgoSpec(str(entry[0]), dict(entry[1]))
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(f"algorithm entries are 'name' or 'name:key=value', got {entry!r}")
    name, *parts = entry.strip().split(":")
    name = name.strip().lower()
    options = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad option {part!r} in algorithm {entry!r}: expected key=value")
        options[key.strip()] = parse_option(name, key.strip(), value)
    return AlgoSpec(name, options)


def _as_list(value: str | Iterable, what: str) -> list:
    items = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
    items = [s for s in items if not (isinstance(s, str) and not s)]
    if not items:
        raise ValueError(f"no {what} given")
    return items


def resolve_algos(algos: str | Iterable, options: Mapping[str, Mapping] | None = None) -> list[AlgoSpec]:
    """Parse the entries and merge ``options[name or label]`` into each (the entry's own options win)."""
    specs = [parse_algo(a) for a in _as_list(algos, "algorithms")]
    options = dict(options or {})
    known = {s.name for s in specs} | {s.label for s in specs}
    for key in options:
        if key not in known:
            raise ValueError(f"options given for {key!r}, which is not among the algorithms")
    merged = []
    for spec in specs:
        extra = {**options.get(spec.name, {}), **options.get(spec.label, {})}
        if extra:
            spec = AlgoSpec(spec.name, {**extra, **spec.options})
        for key in spec.options:
            if key in RESERVED_OPTIONS:
                raise ValueError(f"option {key!r} of {spec.label} is set by the benchmark; remove it")
        merged.append(spec)
    for attr in ("label", "slug"):
        seen = [getattr(s, attr) for s in merged]
        duplicates = sorted({x for x in seen if seen.count(x) > 1})
        if duplicates:
            raise ValueError(f"algorithm {duplicates[0]!r} is listed twice")
    return merged


def resolve_problems(problems: str | Iterable, dim: int, shifted: bool, instance: int | None
                     ) -> list[tuple[str, str]]:
    """``(registry key, label)`` per problem; ``"all"`` is F1-F13. Labels carry ``-shifted``."""
    items = _as_list(problems, "problems")
    if len(items) == 1 and str(items[0]).lower() == "all":
        items = problem_registry.names()
    resolved = []
    for name in items:
        problem = problem_registry.get(str(name), dim, shifted=shifted, seed=instance or 0)  # validates name, dim
        key = problem.name.removesuffix("-shifted")
        if (key, problem.name) not in resolved:
            resolved.append((key, problem.name))
    return resolved


def run_seed(seed: int, problem: str, run: int) -> int:
    """The seed of run ``run`` on ``problem``: shared by every algorithm, stable when problems are added."""
    return int(np.random.SeedSequence([seed, zlib.crc32(problem.encode()), run]).generate_state(1)[0])


# ---------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Task:
    algo: AlgoSpec
    problem: str  # registry key
    problem_label: str
    run: int
    seed: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.algo.label, self.problem_label, self.run)


def execute(task: Task, dim: int, evals: int, shifted: bool, instance: int | None) -> tuple[dict, dict]:
    """One run: its results.csv row and its history."""
    problem = problem_registry.get(task.problem, dim, shifted=shifted, seed=instance or 0)
    result = minimize(problem, algorithm=task.algo.name, max_evals=evals, seed=task.seed, **task.algo.options)
    row = {
        "algorithm": task.algo.label, "problem": task.problem_label, "instance": instance, "run": task.run,
        "seed": task.seed,
        "best_fitness": float(result.fun), "nfev": int(result.nfev), "wall_time_s": round(result.wall_time_s, 6),
    }
    best, nfev = np.asarray(result.history["best"]), np.asarray(result.history["nfev"])
    keep = np.ones(best.size, dtype=bool)  # best-so-far where it changed, and the last point: lossless as steps
    keep[1:-1] = best[1:-1] != best[:-2]
    history = {
        "algorithm": task.algo.label, "problem": task.problem_label, "instance": instance, "run": task.run,
        "seed": task.seed, "f_opt": problem.f_opt, "nfev": nfev[keep].tolist(), "best": best[keep].tolist(),
    }
    return row, history


def history_path(out_dir: Path, algo_slug: str, problem_label: str, run: int) -> Path:
    return out_dir / "histories" / f"{algo_slug}__{problem_label}__{run}.json"


def _parse_row(raw: dict) -> dict:
    return {**raw, "run": int(raw["run"]), "seed": int(raw["seed"]), "nfev": int(raw["nfev"]),
            "best_fitness": float(raw["best_fitness"]), "wall_time_s": float(raw["wall_time_s"]),
            "instance": int(raw["instance"]) if raw.get("instance") not in ("", None) else None}


def _legacy_rows(instance_of_shifted: int | None = None) -> dict[tuple, Callable[[dict], dict]]:
    """Results files written before the instance column: a shifted problem's instance was the master
    seed (``instance_of_shifted`` when the caller knows it; unknown, empty, otherwise)."""
    def upgrade(raw: dict) -> dict:
        shifted = raw["problem"].endswith("-shifted") and instance_of_shifted is not None
        return {**raw, "instance": str(instance_of_shifted) if shifted else ""}

    return {FIELDS_V1: upgrade}


def _row_key(row: dict) -> tuple:
    return (row["algorithm"], row["problem"], row["run"])


class ResultsFile:
    """``results.csv``: read back on start (a torn last line is dropped), then appended one fsynced row at a time.

    ``fields``, ``parse`` (a raw CSV row to typed values) and ``key`` (a row's identity)
    default to this benchmark's; :mod:`scpo.bbob` passes its own. ``legacy`` maps an older header to
    a function completing its raw rows; such a file is read as is and rewritten with the current
    header (atomically) only before the first append.
    """

    def __init__(self, path: Path, fields: Sequence[str] = FIELDS, parse: Callable[[dict], dict] = _parse_row,
                 key: Callable[[dict], tuple] = _row_key,
                 legacy: Mapping[tuple, Callable[[dict], dict]] | None = None):
        self.path, self.fields, self.key = path, tuple(fields), key
        self.rows: dict[tuple, dict] = {}
        self.outdated = False
        if not path.exists():
            write_if_changed(path, ",".join(self.fields) + "\n")
            return
        text = path.read_text(encoding="utf-8")
        if not text.endswith("\n"):  # killed mid-append: drop the partial row
            text = text[: text.rfind("\n") + 1]
            write_if_changed(path, text)
        reader = csv.DictReader(text.splitlines())
        header = tuple(reader.fieldnames or ())
        legacy = legacy if legacy is not None else (_legacy_rows() if self.fields == FIELDS else {})
        upgrade = legacy.get(header) if header != self.fields else None
        if header != self.fields and upgrade is None:
            raise ValueError(f"{path} is not a results file of this benchmark (columns {reader.fieldnames})")
        self.outdated = upgrade is not None
        for raw in reader:
            row = parse(upgrade(raw) if upgrade else raw)
            self.rows[key(row)] = row

    def append(self, row: dict) -> None:
        if self.outdated:  # an older header: rewrite every row under the current one first
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(self.fields)
            writer.writerows([old[k] for k in self.fields] for old in self.rows.values())
            write_if_changed(self.path, buffer.getvalue())
            self.outdated = False
        with open(self.path, "a", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerow([row[k] for k in self.fields])
            handle.flush()
            os.fsync(handle.fileno())
        self.rows[self.key(row)] = row


def _check_config(out_dir: Path, config: dict, keys: Sequence[str] = CONFIG_KEYS,
                  older: Mapping[str, Any] | None = None) -> None:
    """``config`` must match the folder's config.json on ``keys``; ``older`` gives the values of keys that
    a config.json written by an earlier version lacks."""
    path = out_dir / "config.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        old = {**(older or {}), **old}
        for key in keys:
            if old.get(key) != config[key]:
                raise ValueError(
                    f"{out_dir} holds a benchmark with {key}={old.get(key)!r}, not {config[key]!r}: "
                    "use another output folder or the same settings"
                )
    write_if_changed(path, json.dumps(config, indent=2) + "\n")


@dataclass
class BenchmarkResult:
    out_dir: Path
    rows: list[dict]  # the requested cells, in algorithm / problem / run order
    ran: int  # runs computed by this call
    skipped: int  # runs found finished in results.csv
    summary: Path
    plots: list[Path]
    statistics: dict
    file_rows: int = 0  # rows in results.csv, earlier calls' included
    scope: str = ""  # what summary.md and the plots cover, when not just this call's rows


def run_benchmark(algos, problems, dim: int, runs: int, evals: int, seed: int, out_dir, shifted: bool = True,
                  jobs: int = 1, progress: bool | str | None = None,
                  options: Mapping[str, Mapping] | None = None, instance: int | None = None) -> BenchmarkResult:
    """Run every (algorithm, problem, run) with ``evals`` evaluations, resuming finished runs from ``out_dir``.

    ``algos``: names or ``"name:key=value"`` entries (list or comma-separated string);
    ``problems``: names, ``f1``..``f13`` or ``"all"``; ``shifted``: optimum off the diagonal
    (default; ``False`` for the papers' classical functions); ``instance``: the shift's seed
    (default 0; shifted problems only), one problem for every run and algorithm; ``options``:
    extra options per algorithm name or label (``pop_size`` included); ``jobs > 1`` runs in
    joblib worker processes; ``progress=True`` shows a rich progress bar, ``"plain"`` plain lines.
    summary.md and the plots cover every row of results.csv when they form a complete grid with
    this call's (rows of earlier calls included), else this call's rows and say so
    (``BenchmarkResult.scope``).
    """
    dim = check_positive_int("dim", dim)
    runs = check_positive_int("runs", runs)
    evals = check_positive_int("evals", evals)
    jobs = check_positive_int("jobs", jobs)
    seed = check_run_seed(seed)
    if not isinstance(shifted, bool | np.bool_):
        raise ValueError(f"shifted must be True or False, got {shifted!r}")
    shifted = bool(shifted)
    if instance is not None and not shifted:
        raise ValueError(f"instance={instance!r} applies to shifted problems (the shift's seed); "
                         "the unshifted functions have a single instance")
    if shifted:
        instance = 0 if instance is None else instance
        if isinstance(instance, bool) or not isinstance(instance, int | np.integer) or instance < 0:
            raise ValueError(f"instance must be a non-negative integer, got {instance!r}")
        instance = int(instance)
    specs = resolve_algos(algos, options)
    problem_list = resolve_problems(problems, dim, shifted, instance)
    first = problem_registry.get(problem_list[0][0], dim, shifted=shifted, seed=instance or 0)
    for spec in specs:  # unknown algorithm or option, bad pop_size, budget below one iteration
        make(first, spec.name, seed=0, max_evals=evals, **spec.options)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(out_dir / "results.csv", legacy=_legacy_rows(seed))  # before: the shift came from seed
    kinds = {r["problem"].endswith("-shifted") for r in results.rows.values()}
    was_shifted = kinds.pop() if len(kinds) == 1 else shifted  # a config.json written before it was recorded
    _check_config(out_dir, {"dim": dim, "evals": evals, "seed": seed, "shifted": shifted, "instance": instance},
                  older={"shifted": was_shifted, "instance": seed if was_shifted else None})
    tasks = [Task(spec, key, label, r, run_seed(seed, label, r))
             for spec in specs for key, label in problem_list for r in range(runs)]
    pending = pending_tasks(results, tasks)

    def record(task: Task, row: dict, history: dict) -> None:
        path = history_path(out_dir, task.algo.slug, task.problem_label, task.run)
        write_if_changed(path, json.dumps(history) + "\n")
        results.append(row)  # the row last: a run counts as finished only once its history is on disk

    with _progress_bar(progress, len(tasks), len(tasks) - len(pending)) as advance:
        for task, (row, history) in _execute_all(pending, dim, evals, shifted, instance, jobs):
            record(task, row, history)
            advance()

    rows = [results.rows[t.key] for t in tasks]
    covered, labels, scope = summary_scope(list(results.rows.values()), rows, [s.label for s in specs],
                                           lambda r: (r["problem"], r["run"]))
    problem_labels = list(dict.fromkeys(r["problem"] for r in covered))
    run_ids = sorted({r["run"] for r in covered})
    statistics = compute_statistics(covered, labels, problem_labels)
    config = {"dim": dim, "evals": evals, "runs": len(run_ids), "seed": seed, "shifted": shifted,
              "instance": instance, "scope": scope}
    summary = out_dir / "summary.md"
    write_if_changed(summary, render_summary(statistics, config))
    plots = []
    for label in problem_labels:
        curves = {a: [_read_history(history_path(out_dir, slug(a), label, r)) for r in run_ids] for a in labels}
        f_opt = problem_registry.get(label.removesuffix("-shifted"), dim).f_opt  # a shift keeps f*
        title = f"{label}, d={dim}, {len(run_ids)} runs, {evals} evaluations"
        title += "\nmedian and inter-quartile range over runs"
        plots.append(plot_convergence(curves, out_dir / "plots" / f"{label}.png", title, f_opt))
    return BenchmarkResult(out_dir, rows, len(pending), len(tasks) - len(pending), summary, plots, statistics,
                           len(results.rows), scope)


def summary_scope(recorded: Sequence[dict], requested: Sequence[dict], algos: Sequence[str],
                  cell: Callable[[dict], tuple]) -> tuple[list[dict], list[str], str]:
    """The rows that summary.md and the plots cover, their algorithms, and a sentence saying so.

    Every row of the results file (``recorded``) when, with this call's, they form a complete grid:
    every algorithm on the same ``cell``s (a row's identity without its algorithm, e.g. problem and
    run), themselves every combination of their parts; else only ``requested``, and the sentence says
    which rows are left out and why. The sentence is empty when the file holds just ``requested``.
    """
    if len(recorded) == len(requested):
        return list(requested), list(algos), ""
    everyone = list(dict.fromkeys([*algos, *(r["algorithm"] for r in recorded)]))
    cells: dict[str, set] = {a: set() for a in everyone}
    for r in recorded:
        cells[r["algorithm"]].add(cell(r))
    shared = cells[everyone[0]]
    parts = [{c[i] for c in shared} for i in range(len(next(iter(shared))))] if shared else []
    if all(c == shared for c in cells.values()) and len(shared) == math.prod(len(p) for p in parts):
        order = {a: i for i, a in enumerate(everyone)}
        position = {c: i for i, c in enumerate(dict.fromkeys(cell(r) for r in [*requested, *recorded]))}
        covered = sorted(recorded, key=lambda r: (order[r["algorithm"]], position[cell(r)]))
        earlier = [a for a in everyone if a not in algos]
        also = f", and {', '.join(earlier)} from earlier calls" if earlier else ""
        return covered, everyone, (f"summary.md and the plots cover all {len(recorded)} rows of results.csv "
                                   f"({len(requested)} of them asked for by this call): {', '.join(algos)}{also}")
    others = sorted({r["algorithm"] for r in recorded} - set(algos))
    extra = f"; other algorithms there: {', '.join(others)}" if others else ""
    return list(requested), list(algos), (
        f"summary.md and the plots cover only the {len(requested)} rows this call asked for ({', '.join(algos)}): "
        f"results.csv holds {len(recorded)} rows, which do not all form a complete grid with them (every "
        f"algorithm on the same problems, instances and runs){extra}; run with all of them to summarize everything")


def _execute_all(pending: Sequence[Task], dim, evals, shifted, instance, jobs):
    yield from run_tasks(lambda task: execute(task, dim, evals, shifted, instance), pending, jobs)


def run_tasks(function: Callable, pending: Sequence, jobs: int):
    """``(task, function(task))`` for every task, in joblib worker processes when ``jobs > 1`` (any order)."""
    if jobs == 1 or len(pending) <= 1:
        for task in pending:
            yield task, function(task)
        return
    from joblib import Parallel, delayed

    def run_one(task):
        return task, function(task)

    parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
    yield from parallel(delayed(run_one)(task) for task in pending)


class _progress_bar:  # noqa: N801  (used as a context manager)
    """Progress over all runs (finished ones counted as done) on stderr: a rich bar for
    ``enabled=True``, a plain line every 10 s (and at the end) for ``"plain"`` (CI logs), nothing
    when falsy."""

    def __init__(self, enabled: bool | str | None, total: int, completed: int, label: str = "benchmark runs"):
        self.mode = "plain" if enabled == "plain" else bool(enabled)
        self.total, self.completed, self.label = total, completed, label

    def __enter__(self) -> Callable[[], None]:
        if self.mode == "plain":
            return self._plain()
        if not self.mode:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn())
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total, completed=self.completed)
        return lambda: self.bar.advance(task)

    def _plain(self) -> Callable[[], None]:
        import sys
        import time

        start, last, done, first = time.perf_counter(), [0.0], [self.completed], self.completed

        def advance() -> None:
            done[0] += 1
            now = time.perf_counter()
            if now - last[0] < 10 and done[0] < self.total:
                return
            last[0], elapsed = now, now - start
            eta = elapsed / (done[0] - first) * (self.total - done[0])
            print(f"{self.label} {done[0]}/{self.total}  {elapsed:.0f} s  ETA {eta:.0f} s", file=sys.stderr,
                  flush=True)

        return advance

    def __exit__(self, *exc) -> None:
        if self.mode is True:
            self.bar.stop()


def _read_history(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return np.asarray(data["nfev"], dtype=float), np.asarray(data["best"], dtype=float)


# ---------------------------------------------------------------------------- statistics


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment: ``p_(i) * (m - i + 1)``, made monotone, capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    scaled = np.minimum(1.0, p[order] * (p.size - np.arange(p.size)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def rank_sum(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Two-sided Wilcoxon rank-sum (Mann-Whitney U) test of x against y: ``(p, A)``.

    ``scipy.stats.mannwhitneyu``: exact p for small samples without ties, else the normal
    approximation with tie and continuity corrections (``ranksums`` has no tie correction,
    and ties are common here: exact zeros). ``A = U / (n_x n_y)`` is the Vargha-Delaney
    effect size, the probability that a value of x exceeds one of y (ties count half):
    ``A > 0.5`` means x tends to be larger, i.e. worse for minimization.
    """
    from scipy.stats import mannwhitneyu

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.ptp(np.concatenate([x, y])) == 0:
        return 1.0, 0.5
    test = mannwhitneyu(x, y, alternative="two-sided", method="auto")
    return float(test.pvalue), float(test.statistic) / (x.size * y.size)


def friedman(matrix: np.ndarray) -> dict:
    """Friedman test over blocks (rows) and treatments (columns); ranks 1 = lowest value, ties averaged."""
    from scipy.stats import friedmanchisquare, rankdata

    ranks = rankdata(matrix, axis=1)
    out = {"mean_ranks": ranks.mean(axis=0), "blocks": matrix.shape[0], "statistic": np.nan, "p": np.nan}
    if matrix.shape[1] >= 3 and matrix.shape[0] >= 2:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            test = friedmanchisquare(*matrix.T)
        out["statistic"], out["p"] = float(test.statistic), float(test.pvalue)
    return out


def compute_statistics(rows: Sequence[dict], algos: Sequence[str], problems: Sequence[str],
                       reference: str = REFERENCE) -> dict:
    """Per-cell statistics, rank-sum tests against ``reference`` (Holm per problem), Friedman tests."""
    values = {(a, p): np.array(sorted((r["run"], r["best_fitness"]) for r in rows
                                      if r["algorithm"] == a and r["problem"] == p))[:, 1]
              for a in algos for p in problems}
    nfev = {(a, p): max(r["nfev"] for r in rows if r["algorithm"] == a and r["problem"] == p)
            for a in algos for p in problems}
    cells = {
        key: {"mean": v.mean(), "std": v.std(ddof=1) if v.size > 1 else np.nan, "median": np.median(v),
              "best": v.min(), "n": v.size, "nfev": nfev[key]}
        for key, v in values.items()
    }
    tests: dict[tuple[str, str], dict] = {}
    has_reference = reference in algos
    if has_reference:
        others = [a for a in algos if a != reference]
        for p in problems:
            results = [rank_sum(values[(a, p)], values[(reference, p)]) for a in others]
            adjusted = holm([pv for pv, _ in results]) if results else np.zeros(0)
            for a, (pv, effect), padj in zip(others, results, adjusted, strict=True):
                outcome = "=" if padj >= ALPHA else ("+" if effect > 0.5 else "-")  # + : reference better
                tests[(a, p)] = {"p": pv, "p_holm": float(padj), "A": effect, "outcome": outcome}
    by_problem = np.array([[cells[(a, p)]["mean"] for a in algos] for p in problems])
    runs = min(c["n"] for c in cells.values())
    by_run = np.array([[values[(a, p)][r] for a in algos] for p in problems for r in range(runs)])
    return {
        "algorithms": list(algos), "problems": list(problems), "reference": reference if has_reference else None,
        "cells": cells, "tests": tests, "friedman_problems": friedman(by_problem), "friedman_runs": friedman(by_run),
    }


def _num(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3e}"


def _p(value: float) -> str:
    return "n/a" if not np.isfinite(value) else (f"{value:.2e}" if value < 1e-3 else f"{value:.3f}")


def smallest_p(runs: int, comparisons: int = 1) -> float:
    """The smallest Holm-adjusted p of a two-sided rank-sum test with ``runs`` values per side, no ties."""
    return min(1.0, comparisons * 2 / math.comb(2 * runs, runs))


def _too_few_runs(runs: int, comparisons: int) -> list[str]:
    """A warning paragraph when no rank-sum outcome can be significant at ``ALPHA`` with ``runs`` runs."""
    if comparisons < 1 or smallest_p(runs, comparisons) < ALPHA:
        return []
    needed = next(n for n in range(runs + 1, 10_000) if smallest_p(n, comparisons) < ALPHA)
    holm_part = f", times {comparisons} comparisons for Holm" if comparisons > 1 else ""
    return ["", f"**Too few runs for the rank-sum tests:** with {runs} runs per cell the smallest two-sided p "
            f"(exact, no ties) is 2/C({2 * runs},{runs}){holm_part} = {smallest_p(runs, comparisons):.3f}, not "
            f"below alpha = {ALPHA}: ties aside, no outcome below can be `+` or `-`, whatever the algorithms do. "
            f"Use at least {needed} runs."]


def _setting(config: dict) -> str:
    if not config["shifted"]:
        return "unshifted problems (the classical functions)"
    instance = config.get("instance")
    return "shifted problems" + ("" if instance is None else f" (instance {instance}: the shift's seed, the same for "
                                                              "every run)")


def render_summary(stats: dict, config: dict) -> str:
    """The Markdown report of ``compute_statistics``."""
    algos, problems, ref = stats["algorithms"], stats["problems"], stats["reference"]
    lines = [
        "# Benchmark summary", "",
        f"d = {config['dim']}, {config['evals']} evaluations per run, {config['runs']} runs per cell, "
        f"seed {config['seed']}, {_setting(config)}. "
        "Each run seed comes from (seed, problem, run) and is shared by all algorithms.", "",
        *([f"**Scope:** {config['scope']}.", ""] if config.get("scope") else []),
        "Statistics of the best fitness per run: mean, std (ddof = 1), median, best (minimum); nfev: the most "
        "evaluations a run of the cell used (never more than the budget: a run's last iteration evaluates only "
        "what is left of it).",
    ]
    if ref:
        lines += [
            f"Wilcoxon rank-sum test (two-sided, `scipy.stats.mannwhitneyu`: exact for small samples without ties, "
            f"else normal approximation with tie correction) of each algorithm against {ref}, Holm-corrected over "
            f"the {len(algos) - 1} comparisons of each problem, alpha = {ALPHA}. "
            f"A = P(algorithm > {ref}) + P(tie)/2 (Vargha-Delaney; > 0.5: the algorithm tends to be worse). "
            f"Outcome: `+` {ref} significantly better, `-` significantly worse, `=` no significant difference.",
        ]
        lines += _too_few_runs(min(c["n"] for c in stats["cells"].values()), len(algos) - 1)
    else:
        lines.append(f"No rank-sum tests: {REFERENCE} is not among the algorithms.")
    for p in problems:
        lines += ["", f"## {p}", ""]
        header = "| algorithm | mean | std | median | best | nfev |"
        rule = "|---|---:|---:|---:|---:|---:|"
        if ref:
            header += f" p vs {ref} | p (Holm) | A | outcome |"
            rule += "---:|---:|---:|:---:|"
        lines += [header, rule]
        for a in algos:
            c = stats["cells"][(a, p)]
            line = (f"| {a} | {_num(c['mean'])} | {_num(c['std'])} | {_num(c['median'])} | {_num(c['best'])} "
                    f"| {c['nfev']} |")
            if ref:
                t = stats["tests"].get((a, p))
                line += " (reference) | | | |" if t is None else (
                    f" {_p(t['p'])} | {_p(t['p_holm'])} | {t['A']:.2f} | {t['outcome']} |")
            lines.append(line)
    if ref and len(algos) > 1:
        lines += ["", f"## Rank-sum outcomes against {ref} over {len(problems)} problems", "",
                  f"| algorithm | {ref} better (+) | no difference (=) | {ref} worse (-) |", "|---|---:|---:|---:|"]
        for a in algos:
            if a == ref:
                continue
            outcomes = [stats["tests"][(a, p)]["outcome"] for p in problems]
            lines.append(f"| {a} | {outcomes.count('+')} | {outcomes.count('=')} | {outcomes.count('-')} |")
    fp, fr = stats["friedman_problems"], stats["friedman_runs"]
    lines += [
        "", "## Friedman test and mean ranks", "",
        "`scipy.stats.friedmanchisquare`; rank 1 = lowest (best) value, ties share the average rank. "
        f"Across problems: blocks are the {fp['blocks']} problems, values the mean best fitness per cell "
        "(the usual comparison over a benchmark suite; few problems give little power). "
        f"Across runs: blocks are the {fr['blocks']} (problem, run) pairs, values the best fitness of each run.", "",
        "| algorithm | mean rank across problems | mean rank across (problem, run) |", "|---|---:|---:|",
    ]
    for i in np.argsort(fp["mean_ranks"], kind="stable"):
        lines.append(f"| {algos[i]} | {fp['mean_ranks'][i]:.2f} | {fr['mean_ranks'][i]:.2f} |")
    lines.append("")
    for label, f in (("across problems", fp), ("across (problem, run)", fr)):
        if len(algos) < 3 or f["blocks"] < 2:
            lines.append(f"- Friedman {label}: not computed (needs >= 3 algorithms and >= 2 blocks).")
        elif not np.isfinite(f["statistic"]):
            lines.append(f"- Friedman {label}: not defined (every block is a complete tie).")
        else:
            lines.append(f"- Friedman {label}: chi2 = {f['statistic']:.3f}, df = {len(algos) - 1}, "
                         f"p = {_p(f['p'])}.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- engineering suite

ENGINEERING_FIELDS = ("algorithm", "problem", "run", "seed", "best_fitness", "violation", "feasible", "nfev",
                      "wall_time_s", "x")
ENGINEERING_CONFIG_KEYS = ("suite", "evals", "seed")


def _parse_engineering_row(raw: dict) -> dict:
    return {**raw, "run": int(raw["run"]), "seed": int(raw["seed"]), "nfev": int(raw["nfev"]),
            "best_fitness": float(raw["best_fitness"]), "violation": float(raw["violation"]),
            "feasible": raw["feasible"] in ("True", "true", "1", True), "wall_time_s": float(raw["wall_time_s"])}


def resolve_engineering(problems: str | Iterable) -> list[str]:
    """Engineering problem keys; ``"all"`` is the whole suite (:func:`scpo.problems.engineering_names`)."""
    items = _as_list(problems, "problems")
    if len(items) == 1 and str(items[0]).lower() == "all":
        return problem_registry.engineering_names()
    return list(dict.fromkeys(problem_registry.engineering(str(name)).name for name in items))


def execute_engineering(task: Task, evals: int) -> dict:
    """One constrained run: its results.csv row (the best point by Deb's rules, its violation)."""
    problem = problem_registry.engineering(task.problem)
    result = minimize(problem, algorithm=task.algo.name, max_evals=evals, seed=task.seed, **task.algo.options)
    violation = float(result.constraint_violation)
    x = "" if result.x is None else " ".join(repr(float(v)) for v in result.x)
    return {"algorithm": task.algo.label, "problem": task.problem_label, "run": task.run, "seed": task.seed,
            "best_fitness": float(result.fun), "violation": violation, "feasible": bool(violation <= 0.0),
            "nfev": int(result.nfev), "wall_time_s": round(result.wall_time_s, 6), "x": x}


def check_run_seed(seed) -> int:
    """A benchmark's base seed: a non-negative integer (``None`` is not one: a benchmark is reproducible)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def pending_tasks(results: ResultsFile, tasks: list) -> list:
    """The tasks results.csv does not hold yet; a held run with another seed is a one-line ValueError (the
    file belongs to another setting)."""
    for task in tasks:
        done = results.rows.get(task.key)
        if done is not None and done["seed"] != task.seed:
            raise ValueError(f"{results.path} has run {task.key} with seed {done['seed']}, expected {task.seed}")
    return [t for t in tasks if t.key not in results.rows]


def run_pending(results: ResultsFile, tasks: list, execute: Callable, jobs: int, progress) -> tuple[list[dict], int]:
    """Run the tasks results.csv lacks (``execute(task) -> row``, on ``jobs`` processes, with a progress bar),
    appending each row as it finishes; returns every task's row in task order and how many were run."""
    pending = pending_tasks(results, tasks)
    with _progress_bar(progress, len(tasks), len(tasks) - len(pending)) as advance:
        for _, row in run_tasks(execute, pending, jobs):
            results.append(row)
            advance()
    return [results.rows[t.key] for t in tasks], len(pending)


def run_engineering(algos, problems="all", runs: int = 30, evals: int = 20000, seed: int = 0,
                    out_dir="engineering", jobs: int = 1, progress: bool | str | None = None,
                    options: Mapping[str, Mapping] | None = None) -> BenchmarkResult:
    """Every (algorithm, engineering problem, run) with ``evals`` evaluations, resumable, feasibility-aware.

    The constrained design problems of :mod:`scpo.engineering` (``problems``: names or ``"all"``).
    results.csv holds per run the best point by Deb's feasibility rules, its ``f``, its total
    violation and whether it is feasible; summary.md gives per cell the feasible-run rate, the
    median, best and worst ``f`` over the feasible runs, their gap to the best-known value in %, and
    the violation of the infeasible runs (:func:`engineering_statistics`). An infeasible run's ``f``
    is never mixed into the statistics of ``f``: it is not a design.
    """
    runs = check_positive_int("runs", runs)
    evals = check_positive_int("evals", evals)
    jobs = check_positive_int("jobs", jobs)
    seed = check_run_seed(seed)
    specs = resolve_algos(algos, options)
    keys = resolve_engineering(problems)
    first = problem_registry.engineering(keys[0])
    for spec in specs:  # unknown algorithm or option, bad pop_size, budget below one iteration
        make(first, spec.name, seed=0, max_evals=evals, **spec.options)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_config(out_dir, {"suite": "engineering", "evals": evals, "seed": seed}, ENGINEERING_CONFIG_KEYS)
    results = ResultsFile(out_dir / "results.csv", ENGINEERING_FIELDS, _parse_engineering_row, _row_key)
    tasks = [Task(spec, key, key, r, run_seed(seed, key, r)) for spec in specs for key in keys for r in range(runs)]
    rows, ran = run_pending(results, tasks, lambda task: execute_engineering(task, evals), jobs, progress)
    covered, labels, scope = summary_scope(list(results.rows.values()), rows, [s.label for s in specs],
                                           lambda r: (r["problem"], r["run"]))
    problem_keys = list(dict.fromkeys(r["problem"] for r in covered))
    statistics = engineering_statistics(covered, labels, problem_keys)
    config = {"evals": evals, "seed": seed, "runs": len({r["run"] for r in covered}), "scope": scope}
    summary = out_dir / "summary.md"
    write_if_changed(summary, render_engineering_summary(statistics, config))
    return BenchmarkResult(out_dir, rows, ran, len(tasks) - ran, summary, [], statistics,
                           len(results.rows), scope)


def engineering_statistics(rows: Sequence[dict], algos: Sequence[str], problems: Sequence[str]) -> dict:
    """Per (algorithm, problem): runs, feasible runs, median / best / worst ``f`` over the feasible runs
    and their gaps to the best-known value in % (NaN where no run was feasible), and the median and
    largest violation of the infeasible runs (NaN where every run was feasible)."""
    cells = {}
    for p in problems:
        f_opt = problem_registry.designs.design(p).f_opt
        for a in algos:
            mine = [r for r in rows if r["algorithm"] == a and r["problem"] == p]
            f = np.array([r["best_fitness"] for r in mine if r["feasible"]], dtype=float)
            v = np.array([r["violation"] for r in mine if not r["feasible"]], dtype=float)
            median, best, worst = (float(g(f)) if f.size else math.nan for g in (np.median, np.min, np.max))
            cells[(a, p)] = {
                "runs": len(mine), "feasible": int(f.size), "median": median, "best": best, "worst": worst,
                "gap_median_pct": 100.0 * (median - f_opt) / abs(f_opt),
                "gap_best_pct": 100.0 * (best - f_opt) / abs(f_opt),
                "violation_median": float(np.median(v)) if v.size else math.nan,
                "violation_max": float(v.max()) if v.size else math.nan,
                "nfev": max((r["nfev"] for r in mine), default=0), "f_opt": f_opt,
            }
    return {"algorithms": list(algos), "problems": list(problems), "cells": cells}


def _gap(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.3f}"


def _f(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.6g}"


def render_engineering_summary(stats: dict, config: dict) -> str:
    """The Markdown report of :func:`engineering_statistics`."""
    algos, problems, cells = stats["algorithms"], stats["problems"], stats["cells"]
    lines = [
        "# Engineering design benchmark", "",
        f"{config['evals']} evaluations per run, {config['runs']} runs per cell, seed {config['seed']}. "
        "Each run seed comes from (seed, problem, run) and is shared by all algorithms. Every comparison inside a "
        "run follows Deb's feasibility rules; a run's result is its best point by those rules.", "",
        *([f"**Scope:** {config['scope']}.", ""] if config.get("scope") else []),
        "feasible: runs whose result satisfies every constraint (total violation 0). median, best, worst: f over "
        "the feasible runs only (n/a when none); gap: (f - f*) / |f*| in %, f* the best-known value (a negative "
        "gap is within the rounding of the published point). violation: the total violation (sum of the positive "
        "constraint values, in the constraints' own units) of the infeasible runs, median and largest.",
        "", "## Median gap to the best-known value (%), feasible runs", "",
        "| problem | f* | " + " | ".join(algos) + " |", "|---|---:|" + "---:|" * len(algos),
    ]
    for p in problems:
        row = [f"{_gap(cells[(a, p)]['gap_median_pct'])} ({cells[(a, p)]['feasible']}/{cells[(a, p)]['runs']})"
               for a in algos]
        lines.append(f"| {p} | {_f(cells[(algos[0], p)]['f_opt'])} | " + " | ".join(row) + " |")
    lines += ["", "(in parentheses: feasible runs / runs)"]
    for p in problems:
        lines += ["", f"## {p}", "", "| algorithm | feasible | median f | best f | worst f | gap median % "
                  "| gap best % | violation (median, max) of infeasible runs | nfev |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for a in algos:
            c = cells[(a, p)]
            violation = "" if not np.isfinite(c["violation_median"]) else (
                f"{c['violation_median']:.3g}, {c['violation_max']:.3g}")
            lines.append(f"| {a} | {c['feasible']}/{c['runs']} | {_f(c['median'])} | {_f(c['best'])} "
                         f"| {_f(c['worst'])} | {_gap(c['gap_median_pct'])} | {_gap(c['gap_best_pct'])} "
                         f"| {violation} | {c['nfev']} |")
    return "\n".join(lines) + "\n"
