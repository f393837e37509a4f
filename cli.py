"""The ``scpo`` command line: optimize, plot, and the commands built on them.

Every bad input ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import importlib
import importlib.util
import inspect
import io
import json
import math
import os
import sys
import sysconfig
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

import scpo
from scpo.extras import missing_extra
from scpo.io import check_writable, json_text, write_json, write_text
from scpo.plotting import plot_convergence


class OneLineErrors(TyperGroup):
    """Usage errors (bad type, out of range, unknown option) as one line and exit code 2."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        from scpo.observers import Terminated, sigterm_raises

        try:
            with sigterm_raises():  # a batch scheduler's SIGTERM takes Ctrl-C's paths, then exit 143
                code = super().main(*args, standalone_mode=False, **kwargs)
        except (typer.Abort, Terminated) as exc:
            terminated = isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated)
            typer.echo("terminated" if terminated else "aborted", err=True)
            sys.exit(143 if terminated else 130)
        except Exception as exc:  # typer may vendor click: match its errors by shape, not by class
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:  # e.g. `scpo train` without torch: name the extra, one line, exit 2
            message = missing_extra(exc, f"scpo {ctx.invoked_subcommand}")
            if message is None:
                raise
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(cls=OneLineErrors, add_completion=False, pretty_exceptions_enable=False,
                  help="Population-based optimization: SCA, PO, SCPO and reference algorithms.")

USER_ERRORS = (ValueError, FileNotFoundError, ImportError, AttributeError, TypeError, OSError)
MIN_TEST_TWEETS = 30  # `scpo train` warns below this many test tweets: one tweet more or less moves P@1 by 3 points


def fail(message: str) -> None:
    """One line on stderr, exit code 2. Called while handling a missing module of an extra (torch): the
    line names the extra to install."""
    message = missing_extra(sys.exc_info()[1], "this command") or message
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def located(exc: BaseException) -> str:
    """``exc``'s message on one line, with ``(at FILE:LINE)`` when an objective raised: the innermost
    frame of the user's code (outside scpo and the installed libraries), so the line says where to look."""
    message = " ".join(str(exc).splitlines())
    if not isinstance(exc, scpo.ObjectiveError):
        return message
    frames = list(exc.frames)
    cause = exc.__cause__
    if not frames and cause is not None and cause.__traceback__ is not None:  # raised in this process (torch)
        frames = [(frame.f_code.co_filename, line) for frame, line in traceback.walk_tb(cause.__traceback__)]
    libraries = [Path(scpo.__file__).parent, *(Path(sysconfig.get_path(k)) for k in ("stdlib", "purelib", "platlib"))]
    users = [(file, line) for file, line in frames
             if not any(Path(file).resolve().is_relative_to(lib.resolve()) for lib in libraries)]
    if not users:
        return message
    file, line = users[-1]
    shown = os.path.relpath(file) if Path(file).resolve().is_relative_to(Path.cwd().resolve()) else file
    return f"{message} (at {shown}:{line})"


