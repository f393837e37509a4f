"""COCO's BBOB suite: runtimes to the 51 standard targets, runtime ECDFs, aRT (``scpo benchmark --suite bbob``).

The functions are COCO's own (``coco-experiment``, ``cocoex.BareProblem``: the functions
of ``cocoex.Suite("bbob")``, with COCO's optimum ``best_value()``), or with ``coco=False``
(``--no-coco``) the same functions vectorized in numpy (:mod:`scpo.bbob_functions`, checked
against cocoex; on large calls, cocoex on small ones: :class:`BatchEvaluator`), which writes no COCO data:
``cocoex.Observer`` needs cocoex's own problem. Both give the same rows (tested). Every run goes through the engine
(``scpo.minimize``) or, for ``ng:<name>`` entries, through nevergrad's ask/tell (the
``peers`` extra), and every evaluation through one :class:`TargetRecorder`, which notes
the evaluation at which each target precision was first reached.

``run_bbob`` writes into ``out_dir``:

- ``config.json``: budget multiplier and seed; a later call on the same folder must match;
- ``results.csv``: one row per (algorithm, function, dim, instance, run): ``precision``
  (best ``f - f_opt`` within the budget), ``nfev`` (evaluations counted, at most the
  budget), wall seconds, the seed, and one column per target ``10^(2 - k/5)``, k = 0..50
  (``evals_1e+2.0`` .. ``evals_1e-8.0``): the evaluation at which the target was first
  reached, empty when never. Appended with fsync as runs finish: an interrupted run resumes;
- ``ecdf.png``: runtime ECDFs per dimension (rows), over all functions and per BBOB group
  (columns), one line per algorithm;
- ``summary.md``: aRT per function for a few targets, fraction of targets reached;
- ``coco/<algorithm>/<run>/``: COCO's own data format, written by ``cocoex.Observer`` as the run
  evaluates (exactly the evaluations counted against the budget), so that COCO's post-processing
  reads it offline: ``python -m cocopp OUT/coco/scpo OUT/coco/cmaes`` (``cocopp``, in the ``bbob``
  extra). One folder per run, so parallel workers and resumed runs never share one, written in a
  short temporary folder and moved there when the run ends (cocoex aborts the process on long
  paths); only runs computed by a version that writes them have it.

Budget: ``budget_multiplier x dim`` evaluations. Evaluations an algorithm makes past the
budget (PO and SCPO round their iteration count, see the README) are computed but not
counted: no target can be reached with them and they do not enter ``precision``.
Seeds: one seed per (function, dim, instance, run), shared by all algorithms
(``scpo.benchmark.run_seed``).
"""

from __future__ import annotations

import io
import math
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scpo.benchmark import (
    AlgoSpec,
    ResultsFile,
    _check_config,
    check_run_seed,
    resolve_algos,
    run_pending,
    run_seed,
    summary_scope,
)
from scpo.engine import make, minimize
from scpo.io import write_if_changed
from scpo.options import literal
from scpo.problem import Problem

FUNCTIONS = tuple(range(1, 25))
DIMS = (2, 3, 5, 10, 20, 40)  # the bbob suite's dimensions
MAX_INSTANCE = 10_000
LOWER, UPPER = -5.0, 5.0  # BBOB's search domain; every optimum lies in [-4, 4]^d
EXPONENTS = tuple(round(2 - k / 5, 1) for k in range(51))  # targets 10^2 .. 10^-8
TARGETS = np.array([10.0**e for e in EXPONENTS])
TARGET_FIELDS = tuple(f"evals_1e{e:+.1f}" for e in EXPONENTS)
FIELDS = ("algorithm", "function", "dim", "instance", "run", "seed", "precision", "nfev", "wall_time_s",
          *TARGET_FIELDS)
CONFIG_KEYS = ("budget_multiplier", "seed")
GROUPS = {
    "separable (f1-f5)": range(1, 6),
    "moderate (f6-f9)": range(6, 10),
    "ill-conditioned (f10-f14)": range(10, 15),
    "multimodal (f15-f19)": range(15, 20),
    "weakly structured (f20-f24)": range(20, 25),
}
ART_EXPONENTS = (1.0, -1.0, -3.0, -8.0)  # targets shown in summary.md's aRT tables
PEER_PREFIX = "ng:"
INSTALL_BBOB = "pip install 'scpo[bbob]'"
INSTALL_PEERS = "pip install 'scpo[peers]'"


