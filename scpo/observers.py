"""Observers of a run: everything around the loop that is not the loop (history, checkpoints,
progress display, callbacks, Ctrl-C), attached to an :class:`scpo.engine.Optimizer`.

The engine calls each hook of each attached observer, in the order attached:

- ``on_start(optimizer)``: ``optimizer.run()`` begins (after a resume, at the resumed state);
- ``on_evaluation(optimizer, candidates, fitness)``: after every ``tell``, before the
  algorithm consumes the fitness. ``candidates`` and ``fitness`` are the engine's own arrays
  (numba reuses its buffers): copy what you keep;
- ``on_iteration(optimizer)``: an iteration is complete (``optimizer.nit`` just grew); not
  after a last batch cut short by ``max_evals`` (``on_evaluation`` and ``on_end`` see it);
- ``on_interrupt(optimizer)``: the run ends because of an interrupt (Ctrl-C: a
  ``KeyboardInterrupt``, or a stop requested with the message ``"interrupted"`` or, SIGTERM,
  ``"terminated"``);
- ``on_end(optimizer, result)``: ``optimizer.run()`` ends normally (budget, stop request,
  interrupt handled by :class:`StopOnSigint`) with ``result``;
- ``on_error(optimizer, error)``: ``optimizer.run()`` ends because ``error`` left it (the objective
  raised; a second signal's ``SystemExit``), which propagates once every observer has seen it. Files
  close, an MLflow run ends ``FAILED``, signal handlers are restored; the last periodic checkpoint stands.

Any hook may call ``optimizer.request_stop(message)``: the run ends after the current
evaluation with that message. ``on_evaluation`` and ``on_iteration`` also fire in plain
ask/tell use; ``on_start``/``on_end`` only inside ``run()``. An observer that replaces
members after an iteration (memetic, Lamarckian refinement) calls
``optimizer.replace_members(indices, X, fitness)`` from ``on_iteration``.

Nothing here imports the engine.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the engine imports this module
    from scpo.engine import Optimizer, OptimizeResult

__all__ = ["Callback", "Checkpointer", "History", "Observer", "ProgressDisplay", "StopOnSigint", "Terminated",
           "sigterm_raises"]

INTERRUPTED = "interrupted"
TERMINATED = "terminated"
# a signal that stops a run: the run's message and the exit status of a second one (128 + the signal)
STOP_SIGNALS: dict[int, tuple[str, int]] = {signal.SIGINT: (INTERRUPTED, 130), signal.SIGTERM: (TERMINATED, 143)}


class Observer:
    """The hook interface; every hook does nothing unless overridden."""

    def on_start(self, optimizer: Optimizer) -> None:
        pass

    def on_evaluation(self, optimizer: Optimizer, candidates: Any, fitness: Any) -> None:
        pass

    def on_iteration(self, optimizer: Optimizer) -> None:
        pass

    def on_interrupt(self, optimizer: Optimizer) -> None:
        pass

    def on_end(self, optimizer: Optimizer, result: OptimizeResult) -> None:
        pass

    def on_error(self, optimizer: Optimizer, error: BaseException) -> None:
        pass


SETTLE_EVERY = 64  # History: iterations between two readings of the torch cpu backend's values


@dataclass
class History(Observer):
    """Best fitness after each counted iteration, with evaluations used and seconds elapsed.

    With constraints, ``best`` is the objective of the best so far by Deb's rules (an infeasible
    point's while none is feasible) and ``violation`` its total constraint violation."""

    best: list = field(default_factory=list)
    nfev: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    violation: list = field(default_factory=list)
    settled: int = 0  # entries of best before this index are host floats (see _settle)
    settled_violation: int = 0  # the same for violation (which starts later when no point was evaluated yet)

    def on_iteration(self, optimizer: Optimizer) -> None:
        pair = optimizer.run_state.feasibility
        if pair is None or pair.best_x is None:
            self.best.append(optimizer.run_state.best_fitness)
        else:
            self.best.append(pair.best_x[0])
            self.violation.append(pair.best_x[1])
        self.nfev.append(optimizer.nfev)
        self.time.append(optimizer.elapsed())
        if len(self.best) - self.settled >= SETTLE_EVERY and str(optimizer.device).startswith("cpu"):
            self._settle(optimizer.impl)

    def _settle(self, backend: Any) -> None:
        """The torch backend's values become host floats every :data:`SETTLE_EVERY` iterations on the cpu.

        Each 0-d tensor kept is a few small C++ allocations that outlive the generation's large arrays and
        pin glibc's heap between them: a torch cpu SNES run grew by about 1 MB per generation (2.2 GB after
        1,200 generations of a 2.4k-weight network, 480 MB when the history held floats). Reading a cpu tensor
        is no device synchronization; on cuda the values stay on the device until the run ends."""
        self.best[self.settled:] = backend.floats(self.best[self.settled:])
        self.violation[self.settled_violation:] = backend.floats(self.violation[self.settled_violation:])
        self.settled, self.settled_violation = len(self.best), len(self.violation)

    def __len__(self) -> int:
        return len(self.nfev)

    def as_dict(self, backend: Any = None) -> dict[str, list]:
        floats = (lambda values: [float(v) for v in values]) if backend is None else backend.floats
        shown = {"best": floats(self.best), "nfev": list(self.nfev), "time": list(self.time)}
        return {**shown, "violation": floats(self.violation)} if self.violation else shown