def version() -> str:
    """The installed distribution's version, else the package's ``__version__``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("scpo")
    except PackageNotFoundError:
        return scpo.__version__


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"scpo {version()}")
        raise typer.Exit()


@app.callback()
def main_options(
    show: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                       help="Print the version and exit")] = False,
) -> None:
    """Population-based optimization: SCA, PO, SCPO and reference algorithms."""


def is_stdout(path: Path | None) -> bool:
    """``-`` stands for standard output."""
    return path is not None and str(path) == "-"


def check_outputs(*targets: tuple[Path | None, str, str]) -> None:
    """Each ``(path, "file" | "directory", flag)`` must be writable before any work starts; exit 2 naming it."""
    for path, kind, flag in targets:
        if path is None or is_stdout(path):
            continue
        try:
            check_writable(path, kind, flag)
        except OSError as exc:
            fail(str(exc))


def output_path(value: str | Path) -> Path:
    """An output flag's value as a Path; an empty one (``--out ""``, which would mean the current
    folder) is a usage error."""
    if isinstance(value, Path):  # a default
        return value
    if not value.strip():
        raise typer.BadParameter("an empty path names no file or directory")
    return Path(value)


def check_checkpoint_folder(checkpoint: Path | None) -> None:
    """The checkpoint's folder must exist (a typo there would lose the run's state): exit 2 before any work."""
    if checkpoint is not None and not checkpoint.parent.is_dir():
        fail(f"--checkpoint {checkpoint}: folder {checkpoint.parent} does not exist; create it first")


def check_fresh_out(out: Path | None, overwrite: bool) -> None:
    """An existing non-empty ``--out`` is not written into unless ``overwrite`` (``--force``, or ``--resume``,
    which continues the run that wrote it): exit 2 before any work."""
    if out is not None and not overwrite and out.is_dir() and any(out.iterdir()):
        fail(f"--out {out} exists and is not empty: choose another directory, or add --force to overwrite it")


JSON_STREAMS: list = []  # the real standard output while a command's prints go to stderr (json_stdout_alone)


def emit_json(path: Path, data) -> None:
    """``data`` as JSON to ``path`` (atomically), or to standard output for ``-``."""
    if is_stdout(path):
        stream = JSON_STREAMS[-1] if JSON_STREAMS else sys.stdout
        stream.write(json_text(data))
        stream.flush()
    else:
        write_json(path, data)


def json_stdout_alone(command):
    """``--json -``: while the command runs, everything printed (a user objective's prints included) goes
    to stderr, so standard output holds the JSON alone (written by :func:`emit_json`)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        if not is_stdout(kwargs.get("json_file")):
            return command(*args, **kwargs)
        JSON_STREAMS.append(sys.stdout)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return command(*args, **kwargs)
        finally:
            JSON_STREAMS.pop()

    return wrapper


def list_algorithms(only: str | None = None) -> None:
    """Problems, then every algorithm (or ``only``) with its options, defaults and one-line description."""
    from scpo.options import describe, option_specs

    names = [only] if only else scpo.algorithm_names()
    if not only:
        typer.echo("problems:   " + " ".join(scpo.problems.names()))
        typer.echo("algorithms: " + " ".join(names))
        typer.echo("")
    for name in names:
        typer.echo(f"{name}: {describe(name).replace('``', '`')}")
        specs = option_specs(name)
        for spec in specs:
            default = "required" if spec.default is inspect.Parameter.empty else f"default {spec.default!r}"
            allowed = "" if spec.choices is None else f"; one of {', '.join(map(str, spec.choices))}"
            typer.echo(f"    -o {spec.name:<22}{spec.type_name:<14}{default}{allowed}")
        if not specs:
            typer.echo("    (no options)")


FLAG_OF_OPTION = {"pop_size": "--pop", "max_iter": "--iters", "max_evals": "--evals", "seed": "--seed",
                  "backend": "--backend", "device": "--device", "dtype": "--dtype", "bounds": "--bounds"}


def parse_options(pairs: list[str], algo: str | None = None) -> dict:
    """``-o key=value`` pairs, typed by ``algo``'s constructor (:mod:`scpo.options`); bad ones exit 2."""
    try:
        options = scpo.options.parse_pairs(pairs, algo)
    except ValueError as exc:
        fail(str(exc))
    for key in options:
        if key in FLAG_OF_OPTION:
            fail(f"option {key!r} has its own flag: use {FLAG_OF_OPTION[key]} instead of -o {key}=")
    return options


def load_objective(spec: str):
    """``path/to/file.py:function`` or ``package.module:function``. The file's folder goes on
    ``sys.path`` first, so the file can import its sibling modules."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"objective {spec!r} is not FILE.py:FUNCTION or MODULE:FUNCTION")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"objective file {target!r} not found")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # the user's file: report, don't trace
            raise ImportError(f"objective file {target!r} failed to load: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except Exception as exc:
            raise ImportError(f"module {target!r} failed to import: {type(exc).__name__}: {exc}") from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise AttributeError(f"{target!r} has no function {attr!r}")
    return function


def parse_bounds(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        lb, ub = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--bounds {text!r} must be LB,UB (two numbers)") from None
    if not lb < ub:
        raise ValueError(f"--bounds {text!r}: lower bound {lb} must be below upper bound {ub}")
    return lb, ub


def parse_integrality(text: str) -> list[bool]:
    """``--integrality``: 0 or 1 per dimension, comma-separated, or one value for all dimensions."""
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(p not in ("0", "1") for p in parts):
        raise ValueError(f"--integrality {text!r} must be 0 or 1 per dimension (e.g. 0,1,1), or one value for all")
    values = [p == "1" for p in parts]
    return values if len(values) > 1 else values[0]


def build_problem(problem: str, dim: int, bounds: str | None, shifted: bool, seed: int,
                  vectorized: bool, **hostile) -> scpo.Problem:
    """A benchmark by name (``seed``: its instance, the shift's seed) or a user objective; ``hostile`` sets
    on_error, timeout, the executor, integrality and constraints (a benchmark's optimum, continuous and
    unconstrained, is then not reported)."""
    if ":" not in problem and (problem.endswith(".py") or Path(problem).is_file()):
        raise ValueError(f"objective {problem!r} names no function: use {problem}:FUNCTION")
    if ":" in problem:
        if bounds is None:
            raise ValueError(f"objective {problem!r} needs --bounds LB,UB")
        lb, ub = parse_bounds(bounds)
        return scpo.Problem(load_objective(problem), lb, ub, dim=dim, vectorized=vectorized,
                            name=problem.rpartition(":")[2], **hostile)
    if bounds is not None:
        raise ValueError(f"--bounds applies to an objective FILE.py:FUNCTION, not to benchmark {problem!r}")
    target = scpo.problems.get(problem, dim, shifted=shifted, seed=seed)
    changed = "integrality" in hostile or "constraints" in hostile  # the benchmark's optimum may be cut off
    known = {} if changed else {"f_opt": target.f_opt, "x_opt": target.x_opt}
    return scpo.Problem(target.objective, target.lb, target.ub, vectorized=True, name=target.name,
                        **known, **hostile) if hostile else target


def problem_instance(problem: str, shifted: bool, instance: int | None) -> int | None:
    """The shift's seed of a shifted benchmark (default 0); ``None`` where there is no instance to choose."""
    if ":" in problem or not shifted:
        if instance is not None:
            raise ValueError(f"--instance applies to a shifted benchmark, not to "
                             f"{'objective' if ':' in problem else 'the unshifted'} {problem!r}")
        return None
    return 0 if instance is None else instance


def run_settings(optimizer: scpo.Optimizer, problem: str, shifted: bool, instance: int | None,
                 evals: int | None) -> dict:
    """What result.json needs besides the outcome to tell one configuration and problem from another
    (``scpo plot`` groups runs by them)."""
    return {"device": optimizer.device, "dtype": optimizer.dtype, "max_iter": optimizer.max_iter,
            "max_evals": evals, "shifted": None if ":" in problem else shifted, "instance": instance}


EXECUTORS = scpo.executors.EXECUTORS
STOP_STATUS = dict(scpo.observers.STOP_SIGNALS.values())  # "interrupted": 130 (Ctrl-C), "terminated": 143


def write_run(out_dir: Path, summary: dict, result: scpo.OptimizeResult) -> None:
    """history.csv, result.json and convergence.png (once an iteration is complete), each written atomically."""
    history = result.history
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["iteration", "nfev", "best_fitness", "time_s"])
    for i, row in enumerate(zip(history["nfev"], history["best"], history["time"], strict=True), start=1):
        writer.writerow([i, row[0], repr(row[1]), f"{row[2]:.6f}"])
    write_text(out_dir / "history.csv", buffer.getvalue())
    write_json(out_dir / "result.json", summary)
    if not history["nfev"]:  # stopped before the first iteration ended: no curve to draw (nor an old one)
        (out_dir / "convergence.png").unlink(missing_ok=True)
        return
    label = summary["algorithm"]
    plot_convergence({label: [(history["nfev"], history["best"])]}, out_dir / "convergence.png",
                     title=f"{summary['problem']} (d={summary['dim']})", f_opt=summary.get("f_opt"))


@app.command()
@json_stdout_alone
def optimize(
    problem: Annotated[str, typer.Argument(help="Benchmark name (see --list) or FILE.py:FUNCTION / MODULE:FUNCTION")]
    = "rastrigin",
    algo: Annotated[str, typer.Option("--algo", "-a", help="Algorithm name")] = "scpo",
    dim: Annotated[int, typer.Option(min=1, help="Dimension")] = 30,
    pop: Annotated[int | None, typer.Option(min=1, help="Population size (PO/SCPO: a perfect square)")] = None,
    iters: Annotated[int | None, typer.Option(min=1, help="Iterations")] = None,
    evals: Annotated[int | None, typer.Option(min=1, help="Evaluation budget (default 30000)")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the algorithm (the problem stays the same: "
                                                  "--instance)")] = 0,
    instance: Annotated[int | None, typer.Option(
        min=0, help="Problem instance of a shifted benchmark: the seed of its shift (default 0, as in scpo benchmark)",
        show_default=False)] = None,
    shifted: Annotated[bool, typer.Option(
        help="Move a benchmark's optimum off the diagonal (shifted by default here and in scpo benchmark, unlike "
             "scpo.problems.get; --no-shifted for the classical function)")] = True,
    bounds: Annotated[str | None, typer.Option(help="LB,UB for a user objective")] = None,
    vectorized: Annotated[bool | None, typer.Option(
        "--vectorized/--no-vectorized",
        help="User objective takes the whole (N, D) population, or one vector (default: detected by one "
             "probe call)", show_default=False)] = None,
    backend: Annotated[str, typer.Option(help="numpy | numba | torch")] = "numpy",
    device: Annotated[str | None, typer.Option(help="torch device: cpu | cuda")] = None,
    dtype: Annotated[str | None, typer.Option(help="float64 | float32 (torch backend)")] = None,
    step: Annotated[str, typer.Option(
        help="torch backend, how a generation is computed: auto (fused numba kernels on the cpu, tensor operations "
             "on cuda) | fused | eager | compiled (torch.compile)")] = "auto",
    draws: Annotated[str, typer.Option(
        help="Random numbers: native (each backend's fastest) | numpy (numba and torch replay the numpy run) | "
             "counter (the same run for a seed on every backend and device)")] = "native",
    option: Annotated[list[str] | None, typer.Option("--option", "-o", help="Algorithm option key=value")] = None,
    out: Annotated[Path | None, typer.Option(parser=output_path, help="Run directory (default "
                                             "runs/<time>-<problem>-<algo>); an existing non-empty one needs --force "
                                             "(or --resume)")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", parser=output_path,
                                                   help="Also write the summary JSON here")] = None,
    executor: Annotated[str, typer.Option(help="serial | joblib (worker processes) | ray (Ray actors)")]
    = "serial",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes or Ray actors for --executor")] = 2,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: a local instance)")]
    = None,
    eval_timeout: Annotated[float | None, typer.Option(help="Seconds one objective call may take")] = None,
    on_error: Annotated[str, typer.Option(help="raise | penalize (score a failing candidate +inf)")] = "raise",
    checkpoint: Annotated[Path | None, typer.Option(parser=output_path,
                                                    help="Save the full run state here (atomic)")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(
        min=1, help="Iterations between checkpoints (default: adaptive, under 10 % of the run time)")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from --checkpoint if it exists")] = False,
    list_names: Annotated[bool, typer.Option("--list", help="List problems, algorithms and their options, then exit; "
                                             "`--list ALGO` shows one algorithm")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
    force: Annotated[bool, typer.Option(help="Write into an existing non-empty --out directory")] = False,
    integrality: Annotated[str | None, typer.Option(
        help="Integral coordinates: 0 or 1 per dimension (e.g. 0,1,1), or 1 for all; their bounds must be "
             "integers (scipy's integrality)")] = None,
    stop_target: Annotated[float | None, typer.Option(
        "--target", help="Stop in the batch where the best fitness is <= this value (COCO style)")] = None,
    tol_f: Annotated[float | None, typer.Option(
        help="Stop when the fitness range of an iteration and of the recent iteration bests is below this")] = None,
    tol_x: Annotated[float | None, typer.Option(
        help="Stop when the step size (ES, CMA-ES) or the population's spread is below this")] = None,
    max_time: Annotated[float | None, typer.Option(help="Stop after this many seconds (checked between batches)")]
    = None,
    stagnation: Annotated[int | None, typer.Option(
        help="Stop after this many iterations without improvement of the best")] = None,
    log_csv: Annotated[Path | None, typer.Option(parser=output_path, help="Log per-iteration statistics (best, "
                                                 "mean, spread, diversity, step size) to this CSV file")] = None,
    tensorboard: Annotated[Path | None, typer.Option(parser=output_path, help="Log them for TensorBoard into this "
                                                     "directory (pip install scpo[tensorboard])")] = None,
    mlflow_uri: Annotated[str | None, typer.Option("--mlflow", help="Log them to MLflow at this tracking URI, e.g. "
                                                   "file:./mlruns (pip install scpo[mlflow])")] = None,
    log_every: Annotated[int, typer.Option(min=1, help="Iterations between logged rows (--log-csv, --tensorboard, "
                                           "--mlflow)")] = 1,
    x0: Annotated[str | None, typer.Option(
        "--x0", help="Start point: X1,X2,...,XD or one number for every coordinate (inside the bounds); "
                     "distribution algorithms start their mean there, the others sample their population around it")]
    = None,
    sigma0: Annotated[str | None, typer.Option(
        "--sigma0", help="Initial step in the units of x: S or S1,...,SD (default: the algorithm's; population "
                         "algorithms: the spread around --x0, a tenth of the box)")] = None,
    constraints: Annotated[str | None, typer.Option(
        "--constraints", help="Inequality constraints g(x) <= 0: FILE.py:FUNCTION or MODULE:FUNCTION returning one "
                              "value per constraint (for the population (N, D) -> (N, m), or per point); every "
                              "comparison follows Deb's feasibility rules")] = None,
    threads: Annotated[int | None, typer.Option(
        min=1, help="Threads of numba's kernels, torch and numpy's BLAS (numba and torch share the OpenMP "
                    "runtime); default: as they are")] = None,
    restarts: Annotated[str | None, typer.Option(
        help="Restart strategy inside the --evals budget: ipop (population doubled at each restart) | bipop "
             "(large and small populations alternating); a run restarts when --tol-f/--tol-x/--stagnation (cma's "
             "defaults where not given), the algorithm's own criteria or --iters end it")] = None,
) -> None:
    """Minimize a benchmark function or your own objective; default: SCPO on shifted Rastrigin, d=30."""
    if list_names:  # `--list ALGO`: the positional argument names an algorithm
        if problem not in (*scpo.algorithm_names(), *scpo.problems.names()):
            fail(f"--list {problem!r}: no algorithm of that name; choose from {', '.join(scpo.algorithm_names())}")
        list_algorithms(problem if problem in scpo.algorithm_names() else None)
        return
    options = parse_options(option or [], algo)
    start = start_point(x0, sigma0, options)
    check_outputs((out or Path("runs"), "directory", "--out"), (json_file, "file", "--json"),
                  (checkpoint, "file", "--checkpoint"))
    check_checkpoint_folder(checkpoint)
    check_fresh_out(out, force or resume)
    if iters is None and evals is None:
        evals = 30000
    backend_kwargs = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    try:
        if executor not in EXECUTORS:
            raise ValueError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
        parallel = executor != "serial"
        hostile = {k: v for k, v in (("on_error", on_error if on_error != "raise" else None),
                                     ("timeout", eval_timeout), ("executor", executor if parallel else None),
                                     ("n_jobs", workers if parallel else None), ("ray_address", ray_address))
                   if v is not None}
        if integrality is not None:
            hostile["integrality"] = parse_integrality(integrality)
        if constraints is not None:
            hostile["constraints"] = load_objective(constraints)
        instance = problem_instance(problem, shifted, instance)
        target = build_problem(problem, dim, bounds, shifted, instance or 0,
                               "auto" if vectorized is None else vectorized, **hostile)
        if step != "auto":  # a Backend instance carries the step; make() takes it as the backend
            backend_kwargs = {"backend": scpo.backends.get(backend, device or "cpu", dtype or "float64", draws,
                                                           step=step)}
        else:
            backend_kwargs.update(backend=backend, draws=draws)
        stops = {"target": stop_target, "tol_f": tol_f, "tol_x": tol_x, "max_time": max_time,
                 "stagnation": stagnation}
        if restarts is not None and "restarts" in options:
            raise ValueError(f"--restarts {restarts} and -o restarts={options['restarts']!r}: give one of them")
        strategy = {} if restarts is None else {"restarts": restarts}
        optimizer = scpo.make(target, algo, seed=seed, pop_size=pop, max_iter=iters, max_evals=evals,
                              **backend_kwargs, **stops, **options, **start, threads=threads, **strategy)
        if resume and checkpoint is None:
            raise ValueError("--resume needs --checkpoint PATH")
        if checkpoint is not None and optimizer.enable_checkpoints(checkpoint, checkpoint_every, resume):
            typer.echo(f"resumed from {checkpoint} at iteration {optimizer.nit}/{optimizer.max_iter}", err=True)
        attach_loggers(optimizer, log_csv, tensorboard, mlflow_uri, log_every, resume)
    except USER_ERRORS as exc:
        fail(located(exc))  # the probe of a FILE.py:FUNCTION objective runs here
    result = run_with_progress(optimizer, target, quiet)
    interrupted = result.message in STOP_STATUS  # Ctrl-C or SIGTERM: what exists is written
    infeasible = result.constraint_violation > 0 and math.isfinite(result.fun)  # written, then exit 1
    if not result.success and not interrupted and not infeasible:
        fail(result.message)
    summary = {
        "algorithm": algo, "problem": target.name, "dim": target.dim, "seed": seed,
        "best_fitness": result.fun, "best_x": result.x, "nfev": result.nfev, "nit": result.nit,
        "wall_time_s": result.wall_time_s, "compile_time_s": result.compile_time_s, "options": options,
        "backend": backend, "step": getattr(optimizer.impl, "step", None), "draws": optimizer.impl.draws,
        "pop_size": result.pop_size, "f_opt": target.f_opt, "nonfinite": result.nonfinite,
        "errors": result.errors, "executor": target.executor, "worker_restarts": result.worker_restarts,
        "message": result.message, "success": result.success, "evaluator": result.evaluator,
        "stop_rule": result.stop_rule,
        "history": {"best": result.history["best"], "nfev": result.history["nfev"]},
        **run_settings(optimizer, problem, shifted, instance, evals),
    }
    if target.integrality is not None:
        summary["integrality"] = target.integrality.astype(int).tolist()
    if target.constraints is not None:
        summary.update(constraints=constraints, constraint_violation=result.constraint_violation)
    summary.update({**start, "center": result.center})  # the start point given, a distribution's final mean
    if "restarts" in result:  # --restarts: how many, and each run's population, regime and budget spent
        summary.update({key: result[key] for key in ("restarts", "restart_strategy", "restart_pop_sizes",
                                                     "restart_regimes", "restart_evals", "restart_stop_rules")})
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = out or Path("runs") / f"{stamp}-{target.name}-{algo}"
    try:
        write_run(out_dir, summary, result)
        if json_file is not None:
            emit_json(json_file, summary)
    except OSError as exc:
        fail(f"cannot write results: {exc}")
    if interrupted:
        typer.echo(f"{result.message} at iteration {result.nit}/{optimizer.max_iter} ({result.nfev} evaluations): "
                   f"best so far {result.fun:.6g}, result.json and history written to {out_dir}", err=True)
        raise typer.Exit(STOP_STATUS[result.message])
    if infeasible:
        typer.echo(f"{result.message}; result.json and history written to {out_dir}", err=True)
        raise typer.Exit(1)
    gap = "" if target.f_opt is None else f" (optimum {target.f_opt:.6g})"
    stopped = "" if result.stop_rule in ("max_iter", "max_evals") else f" ({result.message})"
    typer.echo(f"{algo} on {target.name} d={target.dim}: best {result.fun:.6g}{gap} after {result.nfev} "
               f"evaluations, {result.nit} iterations, {result.wall_time_s:.2f} s{stopped} -> {out_dir}",
               err=is_stdout(json_file))  # `--json -`: standard output holds the JSON alone


def attach_loggers(optimizer: scpo.Optimizer, csv_path: Path | None, logdir: Path | None, mlflow_uri: str | None,
                   every: int, resume: bool) -> None:
    """The loggers of ``scpo optimize`` (:mod:`scpo.loggers`), attached for its run; a missing extra or an
    unwritable path is a one-line error before any evaluation. A resumed run's CSV keeps the rows up to
    its checkpoint."""
    from scpo.loggers import CSVLogger, MLflowLogger, TensorBoardLogger

    check_outputs((csv_path, "file", "--log-csv"), (logdir, "directory", "--tensorboard"))
    if csv_path is not None:
        optimizer.attach(CSVLogger(csv_path, every=every, resume=resume))
    if logdir is not None:
        optimizer.attach(TensorBoardLogger(logdir, every=every))
    if mlflow_uri is not None:
        optimizer.attach(MLflowLogger(mlflow_uri, every=every))


def start_point(x0: str | None, sigma0: str | None, options: dict) -> dict:
    """``--x0``/``--sigma0`` as ``make``'s ``x0``/``sigma0`` (one number, or a list); bad numbers exit 2.
    ``-o sigma0=`` (the algorithms' option, a share of the range) would reach ``make`` as its ``sigma0``, in
    the units of x: refused in one line rather than read in other units."""
    if "sigma0" in options:
        fail(f"-o sigma0={options['sigma0']!r}: the initial step is --sigma0, in the units of x (the option was a "
             "share of the range: multiply it by the side of the box)")
    given = {}
    for flag, text in (("--x0", x0), ("--sigma0", sigma0)):
        if text is None:
            continue
        try:
            values = [float(part) for part in text.split(",")]
        except ValueError:
            fail(f"{flag} must be numbers separated by commas (or one number), got {text!r}")
        given[flag[2:]] = values[0] if len(values) == 1 else values
    return given


def run_with_progress(optimizer: scpo.Optimizer, problem: scpo.Problem, quiet: bool) -> scpo.OptimizeResult:
    """The engine's run with progress on stderr and Ctrl-C ending it cleanly; objective failures
    become one-line errors. ``problem`` is the optimizer's (kept for callers)."""
    from scpo.observers import ProgressDisplay, StopOnSigint

    display, sigint = ProgressDisplay(quiet), StopOnSigint()
    try:
        return optimizer.run([display, sigint])
    except (scpo.ObjectiveError, scpo.ExecutorError, OSError) as exc:
        display.close()
        fail(located(exc))
    finally:
        sigint.restore()


#: what tells one configuration from another in result.json, and how a plot label shows it where it varies
#: between groups (``{}``: the value alone); a key an older result.json lacks is UNKNOWN, not assumed equal
UNKNOWN = "?"
CONFIGURATION = {"backend": "{}", "device": "{}", "dtype": "{}", "step": "step={}", "pop_size": "pop={}",
                 "max_evals": "evals={}", "max_iter": "iters={}", "instance": "instance={}"}


def run_group(summary: dict) -> tuple:
    """A run's configuration and problem instance: runs with equal groups are repeats of one experiment."""
    options = json.dumps(summary.get("options") or {}, sort_keys=True, default=str)
    return (summary["algorithm"], options, *(summary.get(key, UNKNOWN) for key in CONFIGURATION))


def group_labels(groups: list[tuple]) -> list[str]:
    """The algorithm, its options, and what else varies between ``groups`` (e.g. ``scpo variant=invariant
    [numba]``): distinct groups get distinct labels."""
    varies = [len({g[2 + i] for g in groups}) > 1 for i in range(len(CONFIGURATION))]
    labels = []
    for group in groups:
        words = [group[0], *(f"{k}={v}" for k, v in json.loads(group[1]).items())]
        shown = [(form if value != UNKNOWN or "=" in form else key + "={}").format(value)
                 for (key, form), value, show in zip(CONFIGURATION.items(), group[2:], varies, strict=True)
                 if show and value is not None]  # None: not applicable (no step on numpy, no instance unshifted)
        labels.append(" ".join(words) + (f" [{', '.join(shown)}]" if shown else ""))
    return labels


@app.command()
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories written by `scpo optimize`")],
    out: Annotated[Path, typer.Option(parser=output_path, help="Image file to write")] = Path("convergence.png"),
    title: Annotated[str, typer.Option(help="Plot title")] = "",
) -> None:
    """Overlay convergence curves (log scale); several seeds of one configuration give median and IQR band.

    Runs are grouped by their whole configuration (algorithm, options, backend, device, dtype, step,
    population, budget) and problem instance; a label shows what varies between groups. The same
    configuration and seed twice is refused: it is one run, not two."""
    check_outputs((out, "file", "--out"))
    curves: dict[tuple, list] = {}
    seeds: dict[tuple, dict] = {}  # (problem, group) -> seed -> the run that had it
    problems: dict[str, list[str]] = {}  # "problem d=D" -> the runs on it
    f_opts = set()
    for run in runs:
        try:
            summary = json.loads((run / "result.json").read_text())
            history = summary["history"]
            group = run_group(summary)
            curve = (history["nfev"], history["best"])
            name = f"{summary['problem']} d={summary['dim']}"
            problems.setdefault(name, []).append(str(run))
            f_opts.add(summary.get("f_opt"))
            seed = summary.get("seed")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            fail(f"{run} is not a run directory with a readable result.json ({type(exc).__name__}: {exc})")
        same = seeds.setdefault((name, group), {})
        if seed is not None and seed in same:
            fail(f"{same[seed]} and {run} are the same configuration, problem instance and seed {seed}: "
                 "one run twice, not two runs; plot one of them")
        same[seed] = run
        curves.setdefault(group, []).append(curve)
    if len(problems) > 1:  # one median over different problems means nothing
        shown = "; ".join(f"{name} ({', '.join(where)})" for name, where in problems.items())
        fail(f"the runs are of {len(problems)} different problems: {shown}; plot one problem at a time")
    f_opt = f_opts.pop() if len(f_opts) == 1 else None
    labelled = dict(zip(group_labels(list(curves)), curves.values(), strict=True))
    try:
        plot_convergence(labelled, out, title=title or next(iter(problems)), f_opt=f_opt)
    except (OSError, ValueError) as exc:
        fail(f"cannot write {out}: {exc}")
    algorithms = {group[0] for group in curves}
    shown = "; ".join(f"{label}: {len(runs)} run{'s' * (len(runs) > 1)}" for label, runs in labelled.items())
    typer.echo(f"wrote {out} ({sum(len(v) for v in curves.values())} runs, {len(algorithms)} algorithms, "
               f"{len(curves)} configurations: {shown})")