# ---------------------------------------------------------------------------- inputs


def parse_ints(value: str | int | Iterable, what: str, allowed: Sequence[int] | None = None,
               minimum: int = 1, maximum: int | None = None) -> list[int]:
    """``"1-5,8"`` -> [1, 2, 3, 4, 5, 8] (also a list of ints); sorted, duplicates dropped."""
    if isinstance(value, str):
        numbers: list[int] = []
        for part in [p.strip() for p in value.split(",")]:
            match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
            if not match:
                raise ValueError(f"bad {what} {part!r} in {value!r}: expected numbers and ranges such as 1-5,8")
            low, high = int(match[1]), int(match[2] or match[1])
            if high < low:
                raise ValueError(f"bad {what} range {part!r}: the end is below the start")
            numbers += range(low, high + 1)
    else:
        items = [value] if isinstance(value, int | np.integer) else list(value)
        if any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in items):
            raise ValueError(f"{what} must be integers, got {value!r}")
        numbers = [int(v) for v in items]
    if not numbers:
        raise ValueError(f"no {what} given")
    for n in numbers:
        if allowed is not None and n not in allowed:
            raise ValueError(f"unknown {what} {n}; BBOB has {_ranges(allowed)}")
        if n < minimum or (maximum is not None and n > maximum):
            raise ValueError(f"unknown {what} {n}; choose from {minimum}-{maximum}")
    return sorted(set(numbers))


def _ranges(values: Sequence[int]) -> str:
    values = list(values)
    return f"{values[0]}-{values[-1]}" if values == list(range(values[0], values[-1] + 1)) else \
        ",".join(map(str, values))


def cocoex_module():
    """``cocoex``, or a one-line error naming the extra that installs it."""
    try:
        import cocoex
    except ImportError:
        raise ImportError(f"--suite bbob needs coco-experiment (the cocoex module): {INSTALL_BBOB}") from None
    return cocoex


def nevergrad_module():
    try:
        import nevergrad
    except ImportError:
        raise ImportError(f"ng: algorithms need nevergrad: {INSTALL_PEERS}") from None
    return nevergrad


def resolve_entries(algos: str | Iterable) -> list[AlgoSpec]:
    """Our algorithms as ``scpo.benchmark`` parses them, and ``ng:<Name>`` nevergrad optimizers (case kept)."""
    items = [s.strip() for s in algos.split(",")] if isinstance(algos, str) else list(algos)
    entries = []
    for item in items:
        if isinstance(item, str) and item.lower().startswith(PEER_PREFIX):
            name, *parts = item[len(PEER_PREFIX):].split(":")
            options = {}
            for part in parts:
                key, sep, value = part.partition("=")
                if not sep or not key.strip():
                    raise ValueError(f"bad option {part!r} in algorithm {item!r}: expected key=value")
                options[key.strip()] = literal(value)
            registry = nevergrad_module().optimizers.registry
            if name.strip() not in registry:
                close = [n for n in registry if n.lower() == name.strip().lower()]
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown nevergrad optimizer {name.strip()!r}{hint}")
            entries.append(AlgoSpec(PEER_PREFIX + name.strip(), options))
        elif not (isinstance(item, str) and not item):
            entries.append(item)
    return resolve_algos(entries)


def is_peer(spec: AlgoSpec) -> bool:
    return spec.name.startswith(PEER_PREFIX)


def is_peer_label(label: str) -> bool:
    return label.startswith(PEER_PREFIX)


# ---------------------------------------------------------------------------- runs


