"""Inequality constraints and Deb's feasibility rules, over whole populations.

A constrained problem says ``g(x) <= 0``. Every comparison an algorithm makes (the best so far,
a member against its trial, a ranking of the population) then follows Deb's rules (Deb 2000,
"An efficient constraint handling method for genetic algorithms"): a feasible point beats an
infeasible one, two feasible points compare by f, two infeasible ones by their total violation.

The engine applies the rules once for every algorithm: it hands each algorithm a *key* instead of
f (:func:`feasibility_key`): f itself for a feasible point, and for an infeasible one a value above
every feasible f, increasing with the violation. Every algorithm in scpo only compares or ranks
fitness values, so comparing keys is comparing by Deb's rules, with no algorithm rewritten and on
every backend. ``fun`` in the result stays the objective ``f(x)``; the key is never reported.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Constraints", "as_constraints", "feasibility_key", "infeasible_base"]


def infeasible_base(dtype) -> float:
    """The smallest key of an infeasible point in ``dtype``: about 1e247 in float64, 1e30 in float32.

    Feasible values at or above it (never met in practice) are held just below it, so that they
    still beat every infeasible point."""
    return float(np.finfo(dtype).max) ** 0.8


def feasibility_key(fitness, violation):
    """Deb's order as one number per row: ``f`` where ``violation == 0``, else
    ``base * (1 + violation)`` (capped below overflow), which is above every feasible key and grows
    with the violation. ``+inf`` (a failed evaluation or a non-finite violation) stays ``+inf``.

    ``fitness`` and ``violation`` are numpy arrays or torch tensors of the same kind and length."""
    dtype = np.dtype(str(fitness.dtype).replace("torch.", ""))
    base = infeasible_base(dtype)
    cap = float(np.finfo(dtype).max) / base / 4  # base * (1 + cap) stays finite
    violation = violation.astype(dtype) if isinstance(violation, np.ndarray) else violation.to(fitness.dtype)
    feasible = violation <= 0
    if isinstance(fitness, np.ndarray):
        below = np.nextafter(dtype.type(base), dtype.type(0))
        key = np.where(feasible, np.minimum(fitness, below), base * (1 + np.minimum(violation, cap)))
        return np.where(np.isinf(fitness) | np.isinf(violation), np.inf, key).astype(dtype, copy=False)
    below = float(np.nextafter(dtype.type(base), dtype.type(0)))  # a torch tensor: its own methods, no import
    key = fitness.clamp(max=below).where(feasible, (violation.clamp(max=cap) + 1) * base)
    return key.masked_fill(fitness.isinf() | violation.isinf(), float("inf"))


class _Part:
    """One source of constraint values ``c(X) -> (N, m)`` with its band ``lb <= c <= ub``."""

    def __init__(self, fun: Callable | None, lb, ub, vectorized: bool | str, label: str, matrix=None):
        self.fun, self.lb, self.ub, self.vectorized, self.label = fun, lb, ub, vectorized, label
        self.matrix = matrix  # LinearConstraint: c = X @ A.T

    def values(self, X, probe: Callable[[], list]):
        """The constraint values of every row of X, ``(N, m)``, as X's kind: numpy float, or a torch
        tensor on X's device (a vectorized ``g`` written in torch then costs no host copy)."""
        if self.matrix is not None:
            A = X.new_tensor(self.matrix) if _is_tensor(X) else self.matrix
            return X @ A.T
        if self.vectorized == "auto":
            self.vectorized = self._detect(probe)
        if self.vectorized:
            return _as_matrix(self._call(X), X, self.label)
        rows = [np.atleast_1d(np.asarray(_host(self._call(x)), dtype=float)) for x in X]
        sizes = {row.shape for row in rows}
        if len(sizes) > 1 or any(row.ndim != 1 for row in rows):
            raise ValueError(f"constraints {self.label!r} returned values of shapes {sorted(sizes)} for single "
                             "points; return one value per constraint, the same number each time")
        stacked = np.stack(rows) if rows else np.zeros((0, 1))
        return X.new_tensor(stacked) if _is_tensor(X) else stacked

    def violation(self, values):
        """Total violation per row: how far each value lies outside ``[lb, ub]``, summed (NaN: inf)."""
        m = values.shape[1]
        for bound in (self.lb, self.ub):
            if np.ndim(bound) == 1 and np.size(bound) not in (1, m):
                raise ValueError(f"constraints {self.label!r}: lb/ub have {np.size(bound)} entries for {m} "
                                 "constraint values")
        if _is_tensor(values):
            lb, ub = (values.new_tensor(np.broadcast_to(bound, (m,)).copy()) for bound in (self.lb, self.ub))
            outside = (lb - values).clamp(min=0) + (values - ub).clamp(min=0)
            return outside.masked_fill(values.isnan(), float("inf")).sum(dim=1)
        with np.errstate(invalid="ignore"):
            outside = np.maximum(self.lb - values, 0) + np.maximum(values - self.ub, 0)
        return np.where(np.isnan(values), np.inf, outside).sum(axis=1)

    def _call(self, X):
        assert self.fun is not None  # a LinearConstraint has its matrix instead
        try:
            return self.fun(X)
        except Exception as exc:
            raise ValueError(f"constraints {self.label!r} raised {type(exc).__name__}: {exc}") from exc

    def _detect(self, probe: Callable[[], list]) -> bool:
        """Vectorized when two probe populations of different sizes (neither equal to the dimension)
        give one row of values per candidate, agreeing on their common rows; else per vector."""
        first, second = probe()
        outputs = []
        for rows in (first, second):
            try:
                value = np.asarray(_host(self._call(rows)), dtype=np.float64)
            except Exception:
                break
            if value.ndim == 1:
                value = value[:, None]
            if value.ndim != 2 or len(value) != len(rows):
                break
            outputs.append(value)
        if len(outputs) == 2 and outputs[0].shape[1] == outputs[1].shape[1]:
            common = min(len(outputs[0]), len(outputs[1]))
            if np.allclose(outputs[0][:common], outputs[1][:common], equal_nan=True):
                return True
        try:
            single = np.asarray(_host(self._call(first[0])), dtype=np.float64)
        except Exception as exc:
            raise ValueError(f"constraints {self.label!r} work neither on a population (N, D) nor on one point "
                             f"(D,): one point raised {type(exc).__name__}: {exc}") from exc
        if single.ndim > 1:
            raise ValueError(f"constraints {self.label!r} returned shape {single.shape} for one point, expected "
                             "one value per constraint")
        return False