data_app = typer.Typer(add_completion=False, help="Tweet corpora of the hashtag study.")
app.add_typer(data_app, name="data")


@data_app.command("info")
def data_info(
    source: Annotated[str, typer.Argument(help="apple | avengers | path to a CSV file")],
    text_column: Annotated[str | None, typer.Option(help="Column with the tweet text (CSV files)")] = None,
    encoding: Annotated[str | None, typer.Option(help="Encoding of a user file (default UTF-8; e.g. latin-1)")]
    = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write the statistics as JSON here")]
    = None,
) -> None:
    """Rows, distinct texts, tagged rows, distinct tags and top tags of a tweet corpus."""
    check_outputs((json_file, "file", "--json"))
    import features  # here, so that optimizer commands do not load the text pipeline

    try:
        info = features.dataset_info(source, text_column=text_column, encoding=encoding)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    to_stderr = is_stdout(json_file)  # `--json -`: standard output holds the JSON alone
    for key in ("path", "rows", "distinct_texts", "distinct_clean_texts", "duplicates_dropped", "tagged_rows",
                "hashtag_tokens", "distinct_tags", "collection_tag"):
        typer.echo(f"{key.replace('_', ' '):<22}{info[key]}", err=to_stderr)
    typer.echo("top tags              " + ", ".join(f"{tag} {count}" for tag, count in info["top_tags"]),
               err=to_stderr)
    if json_file is not None:
        try:
            emit_json(json_file, info)
        except OSError as exc:
            fail(f"cannot write {json_file}: {exc}")


