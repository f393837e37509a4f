"""Where the objective runs: in this process, in joblib worker processes, or in Ray actors.

An executor holds one objective and runs ``task(objective, *args)`` for a list of argument
tuples, returning the results in order. :class:`scpo.Problem` decides what a task is (one
contiguous chunk of the population per worker) and what its results mean; executors only
move work and survive lost workers. Ray is imported only when a Ray executor is made.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

EXECUTORS = ("serial", "joblib", "ray")
RAY_MISSING = "executor='ray' needs the [distributed] extra: pip install 'scpo[distributed]'"


class ExecutorError(RuntimeError):
    """Workers could not be started, or kept dying on the same piece of work."""

    def __init__(self, message: str, item: int | None = None):
        super().__init__(message)
        self.item = item


def check_executor(executor: str, workers: int, address: str | None) -> None:
    """Validate the settings without starting anything (nor importing ray)."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor == "serial" and workers > 1:
        raise ValueError(f"n_jobs={workers} needs executor='joblib' or 'ray', not 'serial'")
    if address is not None and executor != "ray":
        raise ValueError(f"ray_address applies to executor='ray', not {executor!r}")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError(RAY_MISSING)


def make_executor(executor: str, objective: Callable, workers: int = 1, address: str | None = None):
    """A :class:`SerialExecutor`, :class:`JoblibExecutor` or :class:`RayExecutor` holding ``objective``."""
    check_executor(executor, workers, address)
    if executor == "ray":
        return RayExecutor(objective, workers, address)
    return (JoblibExecutor if executor == "joblib" else SerialExecutor)(objective, workers)


class SerialExecutor:
    """Everything in this process, one task after the other."""

    restarts = 0

    def __init__(self, objective: Callable, workers: int = 1):
        self.objective, self.workers = objective, workers

    def map(self, task: Callable, args: Sequence[tuple]) -> list:
        return [task(self.objective, *a) for a in args]

    def close(self) -> None:
        pass


class JoblibExecutor(SerialExecutor):
    """``workers`` joblib (loky) processes; the objective is pickled with every task.
    One worker runs the tasks in this process, as joblib does."""

    def map(self, task: Callable, args: Sequence[tuple]) -> list:
        from joblib import Parallel, delayed

        return Parallel(n_jobs=self.workers)(delayed(task)(self.objective, *a) for a in args)


class ObjectiveHolder:
    """What a Ray actor runs: the objective, shipped once when the actor starts."""

    def __init__(self, objective: Callable):
        self.objective = objective

    def run(self, task: Callable, *args):
        return task(self.objective, *args)

    def pid(self) -> int:
        return os.getpid()


class RayExecutor:
    """``workers`` Ray actors, each holding the objective; task ``i`` runs on actor ``i % workers``.

    Connects to ``address`` (a running cluster), or to the Ray instance this process already
    started, or starts a local one. An actor whose process dies is replaced by a fresh one
    and its tasks run again (``restarts`` counts replacements); a task whose actor dies
    more than ``max_retries`` times raises :class:`ExecutorError`, as do actors that cannot be
    placed within ``start_timeout`` seconds (each takes one CPU). ``close()`` ends the actors
    (Ray also ends them once this executor is garbage-collected).
    """

    def __init__(self, objective: Callable, workers: int = 1, address: str | None = None, max_retries: int = 3,
                 start_timeout: float = 60.0):
        try:
            import ray
        except ImportError:
            raise ValueError(RAY_MISSING) from None
        self.ray, self.workers, self.max_retries, self.restarts = ray, workers, max_retries, 0
        self.lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError)
        if not ray.is_initialized():
            settings: dict[str, Any] = {"num_cpus": max(workers, os.cpu_count() or 1), "include_dashboard": False}
            if address is not None:
                settings = {"address": address}
            try:
                ray.init(**settings, log_to_driver=False, logging_level=logging.WARNING, ignore_reinit_error=True)
            except Exception as exc:  # connection refused, bad address, no resources: one clear error
                where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
                raise ExecutorError(f"cannot start {where}: {type(exc).__name__}: {exc}") from exc
        try:
            self._objective = ray.put(objective)
        except Exception as exc:
            raise ExecutorError(f"the objective cannot be sent to Ray workers: {type(exc).__name__}: {exc}") from exc
        self._actor_class = ray.remote(num_cpus=1, max_restarts=0)(ObjectiveHolder)
        self.actors = [self._actor_class.remote(self._objective) for _ in range(workers)]
        self._wait_until_placed(start_timeout)

    def _wait_until_placed(self, timeout: float) -> None:
        """Each actor takes one CPU; fail clearly, rather than wait forever, when they do not fit."""
        pings = [actor.pid.remote() for actor in self.actors]
        ready, _ = self.ray.wait(pings, num_returns=len(pings), timeout=timeout)
        if len(ready) < len(pings):
            free = self.ray.available_resources().get("CPU", 0)
            total = self.ray.cluster_resources().get("CPU", 0)
            self.close()
            raise ExecutorError(f"only {len(ready)} of {len(pings)} Ray actors started within {timeout:g} s "
                                f"(each needs 1 CPU; the cluster has {total:g}, {free:g} free): use fewer workers "
                                "or close other problems' executors")

    def map(self, task: Callable, args: Sequence[tuple]) -> list:
        results: list = [None] * len(args)
        pending = {}  # object ref -> (task index, actor slot, the actor it was sent to, attempts)

        def submit(i: int, attempts: int) -> None:
            slot = i % self.workers
            actor = self.actors[slot]
            pending[actor.run.remote(task, *args[i])] = (i, slot, actor, attempts)

        for i in range(len(args)):
            submit(i, 1)
        while pending:
            (ref,), _ = self.ray.wait(list(pending), num_returns=1)
            i, slot, actor, attempts = pending.pop(ref)
            try:
                results[i] = self.ray.get(ref)
            except self.lost as exc:
                if attempts > self.max_retries:
                    cause = str(exc).strip().splitlines()[0]
                    raise ExecutorError(f"a Ray worker died {attempts} times running the same batch ({cause})",
                                        item=i) from exc
                if self.actors[slot] is actor:  # other tasks of the dead actor find it replaced already
                    self._replace(slot)
                submit(i, attempts + 1)
        return results

    def _replace(self, slot: int) -> None:
        self.ray.kill(self.actors[slot], no_restart=True)
        self.actors[slot] = self._actor_class.remote(self._objective)
        self.restarts += 1

    def pids(self) -> list[int]:
        """Process ids of the actors (to watch or, in tests, to kill one)."""
        return self.ray.get([actor.pid.remote() for actor in self.actors])

    def close(self) -> None:
        if self.ray.is_initialized():
            for actor in self.actors:
                try:
                    self.ray.kill(actor, no_restart=True)
                except Exception:  # already gone
                    pass
        self.actors = []