class Constraints:
    """A problem's inequality constraints: ``violation(X)`` is each row's total violation (0: feasible).

    Built by :func:`as_constraints` from a callable ``g`` (``g(x) <= 0``; vectorized ``(N, D) ->
    (N, m)`` or ``(N,)``, or per vector ``(D,) -> (m,)``, decided by a probe as the objective's
    ``vectorized="auto"``), scipy's ``NonlinearConstraint`` (``lb <= fun(x) <= ub``, its ``fun``
    probed the same way) and ``LinearConstraint`` (``lb <= A x <= ub``), or a list of these.
    Constraint evaluations are not objective evaluations: they do not count in ``nfev``. An
    equality (``lb == ub``) is met only exactly: give it a band of tolerance instead.
    """

    def __init__(self, parts: list[_Part], lb: np.ndarray, ub: np.ndarray):
        self.parts, self.lb, self.ub = parts, lb, ub

    def violation(self, X):
        """Total violation of every row of ``X`` (numpy or torch: returned as the same kind, dtype and
        device); a NaN constraint value counts as an infinite violation."""
        total = None
        for part in self.parts:
            value = part.violation(part.values(X, lambda: self._probe_rows(X)))
            total = value if total is None else total + value
        return total.to(X.dtype) if _is_tensor(X) else total.astype(X.dtype if X.dtype.kind == "f" else float)

    def _probe_rows(self, like):
        """Two populations inside the box, the first the second's first rows, of sizes different from
        each other and from the dimension."""
        dim = self.lb.size
        sizes = [k for k in (2, 3, 4, 5) if k != dim][:2]
        larger = self.lb + np.linspace(0.3, 0.7, sizes[1])[:, None] * (self.ub - self.lb)
        rows = [larger[: sizes[0]], larger]  # nested: a vectorized g gives the same values on the common rows
        return [like.new_tensor(r) for r in rows] if hasattr(like, "new_tensor") else rows


def as_constraints(constraints, lb: np.ndarray, ub: np.ndarray) -> Constraints | None:
    """``constraints`` (``None``, a callable, a scipy constraint or a list of them) as :class:`Constraints`,
    or a one-line ValueError naming what was given."""
    if constraints is None or isinstance(constraints, Constraints):
        return constraints
    items = list(constraints) if isinstance(constraints, list | tuple) else [constraints]
    if not items:
        return None
    parts = [_part(item, lb.size) for item in items]
    return Constraints(parts, lb, ub)


def _part(item, dim: int) -> _Part:
    kind = type(item).__name__
    if kind == "LinearConstraint":
        A = np.atleast_2d(np.asarray(item.A.toarray() if hasattr(item.A, "toarray") else item.A, dtype=float))
        if A.shape[1] != dim:
            raise ValueError(f"LinearConstraint's A has {A.shape[1]} columns, the problem has dim={dim}")
        return _Part(None, np.asarray(item.lb, dtype=float), np.asarray(item.ub, dtype=float), True,
                     "LinearConstraint", matrix=A)
    if kind == "NonlinearConstraint":
        return _Part(item.fun, np.asarray(item.lb, dtype=float), np.asarray(item.ub, dtype=float), "auto",
                     _name(item.fun))
    if callable(item):
        return _Part(item, -np.inf, 0.0, "auto", _name(item))
    raise ValueError(f"constraints must be a callable g (g(x) <= 0), a scipy NonlinearConstraint or "
                     f"LinearConstraint, or a list of them, got {_short(item)}")


def _as_matrix(value, X, label: str):
    """A vectorized g's output as ``(N, m)``, of X's kind (a tensor stays on its device)."""
    n = len(X)
    if _is_tensor(X):
        values = value if _is_tensor(value) else X.new_tensor(np.asarray(value, dtype=float))
        values = values.to(X.dtype)
    else:
        values = np.asarray(_host(value), dtype=float)
    if values.ndim == 1 and values.shape[0] == n:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != n:
        raise ValueError(f"constraints {label!r} returned shape {tuple(values.shape)} for {n} candidates, "
                         f"expected ({n}, m): one row of constraint values per candidate")
    return values


def _is_tensor(value) -> bool:
    return hasattr(value, "new_tensor")


def _host(value):
    """A torch tensor's values as numpy (constraint values are few); anything else unchanged."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


def _name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