@app.command()
def benchmark(
    ctx: typer.Context,
    algos: Annotated[str, typer.Option(help="Comma-separated algorithms; name:key=value adds an option; "
                                            "ng:<Name> runs a nevergrad optimizer (bbob; needs scpo[peers])")]
    = "scpo,sca,po,random",
    suite: Annotated[str, typer.Option(help="classic (F1-F13), bbob (COCO, needs scpo[bbob]) or engineering "
                                            "(constrained design problems)")] = "classic",
    problems: Annotated[str, typer.Option(help="classic: comma-separated problems, or all; engineering: design "
                                               "problems, default all")] = "sphere,rastrigin",
    shifted: Annotated[bool, typer.Option(
        help="classic: shift every optimum off the diagonal, as scpo optimize does; --no-shifted for the papers' "
             "classical functions")] = True,
    instance: Annotated[int | None, typer.Option(
        min=0, help="classic, shifted: problem instance, the shift's seed, one for all runs (default 0; "
                    "scpo optimize --instance runs the same problem)", show_default=False)] = None,
    dim: Annotated[int, typer.Option(min=1, help="classic: dimension")] = 30,
    runs: Annotated[int | None, typer.Option(min=1, help="Independent runs per cell (classic, engineering: per "
                                                         "(algorithm, problem), default 30; bbob: per instance, "
                                                         "default 1)")]
    = None,
    evals: Annotated[int | None, typer.Option(min=1, help="classic, engineering: evaluation budget of every run "
                                                          "(default 30000; engineering 20000)", show_default=False)]
    = None,
    functions: Annotated[str, typer.Option(help="bbob: functions, lists and ranges (1-24)")] = "1-24",
    dims: Annotated[str, typer.Option(help="bbob: dimensions out of 2,3,5,10,20,40")] = "2,3,5,10,20",
    instances: Annotated[str, typer.Option(help="bbob: instances, lists and ranges")] = "1-15",
    budget_multiplier: Annotated[float, typer.Option(help="bbob: budget = M x dim evaluations (M >= 1)")] = 1000,
    coco: Annotated[bool, typer.Option(
        help="bbob: evaluate with COCO's own functions (cocoex) and write COCO's data (cocopp reads it); "
             "--no-coco: the same functions vectorized in numpy on large calls (scpo.bbob_functions), no COCO data")]
    = True,
    seed: Annotated[int, typer.Option(min=0, help="Master seed")] = 0,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    out: Annotated[Path, typer.Option(parser=output_path, help="Output directory (re-running resumes)")]
    = Path("benchmark"),
    quiet: Annotated[bool, typer.Option(help="No progress on stderr")] = False,
) -> None:
    """Every (algorithm, problem, run) at one budget: results.csv, summary.md (Wilcoxon, Friedman), plots;
    --suite bbob: COCO's BBOB functions, runtimes to 51 targets, ecdf.png and aRT in summary.md;
    --suite engineering: the constrained design problems (scpo.engineering), feasibility-aware statistics."""
    given = {name for name in ctx.params if str(ctx.get_parameter_source(name)).endswith("COMMANDLINE")}
    other = {"bbob": ("problems", "shifted", "instance", "dim", "evals"),
             "classic": ("functions", "dims", "instances", "budget_multiplier", "coco"),
             "engineering": ("shifted", "instance", "dim", "functions", "dims", "instances", "budget_multiplier",
                             "coco"),
             }.get(suite, ())
    misplaced = [name for name in other if name in given]
    if misplaced:
        flag = "--coco/--no-coco" if misplaced[0] == "coco" else "--" + misplaced[0].replace("_", "-")
        fail(f"{flag} does not apply to --suite {suite}; see `scpo benchmark --help` for that suite's options")
    if suite not in ("classic", "bbob", "engineering"):
        fail(f"unknown suite {suite!r}; choose from classic, bbob, engineering")
    check_outputs((out, "directory", "--out"))
    try:
        if suite == "bbob":
            from scpo.bbob import run_bbob

            result = run_bbob(algos, functions=functions, dims=dims, instances=instances,
                              budget_multiplier=budget_multiplier, runs=1 if runs is None else runs, seed=seed,
                              out_dir=out, jobs=jobs, progress=_bench_progress(quiet), coco=coco)
        elif suite == "engineering":
            from scpo.benchmark import run_engineering

            result = run_engineering(algos, problems if "problems" in given else "all",
                                     runs=30 if runs is None else runs, evals=20000 if evals is None else evals,
                                     seed=seed, out_dir=out, jobs=jobs, progress=_bench_progress(quiet))
        else:
            from scpo.benchmark import run_benchmark

            result = run_benchmark(algos, problems, dim=dim, runs=30 if runs is None else runs,
                                   evals=30000 if evals is None else evals,
                                   seed=seed, out_dir=out, shifted=shifted, instance=instance, jobs=jobs,
                                   progress=_bench_progress(quiet))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (scpo.observers.Terminated)
        _benchmark_interrupted(out, exc)
    except USER_ERRORS as exc:
        fail(str(exc))
    ecdf = f", ECDFs in {result.ecdf}" if suite == "bbob" else ""
    scope = f"; {result.scope}" if result.scope else ""
    typer.echo(f"{result.ran} runs computed, {result.skipped} resumed; {result.file_rows} rows in "
               f"{out / 'results.csv'}, summary in {result.summary}{ecdf}{scope}")
    if getattr(result, "coco", ""):
        typer.echo(result.coco)


def _bench_progress(quiet: bool) -> bool | str:
    """A rich bar on a terminal, plain lines otherwise (CI logs), nothing with --quiet."""
    return False if quiet else (True if sys.stderr.isatty() else "plain")


