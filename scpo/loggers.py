"""Loggers: observers that record a run per iteration, to watch a long run or compare runs later.

Each logged row has the columns of :data:`COLUMNS`:

- ``iteration``, ``nfev``, ``time`` (seconds, as ``result.history``), ``best`` (the best
  fitness so far: ``result.history["best"]``);
- over the rows evaluated in the iteration (every row the objective was handed since the
  previous iteration ended: PO and SCPO evaluate twice per iteration, the campaign's N rows
  and the parliament's n, and both count; the initial population is a row of its own only
  where the algorithm counts it as an iteration, as SCA and CMA-ES do): ``pop_best``,
  ``pop_mean``, ``pop_median``, ``pop_std`` (population standard deviation) of the finite
  fitness values (NaN when none was finite), ``pop_rows`` (rows evaluated) and
  ``pop_nonfinite`` (of those, the NaN or inf ones);
- ``diversity``: the mean over coordinates of the rows' standard deviation in that
  coordinate divided by the box width ``ub - lb`` (0: all rows equal; about 0.29 for rows
  uniform in the box);
- ``sigma``: the algorithm's step size after the iteration's update, as a share of the
  box width (:func:`step_size`; empty for algorithms without one).

A row is logged every ``every`` iterations and at the last iteration of the budget; a run that
``max_evals`` ends inside an iteration gets a last row for the rows of that unfinished
iteration (``iteration`` is then ``nit + 1``), so with ``every=1`` the rows match
``result.history`` one for one.

The statistics are whole-array operations once per evaluated batch (moments of the
normalised rows, a copy of the fitness) and once per logged iteration; with torch they stay
on the device and one small vector per logged iteration comes back to the host. Nothing is
computed for iterations that are not logged. The engine knows nothing of these classes:
attach them as any observer (``minimize(..., observers=[CSVLogger("run.csv")])``).
Each closes cleanly when the run ends, interrupted (Ctrl-C) included.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from scpo.io import _sigint_deferred, atomic_write
from scpo.observers import Observer
from scpo.stopping import step_size as sampling_step

if TYPE_CHECKING:  # annotations only: the engine imports this module
    from scpo.engine import Optimizer, OptimizeResult

__all__ = ["COLUMNS", "CSVLogger", "MLflowLogger", "StatsLogger", "TensorBoardLogger", "run_params", "step_size"]

COLUMNS = ("iteration", "nfev", "time", "best", "pop_best", "pop_mean", "pop_median", "pop_std", "pop_rows",
           "pop_nonfinite", "diversity", "sigma")


def step_size(optimizer: Optimizer) -> Any:
    """The step size of the optimizer's algorithm as a share of the box width, or ``None``: the mean over
    coordinates of the sampling distribution's standard deviation (:meth:`Algorithm.step_size`: cma's
    ``stds`` for ``cmaes``, ``sigma sqrt(C)`` for ``sep-cmaes``, the per-coordinate ``sigma`` of ``snes``,
    ``pgpe`` and ``openai-es``). A float, or a 0-d array or tensor (left on the device); ``None`` for the
    other algorithms.
    """
    step = sampling_step(optimizer.algorithm, optimizer.run_state.algorithm_state)
    if step is None:
        return None
    return step.mean() if hasattr(step, "mean") else float(step)


def run_params(optimizer: Optimizer) -> dict[str, Any]:
    """The run's settings (algorithm, problem, budget, seed, backend, the algorithm's options) as
    flat ``str -> scalar`` pairs, for an experiment tracker."""
    problem = optimizer.problem
    params = {
        "algorithm": optimizer.algorithm.name, "problem": problem.name, "dim": problem.dim,
        "pop_size": optimizer.pop_size, "max_iter": optimizer.max_iter, "max_evals": optimizer.max_evals,
        "seed": optimizer.seed, "backend": optimizer.backend, "device": optimizer.device, "dtype": optimizer.dtype,
    }
    for key, value in sorted(getattr(optimizer.algorithm, "options", {}).items()):
        params[f"option.{key}"] = value if isinstance(value, bool | int | float | str) else repr(value)
    return params


def _check_every(every: Any) -> int:
    if isinstance(every, bool) or not isinstance(every, int | np.integer) or every < 1:
        raise ValueError(f"every must be a positive integer (log every k-th iteration), got {every!r}")
    return int(every)


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


def _on_host(tensor: Any) -> bool:
    """A tensor in host memory, whose statistics numpy computes on a view."""
    return tensor.device.type == "cpu"


class StatsLogger(Observer):
    """Computes the row of each logged iteration (see the module's docstring) and hands it to
    :meth:`write`; subclasses write it somewhere. ``every``: log every k-th iteration."""

    def __init__(self, every: int = 1):
        self.every = _check_every(every)
        self.batches: list[tuple] = []  # (rows, mean, M2, fitness) of each batch of the iteration
        self.closed = False
        self.rows = 0

    # ---- the hooks

    def on_evaluation(self, optimizer: Optimizer, candidates: Any, fitness: Any) -> None:
        run = optimizer.run_state
        if run.algorithm_state is None and not optimizer.algorithm.initial_counts_as_iteration:
            return  # the initial population: no iteration of its own
        iteration = run.nit + 1
        if not (optimizer.evals_spent or iteration % self.every == 0 or iteration >= optimizer.max_iter):
            return  # evals_spent: the run's last batch (nfev already counts it)
        self.batches.append(self._moments(optimizer, candidates, fitness))

    def on_iteration(self, optimizer: Optimizer) -> None:
        if self.batches:
            self._log(optimizer, optimizer.nit)

    def on_end(self, optimizer: Optimizer, result: OptimizeResult) -> None:
        if self.batches and optimizer.evals_spent and not self.closed:
            self._log(optimizer, optimizer.nit + 1)  # max_evals ended the run inside an iteration
        self.batches = []
        self.close()

    def on_interrupt(self, optimizer: Optimizer) -> None:
        self.batches = []
        self.close()

    def on_error(self, optimizer: Optimizer, error: BaseException) -> None:
        self.batches = []  # the rows of the completed iterations stay written
        self.close()

    # ---- for subclasses

    def write(self, row: dict[str, Any], optimizer: Optimizer) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True

    # ---- statistics

    def _moments(self, optimizer: Optimizer, X: Any, fitness: Any) -> tuple:
        """Rows, per-coordinate mean and sum of squared deviations of the batch, and a copy of its
        fitness (numba reuses its buffers). Tensors on the cpu are read as numpy views of the same
        memory (a small torch op costs several times numpy's); on a GPU they stay there."""
        if _is_tensor(X) and _on_host(X):
            X, fitness = X.detach().numpy(), fitness.detach().numpy()
        if _is_tensor(X):
            import torch

            var, mean = torch.var_mean(X, 0, correction=0)
            return len(X), mean, var * len(X), fitness.detach().clone()
        mean = X.sum(0) / len(X)  # sum, not mean(): numpy's mean costs more on small arrays
        deviation = X - mean
        m2 = np.einsum("ij,ij->j", deviation, deviation)
        return len(X), mean, m2, np.array(fitness, copy=True)

    def _log(self, optimizer: Optimizer, iteration: int) -> None:
        batches, self.batches = self.batches, []
        rows = sum(b[0] for b in batches)
        if len(batches) == 1:
            m2 = batches[0][2]
        else:  # Chan et al.'s merge of the batches' moments
            mean = sum(n * m for n, m, _, _ in batches) / rows
            m2 = sum(b_m2 + n * (m - mean) ** 2 for n, m, b_m2, _ in batches)
        sigma = step_size(optimizer)
        best = optimizer.best_objective
        width = optimizer.problem.ub - optimizer.problem.lb
        if _is_tensor(m2):
            values = _torch_stats([b[3] for b in batches], m2, rows, width, best, sigma)
        else:
            values = _numpy_stats(np.concatenate([b[3] for b in batches]), m2, rows, width, best, sigma)
        best, pop_best, pop_mean, pop_median, pop_std, finite, diversity, sigma_value = values
        row = {"iteration": int(iteration), "nfev": int(optimizer.nfev), "time": float(optimizer.elapsed()),
               "best": best, "pop_best": pop_best, "pop_mean": pop_mean, "pop_median": pop_median,
               "pop_std": pop_std, "pop_rows": int(rows), "pop_nonfinite": int(rows - round(finite)),
               "diversity": diversity, "sigma": None if sigma is None else sigma_value}
        if not self.closed:
            self.write(row, optimizer)
            self.rows += 1


def _numpy_stats(fitness: np.ndarray, m2: np.ndarray, rows: int, width: np.ndarray, best: Any,
                 sigma: Any) -> list[float]:
    """best so far, the finite fitness values' min, mean, median, std and count, diversity, sigma."""
    finite = np.isfinite(fitness)
    values = np.sort(fitness if finite.all() else fitness[finite]).astype(float, copy=False)
    k = values.size
    if k:
        mean = values.sum() / k
        deviation = values - mean
        stats = [values[0], mean, (values[(k - 1) // 2] + values[k // 2]) / 2, math.sqrt(deviation @ deviation / k)]
    else:
        stats = [math.nan] * 4
    diversity = float((np.sqrt(m2 / rows) / width).mean())
    return [float(best), *map(float, stats), float(k), diversity, math.nan if sigma is None else float(sigma)]


def _torch_stats(batches: list, m2: Any, rows: int, width: np.ndarray, best: Any, sigma: Any) -> list[float]:
    """:func:`_numpy_stats` as tensor operations on the device, stacked and brought back in one transfer."""
    import torch

    fitness = torch.cat(batches).to(torch.float64)
    device = fitness.device
    finite = torch.isfinite(fitness)
    count = finite.sum()
    k = count.to(torch.float64)
    zero = torch.zeros((), dtype=torch.float64, device=device)
    nan = torch.full((), math.nan, dtype=torch.float64, device=device)
    mean = torch.where(finite, fitness, zero).sum() / k
    std = (torch.where(finite, (fitness - mean) ** 2, zero).sum() / k).sqrt()
    low = torch.where(finite, fitness, torch.inf).min()
    ordered = torch.sort(fitness).values  # the non-finite values (+inf after the engine's check) last
    middle = torch.stack([(count - 1).clamp(min=0) // 2, count // 2])
    median = ordered.gather(0, middle).mean()
    some = count > 0
    width = torch.as_tensor(width, dtype=torch.float64, device=device)
    diversity = ((m2.to(torch.float64) / rows).sqrt() / width).mean()

    def scalar(value: Any) -> Any:
        if value is None:
            return nan
        return torch.as_tensor(value, device=device).to(torch.float64).reshape(())

    vector = torch.stack([scalar(best), torch.where(some, low, nan), mean, torch.where(some, median, nan), std, k,
                          diversity.to(device), scalar(sigma)])
    return vector.cpu().tolist()


def _row_until(line: str, iteration: int) -> bool:
    """``line`` is a complete row (a file another program cut short may end with a partial one) of an
    iteration up to ``iteration``."""
    fields = line.split(",")
    return len(fields) == len(COLUMNS) and fields[0].isdigit() and int(fields[0]) <= iteration


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class CSVLogger(StatsLogger):
    """A CSV file with one row per logged iteration (columns :data:`COLUMNS`; ``sigma`` empty for
    algorithms without a step size), written as the run goes: each row is one write, flushed, with
    Ctrl-C held back meanwhile, so the file always ends with a complete row.

    ``resume=True`` keeps the rows already in ``path`` up to the iteration the run starts from
    (a resumed run: the rows after its checkpoint are dropped, as those iterations are redone);
    otherwise the file is started afresh. :meth:`frame` reads it back as a pandas DataFrame.
    """

    def __init__(self, path: str | Path, every: int = 1, resume: bool = False):
        super().__init__(every)
        self.path, self.resume = Path(path), bool(resume)
        self.handle: IO[str] | None = None
        if self.path.is_dir():
            raise ValueError(f"CSVLogger path {self.path} is a directory; name a file")
        if self.resume and self.path.is_file():
            header = self.path.read_text().split("\n", 1)[0]
            if header and header != ",".join(COLUMNS):
                raise ValueError(f"{self.path} is not a CSVLogger file of this version (its header is {header!r}); "
                                 f"resume into a new file")

    def on_start(self, optimizer: Optimizer) -> None:
        self.closed = False
        self._open(optimizer.nit)

    def _open(self, keep_until: int) -> None:
        if self.handle is not None:
            return
        header = ",".join(COLUMNS) + "\n"
        kept = ""
        if self.resume and self.path.is_file():
            lines = self.path.read_text().split("\n")[1:]
            kept = "".join(f"{line}\n" for line in lines if _row_until(line, keep_until))
        with _sigint_deferred():
            atomic_write(self.path, lambda tmp: tmp.write_text(header + kept))
            self.handle = open(self.path, "a", newline="")  # noqa: SIM115  (closed by close())
        self.resume = True  # a later run of the same optimizer appends

    def write(self, row: dict[str, Any], optimizer: Optimizer) -> None:
        self._open(optimizer.nit)  # ask/tell use: no on_start
        line = ",".join(_format(row[c]) for c in COLUMNS) + "\n"
        assert self.handle is not None  # opened by _open
        with _sigint_deferred():
            self.handle.write(line)
            self.handle.flush()

    def close(self) -> None:
        super().close()
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def frame(self) -> Any:
        """The file as a pandas DataFrame (pandas is needed for this method only)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("CSVLogger.frame() needs pandas: pip install pandas (or read the CSV file "
                              f"{self.path} with the csv module)") from None
        return pd.read_csv(self.path)


class TensorBoardLogger(StatsLogger):
    """Scalars for TensorBoard (``tensorboard --logdir LOGDIR``): one per column of :data:`COLUMNS`
    but ``iteration``, which is the step; ``sigma`` only where the algorithm has a step size. The
    run's settings (:func:`run_params`) are a text entry ``settings``. Written by
    ``torch.utils.tensorboard.SummaryWriter``: needs the ``tensorboard`` package
    (``pip install scpo[tensorboard]``). ``flush_secs``: the longest a logged value waits in memory.
    """

    def __init__(self, logdir: str | Path, every: int = 1, flush_secs: int = 10):
        super().__init__(every)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("TensorBoardLogger needs the tensorboard package: "
                              "pip install scpo[tensorboard]") from None
        self.logdir, self.flush_secs, self._writer_class = Path(logdir), int(flush_secs), SummaryWriter
        self.writer: Any = None  # a SummaryWriter once open

    def on_start(self, optimizer: Optimizer) -> None:
        self.closed = False
        self._open(optimizer)

    def _open(self, optimizer: Optimizer) -> None:
        if self.writer is None:
            self.writer = self._writer_class(log_dir=str(self.logdir), flush_secs=self.flush_secs)
            self.writer.add_text("settings", json.dumps(run_params(optimizer), default=str))

    def write(self, row: dict[str, Any], optimizer: Optimizer) -> None:
        self._open(optimizer)
        step = row["iteration"]
        for key in COLUMNS[1:]:
            if row[key] is not None:
                self.writer.add_scalar(key, row[key], global_step=step)

    def close(self) -> None:
        super().close()
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class MLflowLogger(StatsLogger):
    """An MLflow run: the settings (:func:`run_params`) as parameters when the run starts, the
    columns of :data:`COLUMNS` but ``iteration`` (the step) as metrics per logged iteration, the
    run marked FINISHED at the end (KILLED on Ctrl-C). Needs ``mlflow`` (``pip install scpo[mlflow]``).

    ``tracking_uri``: where runs are stored, e.g. a local file store ``"file:/path/mlruns"`` or
    ``"sqlite:///mlflow.db"`` (``None``: mlflow's default, ``MLFLOW_TRACKING_URI``); nothing
    goes over the network unless the URI says so. A file store is refused by mlflow >= 3.18
    unless ``MLFLOW_ALLOW_FILE_STORE=true``: a file store URI given here sets it (unless already
    set), since asking for one is the opt-in. ``experiment``: the experiment's name (created if
    needed); ``run_name``: the run's. Uses ``MlflowClient``, not the fluent API, so an active
    ``mlflow.start_run()`` of the caller is left alone.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str = "scpo", run_name: str | None = None,
                 every: int = 1):
        super().__init__(every)
        try:
            from mlflow.entities import Metric, Param
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ImportError("MLflowLogger needs the mlflow package: pip install scpo[mlflow]") from None
        if tracking_uri is not None and (not isinstance(tracking_uri, str) or not tracking_uri.strip()):
            raise ValueError(f"tracking_uri must be a non-empty string or None, got {tracking_uri!r}")
        if tracking_uri is not None and (tracking_uri.startswith("file:") or "://" not in tracking_uri):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.tracking_uri, self.experiment, self.run_name = tracking_uri, str(experiment), run_name
        self._client_class, self._metric, self._param = MlflowClient, Metric, Param
        self.client: Any = None  # an MlflowClient once open
        self.run_id: str | None = None

    def on_start(self, optimizer: Optimizer) -> None:
        self.closed = False
        self._open(optimizer)

    def _open(self, optimizer: Optimizer) -> None:
        if self.run_id is not None:
            return
        self.client = self._client_class(tracking_uri=self.tracking_uri)
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = found.experiment_id if found is not None else self.client.create_experiment(self.experiment)
        self.run_id = self.client.create_run(experiment_id, run_name=self.run_name).info.run_id
        params = [self._param(key, str(value)) for key, value in run_params(optimizer).items()]
        self.client.log_batch(self.run_id, params=params)

    def write(self, row: dict[str, Any], optimizer: Optimizer) -> None:
        self._open(optimizer)
        stamp, step = int(time.time() * 1000), row["iteration"]
        metrics = [self._metric(key, float(row[key]), stamp, step) for key in COLUMNS[1:] if row[key] is not None]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_interrupt(self, optimizer: Optimizer) -> None:
        self._end("KILLED")
        super().on_interrupt(optimizer)

    def on_error(self, optimizer: Optimizer, error: BaseException) -> None:
        self._end("FAILED")
        super().on_error(optimizer, error)

    def close(self) -> None:
        self._end("FINISHED")
        super().close()

    def _end(self, status: str) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status)
            self.run_id = None