class TargetRecorder:
    """The objective every run sees: COCO's function on a population, counting evaluations.

    Row ``i`` of a call is evaluation ``nfev + i + 1``; rows past ``budget`` are evaluated
    but not counted. ``hits[k]`` is the first counted evaluation whose precision
    ``f - f_opt`` is <= ``TARGETS[k]`` (0 while never). ``observed``: COCO's problem observed by a
    ``cocoex.Observer`` (one vector at a time); the counted rows are evaluated through it, so that
    COCO's data holds exactly the evaluations counted here.
    """

    def __init__(self, function, f_opt: float, budget: int, observed=None):
        self.function, self.f_opt, self.budget = function, float(f_opt), int(budget)
        self.observed = observed
        self.nfev = 0
        self.best = math.inf
        self.hits = np.zeros(TARGETS.size, dtype=np.int64)

    def __call__(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        counted = max(0, min(len(X), self.budget - self.nfev))
        if self.observed is None:
            f = np.asarray(self.function(X), dtype=float).reshape(-1)
        else:  # COCO's observer logs every counted evaluation, one row at a time; rows past the budget it never sees
            f = np.empty(len(X))
            f[:counted] = [self.observed(x) for x in X[:counted]]
            if counted < len(X):
                f[counted:] = np.asarray(self.function(X[counted:]), dtype=float).reshape(-1)
        if counted:
            running = np.minimum.accumulate(np.minimum(f[:counted] - self.f_opt, self.best))
            open_ = self.hits == 0
            reached = running[-1] <= TARGETS
            new = open_ & reached
            if new.any():  # first row of the call at or below each newly reached target
                first = np.argmax(running[:, None] <= TARGETS[None, new], axis=0)
                self.hits[new] = self.nfev + first + 1
            self.best = float(running[-1])
        self.nfev += counted
        return f


@dataclass(frozen=True)
class Task:
    algo: AlgoSpec
    function: int
    dim: int
    instance: int
    run: int
    seed: int

    @property
    def key(self) -> tuple:
        return (self.algo.label, self.function, self.dim, self.instance, self.run)


NUMPY_MIN_BATCH = 1024  # --no-coco: numbers (rows x dim) from which a call goes to numpy rather than cocoex


class BatchEvaluator:
    """``--no-coco``'s evaluator: calls of at least ``NUMPY_MIN_BATCH`` numbers go to the numpy function of
    :mod:`scpo.bbob_functions`, smaller ones to cocoex where it is installed.

    Measured on a 2-core VM (experiments/results/bbob_full_cost.md): both spend about the same per
    transcendental (numpy has no SIMD sin/log/exp on AVX2), so numpy's fixed cost per ufunc call (about 25
    calls per evaluation) loses on small calls (SCPO's 8 rows, d <= 20) and wins on large ones (d = 40, 30
    rows or more: 1-10x, most on the functions dominated by rotations). The rule depends on the call's size
    alone, so a run is reproducible; both evaluators agree to rounding (tests/test_bbob_functions.py)."""

    def __init__(self, ours, bare=None):
        self.ours, self.bare = ours, bare

    def __call__(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if self.bare is None or X.size >= NUMPY_MIN_BATCH:
            return self.ours(X)
        return self.bare(X)

    def __str__(self) -> str:
        return str(self.ours)


def coco_function(function: int, dim: int, instance: int, coco: bool = True):
    """The BBOB function (called on rows) and its optimal value: COCO's own (``cocoex.BareProblem``), or with
    ``coco=False`` a :class:`BatchEvaluator` (the numpy function of :mod:`scpo.bbob_functions` on large calls,
    where ``VECTORIZED`` lists the function; cocoex, if installed, on small ones)."""
    if not coco:
        from scpo.bbob_functions import VECTORIZED, bbob_function

        if function in VECTORIZED:
            ours = bbob_function(function, dim, instance)
            try:
                bare = cocoex_module().BareProblem("bbob", function, dim, instance)
            except ImportError:
                bare = None
            return BatchEvaluator(ours, bare), float(ours.best_value())
    bare = cocoex_module().BareProblem("bbob", function, dim, instance)
    return bare, float(bare.best_value())


def coco_folder(coco_dir: Path, task: Task) -> Path:
    """Where ``cocoex.Observer`` writes ``task``'s run: one folder per run (parallel workers and resumed runs
    never share one), under one folder per algorithm, which ``python -m cocopp`` reads as one algorithm."""
    return Path(coco_dir) / task.algo.slug / f"f{task.function:03d}_d{task.dim:02d}_i{task.instance:02d}_r{task.run}"


COCO_TEMP_MAX = 60  # cocoex aborts the process ("coco_vstrdupf(): string is too long") on long paths


def coco_temp_problem() -> str | None:
    """Why cocoex's observer cannot write in the temporary folder (its options are split on whitespace, and a
    long path aborts the whole process), or None."""
    temp = tempfile.gettempdir()
    if re.search(r"\s", temp) or len(temp) > COCO_TEMP_MAX - len("/scpo-coco-xxxxxxxx"):
        return f"the temporary folder {temp!r} holds whitespace or is too long for cocoex (set TMPDIR=/tmp)"
    return None


def observed_problem(task: Task):
    """COCO's suite problem of ``task``, observed by a ``cocoex.Observer`` that writes into a short temporary
    folder (cocoex aborts on long paths), with the observer, the suite (both must outlive the problem: a
    problem whose suite was freed writes a blank suite name) and that folder."""
    cocoex = cocoex_module()
    cocoex.log_level("warning")  # no "Results will be output to folder" line per run
    temp = Path(tempfile.mkdtemp(prefix="scpo-coco-"))
    observer = cocoex.Observer("bbob", f"outer_folder: {temp} result_folder: run algorithm_name: {task.algo.slug} "
                                       f"algorithm_info: scpo_{task.algo.slug}")
    suite = cocoex.Suite("bbob", f"instances: {task.instance}",
                         f"function_indices: {task.function} dimensions: {task.dim}")
    problem = suite.get_problem_by_function_dimension_instance(task.function, task.dim, task.instance)
    problem.observe_with(observer)
    return problem, observer, suite, temp


def execute(task: Task, budget_multiplier: float, coco_dir: Path | None = None, coco: bool = True) -> dict:
    """One run: its results.csv row; with ``coco_dir``, COCO's own data of the run too (cocoex.Observer);
    ``coco=False``: evaluated by :mod:`scpo.bbob_functions` (no COCO data then)."""
    budget = budget_of(budget_multiplier, task.dim)
    bare, f_opt = coco_function(task.function, task.dim, task.instance, coco)
    if not coco:
        coco_dir = None
    observed = keep = temp = None
    if coco_dir is not None:
        observed, *keep, temp = observed_problem(task)
    recorder = TargetRecorder(bare, f_opt, budget, observed)
    start = time.perf_counter()
    try:
        if is_peer(task.algo):
            run_nevergrad(task.algo, recorder, task.dim, budget, task.seed)
        else:
            problem = Problem(recorder, LOWER, UPPER, dim=task.dim, vectorized=True, name=str(bare), f_opt=f_opt)
            minimize(problem, algorithm=task.algo.name, max_evals=budget, seed=task.seed, **task.algo.options)
        if observed is not None and coco_dir is not None and temp is not None:
            observed.free()  # flushes COCO's files
            observed = None
            folder = coco_folder(coco_dir, task)
            shutil.rmtree(folder, ignore_errors=True)  # an unfinished earlier attempt's
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(temp / "run", folder)
    finally:
        if observed is not None:
            observed.free()
        del keep  # the observer and the suite, after the problem
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    wall = time.perf_counter() - start
    row = {"algorithm": task.algo.label, "function": task.function, "dim": task.dim, "instance": task.instance,
           "run": task.run, "seed": task.seed, "precision": recorder.best, "nfev": recorder.nfev,
           "wall_time_s": round(wall, 6)}
    row.update({name: (int(h) if h else "") for name, h in zip(TARGET_FIELDS, recorder.hits, strict=True)})
    return row


def run_nevergrad(spec: AlgoSpec, recorder: TargetRecorder, dim: int, budget: int, seed: int) -> None:
    """nevergrad's optimizer ``spec`` on the box, one candidate at a time, ``budget`` evaluations.

    The box is ``set_bounds(-5, 5, method="clipping")``: candidates are clipped into it, as
    our algorithms clip theirs. (nevergrad's default for ``Array(lower=, upper=)`` maps the
    optimizer's space into the box instead; with it ng:PSO fell below random search on f1.)
    """
    ng = nevergrad_module()
    parametrization = peer_box(ng, dim)
    parametrization.random_state = np.random.RandomState(seed % 2**32)
    optimizer = ng.optimizers.registry[spec.name[len(PEER_PREFIX):]](
        parametrization=parametrization, budget=budget, num_workers=1, **spec.options)
    while recorder.nfev < budget:
        candidate = optimizer.ask()
        optimizer.tell(candidate, float(recorder(candidate.value[None, :])[0]))


def peer_box(ng, dim: int):
    return ng.p.Array(shape=(dim,)).set_bounds(LOWER, UPPER, method="clipping")


def budget_of(budget_multiplier: float, dim: int) -> int:
    return int(math.floor(budget_multiplier * dim + 1e-9))


def parse_row(raw: dict) -> dict:
    row = {**raw, "function": int(raw["function"]), "dim": int(raw["dim"]), "instance": int(raw["instance"]),
           "run": int(raw["run"]), "seed": int(raw["seed"]), "precision": float(raw["precision"]),
           "nfev": int(raw["nfev"]), "wall_time_s": float(raw["wall_time_s"])}
    for name in TARGET_FIELDS:
        row[name] = int(raw[name]) if raw[name] else ""
    return row


def row_key(row: dict) -> tuple:
    return (row["algorithm"], row["function"], row["dim"], row["instance"], row["run"])


@dataclass
class BBOBResult:
    out_dir: Path
    rows: list[dict]
    ran: int
    skipped: int
    summary: Path
    ecdf: Path
    file_rows: int = 0  # rows in results.csv, earlier calls' included
    scope: str = ""  # what summary.md and ecdf.png cover, when not just this call's rows
    coco: str = ""  # where COCO's own data went (cocoex.Observer), or why it was not written


def run_bbob(algos, functions="1-24", dims="2,3,5,10,20", instances="1-15", budget_multiplier: float = 1000,
             runs: int = 1, seed: int = 0, out_dir="bbob", jobs: int = 1,
             progress: bool | str | None = None, coco: bool = True) -> BBOBResult:
    """Every (algorithm, function, dim, instance, run) with ``budget_multiplier x dim`` evaluations, resumable.

    ``coco=False``: the functions of :mod:`scpo.bbob_functions` (numpy, whole populations) instead of
    cocoex's, and no COCO data (same rows; a results folder may mix both)."""
    from scpo.algorithms.base import check_positive_int
    from scpo.bbob_functions import VECTORIZED

    if not isinstance(coco, bool | np.bool_):
        raise ValueError(f"coco must be True or False, got {coco!r}")
    function_list = parse_ints(functions, "function", allowed=FUNCTIONS)
    if coco or any(f not in VECTORIZED for f in function_list):
        cocoex_module()
    dim_list = parse_ints(dims, "dimension", allowed=DIMS)
    instance_list = parse_ints(instances, "instance", minimum=1, maximum=MAX_INSTANCE)
    if isinstance(budget_multiplier, bool) or not isinstance(budget_multiplier, int | float | np.number) \
            or not math.isfinite(budget_multiplier) or budget_multiplier < 1:
        raise ValueError(f"budget multiplier must be a number >= 1, got {budget_multiplier!r}")
    budget_multiplier = float(budget_multiplier)
    runs = check_positive_int("runs", runs)
    jobs = check_positive_int("jobs", jobs)
    seed = check_run_seed(seed)
    specs = resolve_entries(algos)
    for spec in specs:  # unknown algorithm or option, budget below one iteration in the smallest dimension
        if not is_peer(spec):
            dim = dim_list[0]
            box = Problem(lambda X: np.zeros(len(X)), LOWER, UPPER, dim=dim, vectorized=True)
            make(box, spec.name, seed=0, max_evals=budget_of(budget_multiplier, dim), **spec.options)
        else:
            ng = nevergrad_module()
            try:
                ng.optimizers.registry[spec.name[len(PEER_PREFIX):]](
                    parametrization=peer_box(ng, dim_list[0]),
                    budget=budget_of(budget_multiplier, dim_list[0]), num_workers=1, **spec.options)
            except TypeError as exc:
                raise ValueError(f"bad options for {spec.label}: {exc}") from None

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_config(out_dir, {"suite": "bbob", "budget_multiplier": budget_multiplier, "seed": seed}, CONFIG_KEYS)
    results = ResultsFile(out_dir / "results.csv", FIELDS, parse_row, row_key)
    tasks = [Task(spec, f, d, i, r, run_seed(seed, f"bbob_f{f:03d}_i{i:02d}_d{d:02d}", r))
             for spec in specs for d in dim_list for f in function_list for i in instance_list for r in range(runs)]
    coco_dir = out_dir / "coco"
    unwritable = coco_temp_problem() if coco else "--no-coco (the numpy functions of scpo.bbob_functions)"
    rows, ran = run_pending(results, tasks,
                            lambda task: execute(task, budget_multiplier, None if unwritable else coco_dir, coco),
                            jobs, progress)
    covered, labels, scope = summary_scope(list(results.rows.values()), rows, [s.label for s in specs],
                                           lambda r: (r["function"], r["dim"], r["instance"], r["run"]))
    config: dict[str, Any] = {
        "budget_multiplier": budget_multiplier, "seed": seed, "runs": len({r["run"] for r in covered}),
        "functions": sorted({r["function"] for r in covered}), "dims": sorted({r["dim"] for r in covered}),
        "instances": sorted({r["instance"] for r in covered}), "scope": scope}
    summary = out_dir / "summary.md"
    write_if_changed(summary, render_summary(covered, labels, config))
    ecdf = plot_ecdf(covered, labels, config["dims"], out_dir / "ecdf.png", budget_multiplier)
    where = f"no COCO data: {unwritable}" if unwritable else \
        f"COCO data (cocoex.Observer) in {coco_dir}: python -m cocopp {coco_dir}/<algorithm> ..."
    return BBOBResult(out_dir, rows, ran, len(tasks) - ran, summary, ecdf, len(results.rows), scope, where)


# ---------------------------------------------------------------------------- statistics


def runtimes(rows: Sequence[dict], column: str) -> np.ndarray:
    """Evaluations to the target of ``column`` per row, inf where never reached."""
    return np.array([float(r[column]) if r[column] != "" else np.inf for r in rows])


def art(rows: Sequence[dict], column: str) -> tuple[float, int]:
    """Average runtime (aRT): evaluations of all runs (a run that missed the target counts all it used)
    divided by the number of runs that reached it; inf when none did. Returns (aRT, successes)."""
    reached = runtimes(rows, column)
    success = np.isfinite(reached)
    if not success.any():
        return math.inf, 0
    spent = np.where(success, reached, [r["nfev"] for r in rows]).sum()
    return float(spent / success.sum()), int(success.sum())


def ecdf_curve(rows: Sequence[dict], grid: np.ndarray) -> np.ndarray:
    """Fraction of (run, target) pairs reached within ``grid`` evaluations / dim (one value per grid point).

    Every run contributes its 51 targets; the plain empirical distribution (COCO's plots add
    simulated restarts over instances, which this does not)."""
    if not rows:
        return np.zeros_like(grid)
    times = np.concatenate([runtimes(rows, c) / np.array([r["dim"] for r in rows]) for c in TARGET_FIELDS])
    times = np.sort(times)
    return np.searchsorted(times, grid, side="right") / times.size


def fraction_reached(rows: Sequence[dict]) -> float:
    if not rows:
        return math.nan
    return float(np.mean([[r[c] != "" for c in TARGET_FIELDS] for r in rows]))


def _cells(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def _art_text(value: float, successes: int, trials: int) -> str:
    if not math.isfinite(value):
        return f"inf (0/{trials})"
    return f"{value:.3g}" + ("" if successes == trials else f" ({successes}/{trials})")


def render_summary(rows: Sequence[dict], algos: Sequence[str], config: dict) -> str:
    dims, functions = config["dims"], config["functions"]
    trials = len(config["instances"]) * config["runs"]
    lines = [
        "# BBOB summary", "",
        f"COCO's bbob suite (coco-experiment), functions {_ranges(functions)}, dimensions {','.join(map(str, dims))}, "
        f"instances {_ranges(config['instances'])}, {config['runs']} run(s) per instance, budget "
        f"{config['budget_multiplier']:g} x dim evaluations, seed {config['seed']}. Precision = best f - f_opt "
        "(COCO's optimal value). Targets: 10^(2 - k/5), k = 0..50 (51 targets, 1e2 .. 1e-8).", "",
        *([f"**Scope:** {config['scope']}.", ""] if config.get("scope") else []),
        "aRT (average runtime) = evaluations of all trials (a trial that missed the target counts every "
        "evaluation it used) / trials that reached it; `inf` when none did; `(s/n)`: s of the n trials reached it.",
        "", "## Fraction of (trial, target) pairs reached", "",
        "| algorithm | " + " | ".join(f"d={d}" for d in dims) + " | all |",
        "|---|" + "---:|" * (len(dims) + 1),
    ]
    for a in algos:
        mine = _cells(rows, algorithm=a)
        cells = [f"{fraction_reached(_cells(mine, dim=d)):.3f}" for d in dims]
        lines.append(f"| {a} | " + " | ".join(cells) + f" | {fraction_reached(mine):.3f} |")
    lines += ["", "## Fraction reached per function group (all dimensions)", "",
              "| algorithm | " + " | ".join(GROUPS) + " |", "|---|" + "---:|" * len(GROUPS)]
    for a in algos:
        mine = _cells(rows, algorithm=a)
        cells = []
        for members in GROUPS.values():
            chosen = [r for r in mine if r["function"] in members]
            cells.append("n/a" if not chosen else f"{fraction_reached(chosen):.3f}")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    for d in dims:
        for e in ART_EXPONENTS:
            column = f"evals_1e{e:+.1f}"
            lines += ["", f"## aRT to precision 1e{e:.0f}, d = {d}", "",
                      "| function | " + " | ".join(algos) + " |", "|---|" + "---:|" * len(algos)]
            for f in functions:
                cells = []
                for a in algos:
                    chosen = _cells(rows, algorithm=a, dim=d, function=f)
                    cells.append(_art_text(*art(chosen, column), len(chosen)))
                lines.append(f"| f{f} | " + " | ".join(cells) + " |")
    lines += ["", f"Every cell has {trials} trial(s).", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- plot


def plot_ecdf(rows: Sequence[dict], algos: Sequence[str], dims: Sequence[int], out: Path,
              budget_multiplier: float) -> Path:
    """Runtime ECDFs: one row per dimension, columns = all functions and the five BBOB groups."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = {"all functions": range(1, 25), **GROUPS}
    top = math.log10(budget_multiplier)
    grid = np.linspace(0, top, 200)
    fig, axes = plt.subplots(len(dims), len(columns), figsize=(3.0 * len(columns), 2.6 * len(dims)),
                             squeeze=False, sharex=True, sharey=True)
    for i, d in enumerate(dims):
        for j, (title, members) in enumerate(columns.items()):
            ax = axes[i, j]
            drawn = False
            for a in algos:
                chosen = [r for r in rows if r["algorithm"] == a and r["dim"] == d and r["function"] in members]
                if chosen:
                    k = algos.index(a)
                    ax.plot(grid, ecdf_curve(chosen, 10.0**grid), label=a, linewidth=1.2, drawstyle="steps-post",
                            color=plt.cm.tab20(2 * (k % 10) + k // 10 % 2), linestyle="--" if is_peer_label(a) else "-")
                    drawn = True
            if not drawn:
                ax.text(0.5, 0.5, "no function of the group run", ha="center", va="center", fontsize=8,
                        transform=ax.transAxes, color="0.4")
            ax.set_title(f"{title}, d={d}", fontsize=8)
            ax.set_ylim(0, 1)
            ax.grid(True, alpha=0.3)
            if i == len(dims) - 1:
                ax.set_xlabel("log10(evaluations / dim)", fontsize=8)
            if j == 0:
                ax.set_ylabel("fraction of (run, target)", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    fig.suptitle("Runtime ECDF over the 51 targets 1e2..1e-8 (coco-experiment bbob)", fontsize=10)
    fig.tight_layout(rect=(0, 0.04 + 0.02 * ((len(labels) - 1) // 6), 1, 0.97))
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=90, format="png", metadata={"Software": None})
    plt.close(fig)
    write_if_changed(out, buffer.getvalue())
    return out