def _benchmark_interrupted(out: Path, exc: KeyboardInterrupt) -> None:
    """Ctrl-C or SIGTERM: every finished run is already a complete row of results.csv (appended and
    fsynced one at a time); the run in progress is dropped and recomputed by the same command."""
    terminated = isinstance(exc, scpo.observers.Terminated)
    typer.echo(f"{'terminated' if terminated else 'interrupted'}: finished runs kept in {out / 'results.csv'}; "
               "run the same command again to resume", err=True)
    raise typer.Exit(143 if terminated else 130)


MEMETIC_SETTING = {"pop": 16, "evals": 400, "refine_members": 1, "refine_steps": 15, "init": "w0"}
# What `scpo train --refine adam` implies for each of these options the command line does not give: the
# setting chosen on held-out tweets (README, Fidelity: the memetic anchor; experiments/memetic_heldout.py),
# about 2x Adam's training time where the train defaults (30,000 evaluations) took 15x.


@app.command()
def train(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="apple | avengers | path/to/tweets.csv")] = "apple",
    model: Annotated[str, typer.Option(help="resnet (the paper's network) or a baseline name")] = "resnet",
    optimizer: Annotated[str | None, typer.Option(
        help=f"resnet: adam or a population algorithm ({' | '.join(scpo.algorithm_names())})")] = None,
    evals: Annotated[int, typer.Option(min=1, help="Evaluation budget of a population optimizer (--refine adam "
                                                   "alone: 400)")] = 30000,
    epochs: Annotated[int, typer.Option(min=1, help="Epoch budget of Adam")] = 200,
    pop: Annotated[int | None, typer.Option(min=1, help="Population size (PO/SCPO: a perfect square; --refine adam "
                                                        "alone: 16)")] = 64,
    batch_size: Annotated[int | None, typer.Option(min=2, help="Fitness batch rows (default: all training rows)")]
    = None,
    loss: Annotated[str, typer.Option(
        help="mse (the paper's fitness; README Fidelity has the measured choice) | ce | bce")] = "mse",
    resample: Annotated[str, typer.Option(help="Population fitness batch: fixed | per-iteration (a new minibatch "
                                               "each iteration; with --batch-size)")] = "fixed",
    bounds: Annotated[str, typer.Option(help="Population search box: B for [-B, B] per weight (z with --subspace) "
                                             "or 'scaled' (per layer, He-uniform)")] = "1",
    refine: Annotated[str | None, typer.Option(
        help="Memetic training: after every iteration the best members take Adam steps (written back): adam. "
             "It implies the measured setting (chosen on held-out tweets, about 2x Adam's time) for every one of "
             "these options not given: --pop 16 --evals 400 --refine-members 1 --refine-steps 15 --init w0")]
    = None,
    refine_steps: Annotated[int, typer.Option(min=1, help="--refine: Adam steps per refinement (--refine adam "
                                                          "alone: 15)")] = 10,
    refine_members: Annotated[int, typer.Option(min=1, help="--refine: best members refined per iteration "
                                                            "(--refine adam alone: 1)")] = 4,
    refine_lr: Annotated[float, typer.Option(help="--refine: Adam's learning rate")] = 1e-2,
    refine_batch_size: Annotated[int, typer.Option(min=2, help="--refine: minibatch rows per step")] = 64,
    refine_adam: Annotated[str, typer.Option(
        help="--refine: fresh (Adam starts anew at every refinement) | continued (Adam chains kept between "
             "iterations, restarted where the population found a better member)")] = "fresh",
    subspace: Annotated[int | None, typer.Option(
        min=1, help="Search z in R^K with W = W0 + A z (A seeded Gaussian; W0 the initial weights)")] = None,
    subspace_seed: Annotated[int, typer.Option(min=0, help="--subspace: seed of the projection A")] = 0,
    init: Annotated[str, typer.Option(help="Population's initial members: uniform (in the bounds) | w0 (around the "
                                           "network's initial weights, where Adam starts; --refine adam alone: "
                                           "w0)")] = "uniform",
    init_spread: Annotated[float, typer.Option(help="--init w0: spread of the members around W0, a share of the "
                                                    "box half-width in (0, 1]")] = 0.1,
    dtype: Annotated[str, typer.Option(help="Population fitness pass: float32 | float64")] = "float32",
    memory_budget_mb: Annotated[float, typer.Option(help="Memory the population pass may use (MB)")] = 256.0,
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads while training (default: unchanged)")]
    = None,
    device: Annotated[str, typer.Option(help="torch device of the network and its fitness pass: cpu | cuda | cuda:N")]
    = "cpu",
    progress: Annotated[bool, typer.Option(help="Progress on stderr (iterations or epochs of the budget)")] = True,
    top_k: Annotated[int | None, typer.Option(
        min=1, help="Tags learned: the model can only ever recommend these (a fixed K, the K most frequent on the "
                    "training split; the paper's 10). Default: K from the data, every tag with at least "
                    "--min-tag-count training tweets")] = None,
    min_tag_count: Annotated[int | None, typer.Option(
        min=1, help="Training tweets a tag needs to be learned (default 20 when no --top-k; with "
                    "--top-k: at most K of these)")] = None,
    train_share: Annotated[float, typer.Option(help="Training share of the tagged tweets (0.6-0.9)")] = 0.8,
    val_share: Annotated[float, typer.Option(help="Validation share of the tagged tweets; the rest is the test split")]
    = 0.1,
    exclude_collection_tag: Annotated[bool, typer.Option(help="Drop #aapl / #avengersendgame from the labels")]
    = False,
    leakage: Annotated[str, typer.Option(help="strict | tagfinder (labels leak into the text)")] = "strict",
    text_column: Annotated[str | None, typer.Option(help="Text column of a user CSV")] = None,
    encoding: Annotated[str | None, typer.Option(help="Encoding of a user file (default UTF-8; e.g. latin-1)")]
    = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the split and of training")] = 0,
    out: Annotated[Path | None, typer.Option(parser=output_path,
                                             help="Save the trained model here (for `scpo recommend --model`)")]
    = None,
    json_file: Annotated[Path | None, typer.Option(
        "--json", parser=output_path, help="Write the settings and test metrics here (- : stdout): \"model\" the "
                                           "model's name, \"metrics\" its test metrics, \"frequency_metrics\" "
                                           "the frequency floor's")] = None,
    checkpoint: Annotated[Path | None, typer.Option(parser=output_path,
                                                    help="Save the training state here (atomic; resnet)")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(
        min=1, help="Iterations (population) or epochs (Adam) between checkpoints (default: adaptive; Adam: 1)")]
    = None,
    resume: Annotated[bool, typer.Option(help="Continue from --checkpoint if it exists")] = False,
    force: Annotated[bool, typer.Option(help="Save into an existing non-empty --out directory")] = False,
    seeds: Annotated[int | None, typer.Option(
        help="Train and evaluate on seeds --seed .. --seed+N-1 and report each metric's mean and 95 % t-interval "
             "over seeds for the model, the frequency floor and their paired difference (default: one run)")]
    = None,
) -> None:
    """Train a hashtag recommender on a seeded split and report test metrics beside the frequency floor.

    Ctrl-C stops training cleanly: the best weights so far are evaluated (and saved with --out), the
    metrics say "message": "interrupted", exit status 130; a second Ctrl-C exits at once. SIGTERM (a batch
    scheduler's time limit) does the same with "terminated" and exit status 143.

    --refine adam alone runs the measured memetic setting, --pop 16 --evals 400 --refine-members 1 --refine-steps 15
    --init w0 (chosen on held-out tweets, about 2x Adam's training time): a flag given wins over its implied value,
    the others keep theirs; the --json report's training settings record what ran."""
    if refine == "adam":
        given = {name for name in ctx.params if str(ctx.get_parameter_source(name)).endswith("COMMANDLINE")}
        implied = {name: value for name, value in MEMETIC_SETTING.items() if name not in given}
        pop, evals = implied.get("pop", pop), implied.get("evals", evals)
        refine_members, refine_steps = implied.get("refine_members", refine_members), \
            implied.get("refine_steps", refine_steps)
        init = implied.get("init", init)
    if model != "resnet" and optimizer is not None:
        fail(f"--optimizer applies to --model resnet only; baseline {model!r} trains its own way: drop --optimizer")
    if not 0 < train_share < 1 or not 0 <= val_share < 1 or train_share + val_share >= 1:
        fail(f"--train-share {train_share} and --val-share {val_share} must be shares in (0, 1) and [0, 1) that "
             "leave a test split (sum below 1); lower one of them")
    if resume and checkpoint is None:
        fail("--resume needs --checkpoint PATH")
    if seeds is not None and seeds < 1:
        fail(f"--seeds must be at least 1 (the number of seeded runs), got {seeds}")
    if seeds is not None and (out is not None or checkpoint is not None):
        fail(f"--seeds trains {seeds} models: it saves none (--out) and keeps no --checkpoint; train the chosen "
             "seed alone with --seed to save it")
    if checkpoint is not None and model != "resnet":
        fail(f"--checkpoint applies to --model resnet only; baseline {model!r} trains its own way")
    population = model == "resnet" and optimizer != "adam"
    if init not in ("uniform", "w0"):
        fail(f"--init must be uniform or w0, got {init!r}")
    if not 0 < init_spread <= 1:
        fail(f"--init-spread must be in (0, 1] (a share of the box half-width), got {init_spread!r}")
    if refine is not None or subspace is not None or init != "uniform":
        flag = "--refine" if refine is not None else "--subspace" if subspace is not None else "--init"
        if not population:
            what = f"--model {model}" if model != "resnet" else "--optimizer adam"
            fail(f"{flag} needs a population optimizer of --model resnet, got {what}")
    if refine is None and refine_adam != "fresh":
        fail(f"--refine-adam {refine_adam} needs --refine adam")
    if refine is not None:
        from networks.memetic import REFINE_ADAM, REFINERS, check_refinable

        if refine not in REFINERS:
            fail(f"--refine must be one of {', '.join(REFINERS)}, got {refine!r}")
        if refine_adam not in REFINE_ADAM:
            fail(f"--refine-adam must be one of {', '.join(REFINE_ADAM)}, got {refine_adam!r}")
        try:
            check_refinable(optimizer or "scpo")
        except ValueError as exc:
            fail(f"--refine: {exc}")
    if loss not in ("mse", "ce", "bce"):
        fail(f"--loss must be one of mse, ce, bce, got {loss!r}")
    if resample not in ("fixed", "per-iteration"):
        fail(f"--resample must be fixed or per-iteration, got {resample!r}")
    try:
        box = bounds if bounds == "scaled" else (-float(bounds), float(bounds))
    except ValueError:
        box = None
    if box is None or (box != "scaled" and not 0 < box[1] < float("inf")):
        fail(f"--bounds must be a positive number B (the box [-B, B]) or 'scaled', got {bounds!r}")
    check_outputs((out, "directory", "--out"), (json_file, "file", "--json"), (checkpoint, "file", "--checkpoint"))
    check_checkpoint_folder(checkpoint)
    check_fresh_out(out, force or resume)
    import features  # after the checks: loading the text pipeline takes seconds
    from networks import metrics
    from networks.recommender import HashtagRecommender

    try:
        if optimizer not in (None, "adam", *scpo.algorithm_names()):
            names = ", ".join(scpo.algorithm_names())
            raise ValueError(f"unknown optimizer {optimizer!r}; choose adam or one of {names}")
        device = scpo.backends.device_name(device)
        if device.startswith("cuda") and not _cuda_available():
            raise ValueError(f"--device {device}: no CUDA device here (torch.cuda.is_available() is False)")
        from networks.population import DTYPES

        if dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    except USER_ERRORS as exc:
        fail(str(exc))
    adam = model == "resnet" and optimizer == "adam"

    # The tags learned: a fixed --top-k, or (default) every tag with at least N training tweets.
    from features.labels import MIN_TAG_COUNT

    tag_floor = MIN_TAG_COUNT if top_k is None and min_tag_count is None else min_tag_count
    tag_choice = f"--top-k {top_k}" if tag_floor is None else f"--min-tag-count {tag_floor}" + (
        f", --top-k {top_k}" if top_k is not None else "")

    def run_seed(seed: int) -> tuple[dict, object, object]:
        """One seeded run (split, featurizer, initial weights, optimizer): its report as the single-seed
        --json has it, the fitted recommender and its training history (None for a baseline)."""
        try:
            data = features.build_dataset(source, top_k=top_k, train_share=train_share, val_share=val_share,
                                          seed=seed, leakage=leakage, exclude_collection_tag=exclude_collection_tag,
                                          text_column=text_column, encoding=encoding, min_tag_count=min_tag_count)
            if not data.test_texts:
                raise ValueError(f"{source} gives an empty test split ({len(data.train_texts)} training, "
                                 f"{len(data.val_texts)} validation tweets with a kept tag): use a larger corpus or "
                                 "lower --train-share / --val-share")
            if data.n_tags < 2:
                found = f"only #{data.tag_names[0]}" if data.tag_names else "none"
                raise ValueError(f"{source}: a recommender needs at least 2 tags in the training split, found "
                                 f"{found} ({tag_choice}): every tweet would get the same tag")
            warnings = []
            if len(data.test_texts) < MIN_TEST_TWEETS:
                warnings.append(f"the test split has only {len(data.test_texts)} tweets (fewer than "
                                f"{MIN_TEST_TWEETS}): the metrics say little; use a larger corpus or a larger test "
                                "share")
            budget = _progress_line(epochs, "epochs") if adam else _progress_line(evals)
            announced = []

            def announce(history) -> None:  # "resumed from" once, as soon as training continues
                if not announced and history.settings.get("resumed_at"):
                    unit = "epoch" if adam else "iteration"
                    total = epochs if adam else history.settings["max_iter"]
                    typer.echo(f"resumed from {checkpoint} at {unit} {history.settings['resumed_at']}/{total}",
                               err=True)
                announced.append(True)

            def on_progress(history) -> None:
                announce(history)
                if progress:
                    budget(history)

            population_params = {"resample": resample, "bounds": box, "refine": refine,
                                 "refine_steps": refine_steps, "refine_members": refine_members,
                                 "refine_lr": refine_lr, "refine_batch_size": refine_batch_size,
                                 "refine_adam": refine_adam, "subspace": subspace, "subspace_seed": subspace_seed,
                                 "init": init, "init_spread": init_spread} if population else {}
            recommender = HashtagRecommender(model=model, optimizer=optimizer, top_k_tags=max(data.n_tags, 1),
                                             max_evals=evals,
                                             loss=loss, **population_params,
                                             epochs=epochs, seed=seed, pop_size=pop, batch_size=batch_size,
                                             dtype=dtype, device=device,
                                             memory_budget_mb=memory_budget_mb, num_threads=threads,
                                             callback=on_progress if model == "resnet" else None,
                                             checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                                             stop_on_sigint=model == "resnet", leakage=leakage)
            recommender.fit(data.train_texts, data.train_tags, data.val_texts, data.val_tags)
            history = getattr(recommender, "history_", None)
            if history is not None:
                announce(history)  # a resumed run with nothing left to train
            # The floor counts the same training rows as the model (the frequency model holds nothing out).
            floor = HashtagRecommender(model="frequency", top_k_tags=max(data.n_tags, 1), seed=seed,
                                       leakage=leakage)
            floor.fit(data.train_texts, data.train_tags)
        except USER_ERRORS as exc:
            fail(str(exc))
        # "model" names what was trained; its test metrics are under "metrics", the floor's under "frequency_metrics".
        report = {"source": source, "model": model, "optimizer": optimizer, "seed": seed, "device": device,
                  "leakage": leakage, "top_k": top_k, "min_tag_count": tag_floor, "n_tags": data.n_tags,
                  "exclude_collection_tag": exclude_collection_tag,
                  "text_column": text_column, "encoding": encoding,
                  "train_share": train_share, "val_share": val_share, "n_train": len(data.train_texts),
                  "n_val": len(data.val_texts), "n_test": len(data.test_texts),
                  # Near-copies merged before the split; test tweets left out for carrying no top-K tag.
                  "duplicates_dropped": data.duplicates_dropped, "test_without_kept_tag": data.test_without_kept_tag,
                  "tags": list(data.tag_names),
                  "warnings": warnings, "message": _train_message(history)}
        if history is not None:  # the training cost, for comparing optimizers (wall time, evaluations, steps)
            report["training"] = {"wall_time_s": history.settings.get("wall_time_s"),
                                  "selection_loss": history.best_loss,
                                  "evals": history.evals[-1] if history.evals else 0,
                                  "grad_steps": history.grad_steps[-1] if history.grad_steps else 0,
                                  "samples": history.samples[-1] if history.samples else 0,
                                  "settings": {k: v for k, v in history.settings.items()
                                               if k not in ("wall_time_s", "resumed_at")}}
        for label, fitted in (("metrics", recommender), ("frequency_metrics", floor)):
            scores = aligned_scores(fitted, data.test_texts, data.tag_names)
            found = {**metrics.classification_metrics(data.Y_test, scores),
                     **metrics.ranking_metrics(data.Y_test, scores, ks=(1, 3, 5))}
            report[label] = {k: float(v) for k, v in found.items() if isinstance(v, int | float)}
        return report, recommender, history

    if seeds is not None:
        _train_seeds(run_seed, list(range(seed, seed + seeds)), json_file, progress)
        return
    report, recommender, history = run_seed(seed)
    warnings = report["warnings"]
    if out is not None:
        try:
            recommender.save(out)
        except (ValueError, OSError) as exc:
            fail(f"cannot save {model}: {exc}")
    if json_file is not None:
        try:
            emit_json(json_file, report)
        except OSError as exc:
            fail(str(exc))
    if report["message"] in STOP_STATUS:  # Ctrl-C or SIGTERM
        at = f"epoch {len(history.loss)}/{epochs}" if adam else \
            f"iteration {len(history.loss)}/{history.settings['max_iter']} ({history.settings['nfev']} evaluations)"
        where = ", ".join(str(p) for p in (out, json_file, checkpoint) if p is not None and not is_stdout(p))
        typer.echo(f"{report['message']} at {at}: the best weights so far (selection loss {history.best_loss:.4g}) "
                   f"evaluated{f', written to {where}' if where else ''}", err=True)
        raise typer.Exit(STOP_STATUS[report["message"]])
    for warning in warnings:  # beside the metrics it qualifies (an error before them stays one line)
        typer.echo(f"warning: {warning}", err=True)
    ours, base = report["metrics"], report["frequency_metrics"]
    typer.echo(f"{model}{'/' + optimizer if optimizer else ''} on {source} ({leakage}, seed {seed}): "
               f"P@1 {ours['p@1']:.3f} (frequency {base['p@1']:.3f}), micro-F1 {ours['micro_f1@top1']:.3f} "
               f"({base['micro_f1@top1']:.3f}), NDCG@3 {ours['ndcg@3']:.3f} ({base['ndcg@3']:.3f})",
               err=is_stdout(json_file))  # `--json -`: standard output holds the JSON alone