class Callback(Observer):
    """``function(progress)`` after each iteration (:class:`scpo.engine.Progress`); True stops the run."""

    def __init__(self, function: Callable[[Any], Any]):
        self.function = function

    def on_iteration(self, optimizer: Optimizer) -> None:
        if self.function(optimizer.progress()):
            optimizer.request_stop("stopped by callback", "callback")


class Checkpointer(Observer):
    """Saves the run's state to ``path`` (and its history to the sidecar ``path.history``).

    ``every=N``: after every N-th iteration; ``every=None`` (default): adaptively, whenever
    the time since the last save is at least 39 times what that save took: about 2.5 % of the
    run by its own clock, and under 10 % of the wall time measured with fsync on a loaded
    machine (``experiments/results/bench_checkpoint.txt``).
    Always at the end of ``run()``, a stop requested by an observer included. A save costs O(state): the history
    sidecar only grows by the rows added since the previous save. ``extra()``, if given, returns
    ``(arrays, meta)`` saved in the same file (an observer's own state; attach this checkpointer
    after that observer so its ``on_iteration`` has run).
    """

    RATIO = 39.0

    def __init__(self, path: str | Path, every: int | None = None, extra: Callable[[], tuple] | None = None):
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"checkpoint_every must be a positive integer or None (adaptive), got {every!r}")
        self.path, self.every, self.extra = Path(path), every, extra
        self.history_rows: int | None = None  # rows known to be in the sidecar; None: rewrite it
        self.last_end = time.perf_counter()
        self.last_cost = 0.0
        self.saves = 0
        self.seconds = 0.0

    def due(self, optimizer: Optimizer) -> bool:
        if self.every is not None:
            return optimizer.nit % self.every == 0
        if self.saves == 0:
            return True  # measures what one save costs
        return time.perf_counter() - self.last_end >= self.RATIO * self.last_cost

    def on_iteration(self, optimizer: Optimizer) -> None:
        if not optimizer.done and self.due(optimizer):
            self.save(optimizer)

    def on_end(self, optimizer: Optimizer, result: OptimizeResult) -> None:
        self.save(optimizer)  # after a graceful stop (StopOnSigint) too; a KeyboardInterrupt may land
        # inside a tell, so then the last periodic save stands

    def save(self, optimizer: Optimizer) -> None:
        from scpo.checkpoint import save_checkpoint

        start = time.perf_counter()
        extra = None if self.extra is None else self.extra()
        self.history_rows = save_checkpoint(optimizer, self.path, self.history_rows, extra)
        self.last_end = time.perf_counter()
        self.last_cost = self.last_end - start
        self.saves += 1
        self.seconds += self.last_cost


