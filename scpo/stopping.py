"""Stopping rules beyond the budget: a target value, flat fitness, a collapsed population, wall time, stagnation.

Each rule is a small class over whole-population reductions (no loop over members); :class:`StopRules`,
an observer the engine attaches right after its history when any rule is set, feeds them and calls
``optimizer.request_stop(message, rule.key)`` when one fires. What each one measures:

- :class:`Target` (``target=``, COCO style): the best so far ``<= target``, checked after every evaluated
  batch, so the run ends in the batch where it was reached and ``nfev`` counts the evaluations it took;
- :class:`MaxTime` (``max_time=`` seconds): the run's clock (``optimizer.elapsed()``, continued across a
  resume; compile time left out) has reached it, checked after every batch;
- :class:`TolF` (``tol_f=``, cma's ``tolfun``): the range (max - min) of the fitness values evaluated in
  the last iteration and the range of the iteration-best values over the last
  ``10 + ceil(30 D / N)`` iterations (cma's history length) are both below ``tol_f``; it cannot fire
  before that many iterations;
- :class:`TolX` (``tol_x=``): the search collapsed. For the algorithms with a sampling step
  (``cmaes``: ``sigma * sqrt(diag C)``; ``sep-cmaes``: ``sigma * sqrt(C)``; ``snes``, ``pgpe``: their
  per-coordinate ``sigma``; ``openai-es``: its fixed ``sigma``, which never shrinks) that step in the
  problem's units (``* (ub - lb)``), otherwise the population's standard deviation: the maximum over
  coordinates, of the batches evaluated in the iteration (the largest, so PO's small parliament batch
  cannot fire it alone), below ``tol_x``;
- :class:`Stagnation` (``stagnation=k``): ``k`` iterations in a row whose end leaves the best so far no
  lower than before (counted from the initial population's best: after it, for algorithms whose
  initial population is not an iteration (PO, SCPO), or from iteration 1 for the others).

Backends: the reductions run in the population's own array type (numpy, or torch on its device). On
torch the engine never reads the best so far during a run; these rules read device values to the host
once per iteration, in one transfer (``TolF``, ``TolX``, ``Stagnation`` together), and ``Target`` reads
the best so far once per evaluated batch (PO and SCPO evaluate two batches per iteration). No rule, no read.

Checkpoints: the stagnation counter and ``TolF``'s window are saved with the run
(:func:`scpo.checkpoint.state_dict`, ``meta["stopping"]``), so a resumed run stops where an
uninterrupted one does.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from scpo.algorithms.base import check_number
from scpo.observers import Observer

if TYPE_CHECKING:  # annotations only: the engine imports this module
    from scpo.engine import Optimizer

__all__ = ["MaxTime", "Rule", "Stagnation", "StopRules", "Target", "TolF", "TolX", "make_rules", "step_size"]


class Rule:
    """One stopping rule: ``key`` names it for programs (``result.stop_rule``); ``check`` returns the
    message when it fires, else ``None``; ``state``/``load`` carry what it remembers across a resume."""

    key: ClassVar[str]

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        pass


class Target(Rule):
    key = "target"

    def __init__(self, target: float):
        value = check_number("target", target)
        if not math.isfinite(value):
            raise ValueError(f"target must be a finite number, got {target!r}")
        self.target = value

    def check(self, best: float) -> str | None:
        return f"target {self.target:g} reached" if best <= self.target else None


class MaxTime(Rule):
    key = "max_time"

    def __init__(self, seconds: float):
        value = check_number("max_time", seconds)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"max_time must be a positive number of seconds, got {seconds!r}")
        self.seconds = value

    def check(self, elapsed: float) -> str | None:
        return f"max_time {self.seconds:g} s reached" if elapsed >= self.seconds else None


class TolF(Rule):
    key = "tol_f"

    def __init__(self, tol: float):
        self.tol = _tolerance("tol_f", tol)
        self.window: list[float] = []  # the iteration-best values, newest last
        self.length = 10  # set for the run by StopRules.bind: 10 + ceil(30 D / N)

    def check(self, low: float, high: float) -> str | None:
        self.window = [*self.window, low][-self.length:]
        if len(self.window) < self.length:
            return None
        spread = max(high - low, max(self.window) - min(self.window))
        if spread < self.tol:  # inf or nan (non-finite fitness) never fires
            return f"tol_f: fitness range {spread:.3g} below {self.tol:g} over {self.length} iterations"
        return None

    def state(self) -> dict[str, Any]:
        return {"window": list(self.window)}

    def load(self, state: dict[str, Any]) -> None:
        self.window = [float(v) for v in state.get("window", [])]


class TolX(Rule):
    key = "tol_x"

    def __init__(self, tol: float):
        self.tol = _tolerance("tol_x", tol)
        self.what = "population spread"  # or "step size" (StopRules.bind)

    def check(self, spread: float) -> str | None:
        return f"tol_x: {self.what} {spread:.3g} below {self.tol:g}" if spread < self.tol else None


class Stagnation(Rule):
    key = "stagnation"

    def __init__(self, iterations: int):
        if isinstance(iterations, bool) or not isinstance(iterations, int | np.integer) or iterations < 1:
            raise ValueError(f"stagnation must be an integer >= 1 (iterations), got {iterations!r}")
        self.iterations = int(iterations)
        self.best, self.since = math.inf, 0  # the best so far seen, and the iteration it was reached in

    def seen(self, best: float, nit: int) -> None:
        if best < self.best:
            self.best, self.since = best, nit

    def check(self, best: float, nit: int) -> str | None:
        self.seen(best, nit)
        if nit - self.since >= self.iterations:
            return f"stagnation: {self.iterations} iterations without improvement"
        return None

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "since": self.since}

    def load(self, state: dict[str, Any]) -> None:
        if state:
            self.best, self.since = float(state["best"]), int(state["since"])


def _tolerance(label: str, value: Any) -> float:
    tol = check_number(label, value)
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"{label} must be a positive finite number, got {value!r}")
    return tol


def make_rules(target: float | None = None, tol_f: float | None = None, tol_x: float | None = None,
               max_time: float | None = None, stagnation: int | None = None) -> StopRules | None:
    """The rules set (validated: one-line ``ValueError`` naming the value), or ``None`` when none is."""
    made: list[Rule | None] = [None if target is None else Target(target),
                               None if max_time is None else MaxTime(max_time),
                               None if tol_f is None else TolF(tol_f), None if tol_x is None else TolX(tol_x),
                               None if stagnation is None else Stagnation(stagnation)]
    rules = [rule for rule in made if rule is not None]
    return StopRules(rules) if rules else None


# ---- step sizes

def step_size(algorithm: Any, state: Any) -> Any | None:
    """The algorithm's sampling step per coordinate as a share of the range (:meth:`Algorithm.step_size`),
    or ``None`` for algorithms without one (they move a population) and before the first tell."""
    return None if state is None else algorithm.step_size(state)


# ---- whole-array helpers that work on numpy arrays and torch tensors alike

def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and torch.is_tensor(value)


def _combine(previous: Any, value: Any, pick_max: bool) -> Any:
    if previous is None:
        return value
    if _is_tensor(value) or _is_tensor(previous):
        torch = sys.modules["torch"]
        return (torch.maximum if pick_max else torch.minimum)(torch.as_tensor(previous), torch.as_tensor(value))
    return max(previous, value) if pick_max else min(previous, value)


def _host(values: list) -> list[float]:
    """Python floats of ``values``; the torch tensors among them come to the host in one transfer."""
    tensors = [v for v in values if _is_tensor(v)]
    if not tensors:
        return [float(v) for v in values]
    torch, like = sys.modules["torch"], tensors[0]
    stacked = torch.stack([v.reshape(()).to(torch.float64) if _is_tensor(v)
                           else torch.tensor(float(v), dtype=torch.float64, device=like.device) for v in values])
    return stacked.cpu().tolist()


def _population_spread(X: Any) -> Any:
    """The largest per-coordinate standard deviation of a batch (a 0-d array or tensor: no device read)."""
    return (((X - X.mean(0)) ** 2).mean(0).max()) ** 0.5


class StopRules(Observer):
    """The rules of a run, fed from the engine's hooks: ``Target`` and ``MaxTime`` after every batch,
    the others at the end of every iteration (see the module's docstring)."""

    def __init__(self, rules: list[Rule]):
        # each rule's class has its own check() signature: the keys say which class
        self.rules: dict[str, Any] = {rule.key: rule for rule in rules}
        self.low = self.high = self.spread = None  # the current iteration's reductions (device values on torch)
        self.width = None  # ub - lb in the population's array type
        self.bound = False

    def __getitem__(self, key: str) -> Rule:
        return self.rules[key]

    def bind(self, optimizer: Optimizer) -> None:
        """Settings that depend on the run: TolF's window length, what TolX measures."""
        if "tol_f" in self.rules:
            self.rules["tol_f"].length = 10 + math.ceil(30 * optimizer.problem.dim / optimizer.pop_size)
        if "tol_x" in self.rules:
            self.width = optimizer.impl.as_population(np.asarray(optimizer.problem.ub - optimizer.problem.lb))
            if optimizer.algorithm.distribution:
                self.rules["tol_x"].what = "step size"
        self.bound = True

    def state(self) -> dict[str, dict[str, Any]]:
        return {key: rule.state() for key, rule in self.rules.items()}

    def load(self, state: dict[str, dict[str, Any]]) -> None:
        for key, rule in self.rules.items():
            rule.load(state.get(key, {}))

    def _fire(self, optimizer: Optimizer, rule: Rule, message: str | None) -> bool:
        if message is not None:
            optimizer.request_stop(message, rule.key)
        return message is not None

    def on_evaluation(self, optimizer: Optimizer, candidates: Any, fitness: Any) -> None:
        if not self.bound:
            self.bind(optimizer)
        run = optimizer.run_state
        if "tol_f" in self.rules:
            self.low = _combine(self.low, fitness.min(), pick_max=False)
            self.high = _combine(self.high, fitness.max(), pick_max=True)
        if "tol_x" in self.rules and not optimizer.algorithm.distribution:
            self.spread = _combine(self.spread, _population_spread(candidates), pick_max=True)
        if "stagnation" in self.rules and run.algorithm_state is None \
                and not optimizer.algorithm.initial_counts_as_iteration:  # the best at "iteration 0" (PO, SCPO)
            self.rules["stagnation"].seen(*_host([run.best_fitness]), optimizer.nit)
        if "target" in self.rules:  # on torch: one read per batch
            if self._fire(optimizer, self.rules["target"], self.rules["target"].check(*_host([run.best_fitness]))):
                return
        if "max_time" in self.rules:
            self._fire(optimizer, self.rules["max_time"], self.rules["max_time"].check(optimizer.elapsed()))

    def on_iteration(self, optimizer: Optimizer) -> None:
        if not self.bound:
            self.bind(optimizer)
        wanted: dict[str, Any] = {}
        if "stagnation" in self.rules:
            wanted["best"] = optimizer.run_state.best_fitness
        if "tol_f" in self.rules and self.low is not None:
            wanted["low"], wanted["high"] = self.low, self.high
        if "tol_x" in self.rules:
            step = step_size(optimizer.algorithm, optimizer.state)
            spread = self.spread if step is None else (step * self.width).max()
            if spread is not None:
                wanted["spread"] = spread
        self.low = self.high = self.spread = None
        if not wanted:
            return
        values = dict(zip(wanted, _host(list(wanted.values())), strict=True))  # on torch: the one read
        if "low" in values:
            self._fire(optimizer, self.rules["tol_f"], self.rules["tol_f"].check(values["low"], values["high"]))
        if "spread" in values:
            self._fire(optimizer, self.rules["tol_x"], self.rules["tol_x"].check(values["spread"]))
        if "best" in values:
            self._fire(optimizer, self.rules["stagnation"], self.rules["stagnation"].check(values["best"],
                                                                                         optimizer.nit))