def _train_seeds(run_seed, seed_list: list[int], json_file: Path | None, progress: bool) -> None:
    """`scpo train --seeds N`: one run per seed, then each metric's mean and 95 % t-interval over seeds for the
    model, the frequency floor and the paired difference (model - floor on the same split: the floor's
    seed-to-seed spread is as large as the models' gains, so the pairing is what separates them). Ctrl-C or
    SIGTERM between (or during) runs keeps the finished runs, with "message" as a single run has it."""
    runs, message, started = [], "finished", time.perf_counter()
    try:
        for i, seed in enumerate(seed_list, 1):
            report, _, _ = run_seed(seed)
            if report["message"] in STOP_STATUS:  # a resnet run stopped mid-training is not a finished run
                message = report["message"]
                break
            runs.append(report)
            if progress:
                elapsed = time.perf_counter() - started
                eta = elapsed / i * (len(seed_list) - i)
                typer.echo(f"seed {seed} done ({i}/{len(seed_list)}): P@1 {report['metrics']['p@1']:.3f} (frequency "
                           f"{report['frequency_metrics']['p@1']:.3f})  {elapsed:.0f} s  ETA {eta:.0f} s", err=True)
    except KeyboardInterrupt as exc:  # scpo.observers.Terminated (SIGTERM) is one
        message = "terminated" if isinstance(exc, scpo.observers.Terminated) else "interrupted"
    per_seed = ("seed", "n_train", "n_val", "n_test", "test_without_kept_tag", "tags", "warnings", "message", "metrics",
                "frequency_metrics",
                "training")
    first = runs[0] if runs else {}
    result = {"model": first.get("model"), **{k: v for k, v in first.items() if k not in per_seed},
              "seeds": [run["seed"] for run in runs], "runs": runs,
              "interval": "95 % t-interval over seeds: mean +- t(0.975, N-1) * sd / sqrt(N), sd with N-1; "
                          "none for N = 1; difference: model - frequency per seed (paired)",
              "summary": _seed_summary(runs),
              "warnings": list(dict.fromkeys(w for run in runs for w in run["warnings"])), "message": message}
    if json_file is not None:
        try:
            emit_json(json_file, result)
        except OSError as exc:
            fail(str(exc))
    if message in STOP_STATUS:
        done = ", ".join(str(s) for s in result["seeds"]) or "none"
        where = f", written to {json_file}" if json_file is not None and not is_stdout(json_file) else ""
        typer.echo(f"{message}: finished seeds kept ({done}){where}", err=True)
        raise typer.Exit(STOP_STATUS[message])
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    optimizer = first.get("optimizer")
    echo = functools.partial(typer.echo, err=is_stdout(json_file))  # `--json -`: standard output holds the JSON alone
    echo(f"{first['model']}{'/' + optimizer if optimizer else ''} on {first['source']} ({first['leakage']}, seeds "
         f"{seed_list[0]}..{seed_list[-1]}): mean [95 % t-interval over {len(runs)} seeds]")

    def shown(cell: dict) -> str:
        return f"{cell['mean']:.3f}" + ("" if cell["low"] is None else f" [{cell['low']:.3f}, {cell['high']:.3f}]")

    summary = result["summary"]
    for name, key in (("P@1", "p@1"), ("micro-F1", "micro_f1@top1"), ("NDCG@3", "ndcg@3")):
        echo(f"  {name}: model {shown(summary['model'][key])}, frequency {shown(summary['frequency'][key])}, "
             f"difference {shown(summary['difference'][key])}")