class ProgressDisplay(Observer):
    """Progress on stderr: a rich bar on a terminal, a plain line every ``every_s`` seconds
    otherwise, nothing when ``quiet``."""

    def __init__(self, quiet: bool = False, every_s: float = 2.0, stream: IO[str] | None = None) -> None:
        self.quiet, self.every_s, self.stream = quiet, every_s, stream
        self.bar: Any = None  # a rich Progress on a terminal
        self.task: Any = None
        self.last = 0.0

    def on_start(self, optimizer: Optimizer) -> None:
        stream = self.stream or sys.stderr
        self.last = time.perf_counter()
        if self.quiet or not stream.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("best {task.fields[best]}"), TimeRemainingColumn())
        self.bar = Progress(*columns, console=Console(file=stream), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(optimizer.algorithm.name, total=optimizer.max_iter, completed=optimizer.nit,
                                      best="-")

    def on_iteration(self, optimizer: Optimizer) -> None:
        now = time.perf_counter()
        if self.quiet or now - self.last < (0.1 if self.bar is not None else self.every_s):
            return
        self.last = now
        best = f"{float(optimizer.best_objective):.4g}"
        if self.bar is not None:
            self.bar.update(self.task, completed=optimizer.nit, best=best)
        else:
            print(f"{optimizer.algorithm.name}: iteration {optimizer.nit}/{optimizer.max_iter}, "
                  f"{optimizer.nfev} evaluations, best {best}, {optimizer.elapsed():.1f} s",
                  file=self.stream or sys.stderr, flush=True)

    def on_end(self, optimizer: Optimizer, result: OptimizeResult) -> None:
        self.close()

    def on_interrupt(self, optimizer: Optimizer) -> None:
        self.close()

    def on_error(self, optimizer: Optimizer, error: BaseException) -> None:
        self.close()  # a live bar left running would keep the terminal's cursor hidden

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class StopOnSigint(Observer):
    """Ctrl-C (SIGINT) and SIGTERM (a batch scheduler's time limit) end the run cleanly: the current
    evaluation finishes, the run ends with message ``"interrupted"`` (SIGINT) or ``"terminated"``
    (SIGTERM), its best so far and history intact. A second signal exits at once with status 130
    (SIGINT) or 143 (SIGTERM) (``SystemExit``; files are written atomically, so none is left
    half-written). The previous handlers are restored when the run ends. Main thread only
    (elsewhere a no-op)."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.count = 0

    def on_start(self, optimizer: Optimizer) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.count += 1
            message, status = STOP_SIGNALS[signum]
            if self.count == 1:
                optimizer.request_stop(message)
                return
            raise SystemExit(status)

        for signum in STOP_SIGNALS:
            self.previous[signum] = signal.signal(signum, handler)

    def on_end(self, optimizer: Optimizer, result: OptimizeResult) -> None:
        self.restore()

    def on_interrupt(self, optimizer: Optimizer) -> None:
        if sys.exc_info()[1] is not None:  # a KeyboardInterrupt propagates (from a worker, say): no on_end
            self.restore()  # follows; a stop this handler requested goes on to on_end, which restores

    def on_error(self, optimizer: Optimizer, error: BaseException) -> None:
        self.restore()  # else Ctrl-C would stop a dead run instead of interrupting the caller

    def restore(self) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        self.previous = {}


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception (:func:`sigterm_raises`): it takes every path a Ctrl-C takes."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` as Ctrl-C raises ``KeyboardInterrupt``,
    so commands that stop on Ctrl-C by the exception (benchmarks: finished rows kept) stop on a batch
    scheduler's SIGTERM the same way. Main thread only (elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