def _seed_summary(runs: list[dict]) -> dict:
    """{"model" | "frequency" | "difference": {metric: {"mean", "low", "high"}}} over the runs (low and high
    None for a single run); the difference is taken per seed, then summarized (a paired interval)."""
    import numpy as np
    from scipy import stats

    def cell(values: list[float]) -> dict:
        x = np.asarray(values, dtype=float)
        mean = float(x.mean())
        if len(x) < 2:
            return {"mean": mean, "low": None, "high": None}
        half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
        return {"mean": mean, "low": mean - half, "high": mean + half}

    if not runs:
        return {"model": {}, "frequency": {}, "difference": {}}
    keys = [k for k in runs[0]["metrics"] if k in runs[0]["frequency_metrics"]]
    return {"model": {k: cell([r["metrics"][k] for r in runs]) for k in runs[0]["metrics"]},
            "frequency": {k: cell([r["frequency_metrics"][k] for r in runs]) for k in runs[0]["frequency_metrics"]},
            "difference": {k: cell([r["metrics"][k] - r["frequency_metrics"][k] for r in runs]) for k in keys}}


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _train_message(history) -> str:
    """How training ended, for the metrics JSON."""
    if history is None:
        return "trained"
    if history.interrupted:
        return "terminated" if getattr(history, "terminated", False) else "interrupted"
    return "early stopping" if history.stopped_early else "budget spent"


def _progress_line(total: int, unit: str = "evals"):
    """A trainer's progress on stderr from its per-iteration (per-epoch for ``unit="epochs"``)
    callback: one rewritten line on a terminal (at most 5 per second), plain lines every 2 s
    otherwise (CI logs), and always the first."""
    terminal, last = sys.stderr.isatty(), [-1e9]
    interval = 0.2 if terminal else 2.0

    def callback(history) -> None:
        now = time.perf_counter()
        done = len(history.loss) if unit == "epochs" else history.evals[-1]
        elapsed = history.time[-1]
        if now - last[0] < interval and done < total:
            return
        last[0] = now
        eta = elapsed / done * max(0, total - done) if done else float("nan")
        val = f" val {history.val_loss[-1]:.4g}" if history.val_loss else ""
        line = f"{done}/{total} {unit}  best {history.loss[-1]:.4g}{val}  {elapsed:.0f} s  ETA {eta:.0f} s"
        sys.stderr.write(f"\r{line} " if terminal else f"{line}\n")
        if terminal and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return callback


def aligned_scores(recommender, texts: list[str], tag_names: list[str]):
    """The recommender's scores with columns in the dataset's tag order."""
    import numpy as np

    scores = np.asarray(recommender.predict_proba(texts))
    column = {tag: i for i, tag in enumerate(recommender.classes_)}
    aligned = np.zeros((len(texts), len(tag_names)))
    for j, tag in enumerate(tag_names):  # a tag the model never saw scores 0
        if tag in column:
            aligned[:, j] = scores[:, column[tag]]
    return aligned


@app.command("train-benchmark")
def train_benchmark(
    source: Annotated[str, typer.Argument(help="apple | avengers | path/to/tweets.csv")],
    optimizers: Annotated[str, typer.Option(
        help="Comma-separated: adam, any population algorithm, or name:key=value,... (train_population options "
             "such as refine=adam, subspace=200, pop_size; or the algorithm's own; adam: lr, batch_size)")]
    = "adam,scpo,snes",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds 0..N-1 (split, featurizer, initial weights, optimizer)")]
    = 5,
    evals: Annotated[int, typer.Option(min=1, help="Fitness evaluations of every population optimizer")] = 2000,
    epochs: Annotated[int, typer.Option(min=1, help="Adam's cap in epochs (early stopping: patience 20)")] = 200,
    pop: Annotated[int | None, typer.Option(min=1, help="Population size (PO/SCPO: a perfect square)")] = 64,
    top_k: Annotated[int, typer.Option(
        min=1, help="Tags learned: the K most frequent of the training split, the only ones a model can recommend; "
                    "a fixed K (the paper's 10) so that every optimizer trains the same network size")] = 10,
    train_share: Annotated[float, typer.Option(help="Training share of the tagged tweets")] = 0.8,
    val_share: Annotated[float, typer.Option(help="Validation share (curves and weight selection; > 0)")] = 0.1,
    exclude_collection_tag: Annotated[bool, typer.Option(help="Drop #aapl / #avengersendgame from the labels")]
    = False,
    leakage: Annotated[str, typer.Option(help="strict | tagfinder (labels leak into the text)")] = "strict",
    text_column: Annotated[str | None, typer.Option(help="Text column of a user CSV")] = None,
    encoding: Annotated[str | None, typer.Option(help="Encoding of a user file (default UTF-8; e.g. latin-1)")]
    = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads per run")] = 1,
    out: Annotated[Path, typer.Option(parser=output_path, help="Output directory (re-running resumes)")]
    = Path("train-benchmark"),
    quiet: Annotated[bool, typer.Option(help="No progress on stderr")] = False,
) -> None:
    """Race population optimizers against Adam on the same splits and budget: results.csv, curves.png
    (validation loss and Hit@5 against wall time and examples forwarded), summary.md (rank-sum tests vs Adam).

    Re-running the same command skips finished (optimizer, seed) rows; Ctrl-C keeps them (exit 130; SIGTERM:
    exit 143)."""
    check_outputs((out, "directory", "--out"))
    try:
        from networks.race import run_race

        result = run_race(source, optimizers, seeds=seeds, evals=evals, out_dir=out, epochs=epochs, pop=pop,
                          top_k=top_k, train_share=train_share, val_share=val_share,
                          exclude_collection_tag=exclude_collection_tag, text_column=text_column, leakage=leakage,
                          threads=threads, progress=_bench_progress(quiet), encoding=encoding)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (scpo.observers.Terminated)
        _benchmark_interrupted(out, exc)
    except USER_ERRORS as exc:
        fail(str(exc))
    typer.echo(f"{result.ran} runs computed, {result.skipped} resumed; {len(result.rows)} rows in "
               f"{out / 'results.csv'}, summary in {result.summary}, curves in {result.plot}")


RECOMMEND_FORMATS = ("text", "json", "csv")


def _recommend_inputs(source: str, text_column: str | None) -> list[str]:
    """The tweets of ``--input``: ``-`` (stdin) or a file, one tweet per line (blank lines skipped), or the
    ``text_column`` of a CSV (a ``.csv`` file or any ``--text-column``), where a quoted tweet may hold newlines."""
    try:
        if source == "-":
            content = sys.stdin.read()
        else:
            content = Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ValueError(f"cannot read --input {source}: {exc.strerror or exc}") from None
    if text_column is None and not source.lower().endswith(".csv"):
        return [line.rstrip("\r") for line in content.split("\n") if line.strip()]
    column = text_column or "text"
    reader = csv.DictReader(io.StringIO(content, newline=""))
    if column not in (reader.fieldnames or []):
        found = ", ".join(reader.fieldnames or []) or "none"
        raise ValueError(f"{source} has no column {column!r} (columns: {found}); name it with --text-column")
    return [row[column] for row in reader if row[column] and row[column].strip()]


def _escaped(text: str) -> str:
    """``text`` on one line: backslash, tab, CR and newline written as backslash escapes (as Python does)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


@app.command()
def recommend(
    texts: Annotated[list[str] | None, typer.Argument(
        help="Tweets to tag; without --model the first is the model directory", metavar="[MODEL_DIR] [TEXT...]",
        show_default=False)] = None,
    model: Annotated[Path | None, typer.Option("--model", help="A directory written by `scpo train --out`")] = None,
    k: Annotated[int, typer.Option(min=1, help="Tags shown per tweet (at most), out of the tags the model learned "
                                               "(`scpo train --top-k` / --min-tag-count)")] = 3,
    min_score: Annotated[float | None, typer.Option(
        "--min-score", help="Hide tags scoring below this; a tweet no tag reaches says so (text) or gets no tags "
        "(json, csv). Scores mean different things per model: see the README")] = None,
    input_: Annotated[str | None, typer.Option(
        "--input", "-i", help="Read tweets from this file, or - for stdin: one tweet per line, or a CSV column "
        "(a .csv file or --text-column)")] = None,
    text_column: Annotated[str | None, typer.Option(
        "--text-column", help="The CSV column holding the tweets (default: text); reads --input as CSV")] = None,
    output_format: Annotated[str, typer.Option(
        "--format", help="text: '#tag score ...<TAB>tweet' per line (tabs and newlines in the tweet escaped); "
        "json: one JSON array of {text, tags: [{tag, score}]}; csv: text,tag_1,score_1,... (quoted as needed)")]
        = "text",
) -> None:
    """Recommend up to k hashtags, with their scores, for each tweet with a saved model (any model `scpo train
    --out` saved). Many tweets in one call (--input) load the model once; `frequency` and `tfidf-lr` models
    load without torch."""
    if output_format not in RECOMMEND_FORMATS:
        fail(f"--format must be one of {', '.join(RECOMMEND_FORMATS)}, got {output_format!r}")
    if min_score is not None and min_score != min_score:
        fail("--min-score must be a number, got nan")
    texts = list(texts or [])
    if model is None:
        if not texts:
            fail("give the model directory (--model DIR or first argument) and at least one text (or --input)")
        model, texts = Path(texts[0]), texts[1:]
    if text_column is not None and input_ is None:
        fail("--text-column names a column of --input; give --input FILE")
    from networks.recommender import HashtagRecommender

    try:
        if input_ is not None:
            texts += _recommend_inputs(input_, text_column)
        if not texts:
            fail(f"no tweet to tag: give texts{' or a non-empty --input' if input_ is not None else ' or --input'}")
        recommender = HashtagRecommender.load(model)
        recommended = recommender.recommend(texts, k, min_score=min_score, with_scores=True)
    except USER_ERRORS as exc:
        fail(str(exc))
    if output_format == "json":
        records = [{"text": text, "tags": [{"tag": t, "score": round(s, 6)} for t, s in pairs]}
                   for text, pairs in zip(texts, recommended, strict=True)]
        typer.echo(json.dumps(records, ensure_ascii=False, indent=1))
    elif output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["text", *(f"{name}_{i}" for i in range(1, k + 1) for name in ("tag", "score"))])
        for text, pairs in zip(texts, recommended, strict=True):
            writer.writerow([text, *(cell for t, s in pairs for cell in (t, f"{s:.6f}"))])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        for text, pairs in zip(texts, recommended, strict=True):
            shown = "  ".join(f"#{t} {s:.3f}" for t, s in pairs) if pairs else f"(no tag reaches {min_score:.2f})"
            typer.echo(f"{shown}\t{_escaped(text)}")


@app.command()
def serve(
    model: Annotated[Path, typer.Option("--model", help="A directory written by `scpo train --out`")],
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port)")] = 8000,
    k: Annotated[int, typer.Option(min=1, max=50, help="Tags shown per tweet unless the page asks for more")] = 5,
) -> None:
    """A local web page: type a tweet, see its tags with their scores and the cleaned text the model read;
    GET /api/recommend?text=...&k=3 answers JSON. Ctrl-C (exit 130) or SIGTERM (143) stops it."""
    from networks.recommender import HashtagRecommender
    from networks.serve import make_server, url_of

    try:
        recommender = HashtagRecommender.load(model)
    except USER_ERRORS as exc:
        fail(str(exc))
    try:
        server = make_server(recommender, host, port, k, model_name=f"{recommender.model} ({model})")
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    typer.echo(f"serving {recommender.model} model at {url_of(server)} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (scpo.observers.Terminated)
        terminated = isinstance(exc, scpo.observers.Terminated)
        typer.echo("terminated" if terminated else "interrupted", err=True)
        raise typer.Exit(143 if terminated else 130) from None
    finally:
        server.server_close()


@app.command()
def bias(
    algos: Annotated[str, typer.Option(help="Comma-separated algorithms; name:key=value adds an option "
                                            "(e.g. scpo:variant=invariant)")] = "sca,scpo,de",
    dim: Annotated[int, typer.Option(min=1, help="Dimension of f0 and of the shift test's functions")] = 30,
    runs: Annotated[int, typer.Option(help="f0: independent runs, one of 30, 50, 100, 600 (the BIAS toolbox's "
                                           "sample sizes)")] = 100,
    evals: Annotated[int | None, typer.Option(
        min=1, help="f0: evaluations per run (default 10,000 x dim)", show_default=False)] = None,
    bounds: Annotated[str, typer.Option(help="f0: the box LB,UB in every coordinate (default F1's, centred on the "
                                             "origin)")] = "-100,100",
    alpha: Annotated[float, typer.Option(help="f0: significance level after Benjamini-Hochberg")] = 0.01,
    shift: Annotated[bool, typer.Option(help="Run the shift test too (--no-shift: f0 alone)")] = True,
    functions: Annotated[str, typer.Option(
        help="Shift test: classic functions (names or f1..f13), or all (F1-F13 without F8)")] = "all",
    shift_runs: Annotated[int, typer.Option(min=1, help="Shift test: runs per function, shifted and not")] = 20,
    shift_evals: Annotated[int, typer.Option(min=1, help="Shift test: evaluations per run")] = 50000,
    seed: Annotated[int, typer.Option(min=0, help="Master seed")] = 0,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    out: Annotated[Path, typer.Option(parser=output_path, help="Output directory (re-running resumes)")]
    = Path("bias"),
    quiet: Annotated[bool, typer.Option(help="No progress on stderr")] = False,
) -> None:
    """Structural bias of each algorithm: the BIAS toolbox's f0 protocol (uniformity of the final positions
    of independent runs on pure noise: KS, Anderson-Darling, Cramér-von Mises per dimension,
    Benjamini-Hochberg) and Kudela's shift test (error ratio shifted / unshifted by 10 % of the range,
    geometric mean; centre-biased above 10). Writes bias.json, bias.md, bias.png and runs.csv into --out.

    Re-running the same command skips finished runs; Ctrl-C keeps them and writes bias.json from them
    (exit 130; SIGTERM: exit 143)."""
    parts = bounds.split(",")
    try:
        box = tuple(float(part) for part in parts)
    except ValueError:
        box = ()
    if len(box) != 2:
        fail(f"--bounds must be two numbers LB,UB, got {bounds!r}")
    check_outputs((out, "directory", "--out"))
    from scpo.bias import run_bias, summary_lines

    try:
        result = run_bias(algos, dim=dim, runs=runs, evals=evals, seed=seed, bounds=box, alpha=alpha, shift=shift,
                          shift_functions=functions, shift_runs=shift_runs, shift_evals=shift_evals, out_dir=out,
                          jobs=jobs, progress=_bench_progress(quiet))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (scpo.observers.Terminated)
        terminated = isinstance(exc, scpo.observers.Terminated)
        typer.echo(f"{'terminated' if terminated else 'interrupted'}: finished runs kept in {out / 'runs.csv'}, "
                   f"verdicts from them in {out / 'bias.json'}; run the same command again to resume", err=True)
        raise typer.Exit(143 if terminated else 130) from None
    except USER_ERRORS as exc:
        fail(" ".join(str(exc).splitlines()))
    for line in summary_lines(result.report):
        typer.echo(line)
    typer.echo(f"{result.ran} runs computed, {result.skipped} resumed; verdicts in {result.json_path}, "
               f"histograms in {result.figure}")


def main() -> None:  # pragma: no cover - console entry for `python cli.py`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

