"""Political Optimizer (Askari, Younas, Saeed 2020), as the authors' MATLAB code behaves.

Agent ``i = party * n + constituency``. One iteration: election campaign (twice: towards
the party leader, then towards the constituency winner), party switching, election
(evaluate N), government formation, parliamentary affairs (evaluate n winners' moves).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scpo.algorithms.base import (
    Algorithm,
    Context,
    _budget,
    check_bool,
    check_number,
    check_positive_int,
    clip,
    register,
    replaced,
    resolved_copy,
)


@dataclass
class POState:
    X: np.ndarray  # (N, D) current positions
    fitness: np.ndarray  # (N,)
    X_last: np.ndarray  # positions at the start of the previous iteration (the campaign's q)
    fitness_last: np.ndarray
    leader_pos: np.ndarray  # (n, D) party leaders, copied at government formation
    winner_idx: np.ndarray  # (n,) row of each constituency's winner
    phase: str = "campaign"  # or "parliament": which evaluation the next ask/tell pair is


def campaign_cases(X, Q, C):
    """PO's three cases per coordinate (p = X, q = Q, centre c = C), checked in order."""
    up, down = Q <= X, Q >= X
    case1 = (up & (X <= C)) | (down & (X >= C))
    case2 = ~case1 & ((up & (X >= C) & (C >= Q)) | (down & (X <= C) & (C <= Q)))
    return case1, case2  # case 3 is everything else


def campaign_move(X, Q, C, improved, r, case1_improved=None, xp=np):
    """One campaign stage (the paper's Eqs. 9-10) for all agents and coordinates at once.

    ``improved`` is (N, 1): the agent's fitness did not get worse since the last iteration.
    ``case1_improved`` replaces the improved case-1 update ``c + r (c - p)`` (SCPO does).
    ``xp`` is the array module (numpy, or torch for tensors).
    """
    case1, case2 = campaign_cases(X, Q, C)
    towards_centre = C + r * (C - X) if case1_improved is None else case1_improved
    around_p = C + (2 * r - 1) * xp.abs(X - C)  # improved case 2 == deteriorated case 1
    around_q = C + (2 * r - 1) * xp.abs(Q - C)  # case 3, both branches
    back_to_q = Q + r * (X - Q)  # deteriorated case 2
    if_improved = xp.where(case1, towards_centre, xp.where(case2, around_p, around_q))
    if_worse = xp.where(case1, around_p, xp.where(case2, back_to_q, around_q))
    return xp.where(improved, if_improved, if_worse)


def switch_plan(fitness, n, moving, offsets, reference_bug=False):
    """Party switching as the reference loops it, on indices only (cheap: no (N, D) work).

    Agents switch in index order; a switching agent swaps places with the least-fit member
    (by the current, swapped-as-we-go fitness) of party ``(own + offset) % n``. Returns the
    source row of every row and, for the authors' linear-index bug, which rows receive the
    scalar ``X[source, 0]`` in every dimension.
    """
    source = np.arange(n * n)
    diagonal = np.zeros(n * n, dtype=bool)
    fitness = np.array(fitness, dtype=float)
    for i in np.flatnonzero(moving):  # sequential by definition; at most N scalar swaps
        party = (i // n + offsets[i]) % n
        j = party * n + int(np.argmax(fitness[party * n : party * n + n]))
        src_i, src_j = source[i], source[j]
        diag_i, diag_j = diagonal[i], diagonal[j]
        source[i], diagonal[i] = src_j, diag_j
        source[j], diagonal[j] = src_i, (True if reference_bug else diag_i)
        fitness[i], fitness[j] = fitness[j], fitness[i]
    return source, diagonal


def apply_switch(X, source, diagonal):
    moved = X[source]
    if diagonal.any():
        moved[diagonal] = X[source[diagonal], :1]
    return moved


@register
class PO(Algorithm):
    """Political Optimizer with ``parties`` x ``parties`` agents.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): the party leaders and
    constituency winners (the best of each party and constituency), party switching's least fit member of the
    receiving party, the election (a winner keeps its move only if it is better), and the engine's best so far.

    ``reference_switch_bug=True`` reproduces the authors' ``Positions(toPInd,:) =
    Positions(fromPInd)``, which fills the receiving row with one scalar and so favours
    optima on the diagonal; the default is the intended swap of whole vectors.
    """

    name = "po"

    def __init__(self, parties: int | None = None, lambda_max: float = 1.0, reference_switch_bug: bool = False):
        if parties is not None:
            check_positive_int("parties", parties, minimum=2)
        if not (np.isfinite(check_number("lambda_max", lambda_max)) and 0 <= lambda_max <= 1):
            raise ValueError(f"lambda_max must be in [0, 1], got {lambda_max!r}")
        self.parties, self.lambda_max = parties, float(lambda_max)
        self.reference_switch_bug = check_bool("reference_switch_bug", reference_switch_bug)

    @property
    def n_parties(self) -> int:
        """``parties`` once resolved (:meth:`for_population`, before any step): what the steps use."""
        if self.parties is None:
            raise ValueError(f"{self.name}: parties is unresolved; call for_population(pop_size) first")
        return self.parties

    def population_size(self, pop_size: int | None, dim: int | None = None) -> int:
        if pop_size is None:
            return (self.parties or 8) ** 2
        pop_size = check_positive_int("pop_size", pop_size, minimum=4)
        n = int(round(pop_size**0.5))
        if self.parties is not None and self.parties**2 != pop_size:
            raise ValueError(
                f"pop_size={pop_size} contradicts parties={self.parties}: {self.name} needs parties**2 agents; "
                f"use pop_size={self.parties**2}, or leave pop_size unset (parties alone sets it)"
            )
        if n * n != pop_size:
            low = max(n - 1, 2) if n * n > pop_size else n
            raise ValueError(
                f"pop_size={pop_size} is not a perfect square: {self.name} needs parties**2 agents; "
                f"use pop_size={low * low} or {(low + 1) ** 2}"
            )
        return pop_size

    def for_population(self, pop_size: int) -> PO:
        return resolved_copy(self, parties=int(round(pop_size**0.5)))

    def for_restarts(self) -> PO:
        """Restarts set the population (a perfect square): the parties follow it, whatever ``parties`` was."""
        return resolved_copy(self, parties=None)

    def replace_members(self, state: POState, indices, X, fitness, ctx: Context) -> POState:
        """Members keep their slot (party, constituency); leaders and winners are recomputed."""
        if state.phase != "campaign":
            raise ValueError("replace_members works between iterations, not between PO's two evaluations")
        X_new, f_new = replaced(state.X, state.fitness, indices, X, fitness)
        return self._form_government(replace(state, X=X_new, fitness=f_new))

    def iterations(self, pop_size, max_iter, max_evals) -> int:
        per_iteration = pop_size + self.n_parties  # election + parliamentary affairs
        from_evals = None if max_evals is None else int(round(max_evals / per_iteration))
        return _budget(max_iter, from_evals, max_evals, per_iteration)

    def init(self, X, fitness, ctx: Context) -> POState:
        state = POState(X, fitness, X, fitness, X[:0], np.zeros(0, dtype=int))
        return self._form_government(state)

    def _form_government(self, state: POState) -> POState:
        n = self.n_parties
        by_party = state.fitness.reshape(n, n)  # row = party, column = constituency
        leader_idx = np.arange(n) * n + np.argmin(by_party, axis=1)
        winner_idx = np.argmin(by_party, axis=0) * n + np.arange(n)
        return replace(state, leader_pos=state.X[leader_idx], winner_idx=winner_idx)

    def ask(self, state: POState, ctx: Context) -> np.ndarray:
        return self._campaign(state, ctx) if state.phase == "campaign" else self._parliament(state, ctx)

    def tell(self, state: POState, candidates, fitness, ctx: Context) -> tuple[POState, bool]:
        if state.phase == "campaign":  # election done: keep q, form the government
            state = replace(
                state, X=candidates, fitness=fitness, X_last=state.X, fitness_last=state.fitness,
                phase="parliament",
            )
            return self._form_government(state), False
        better = fitness < state.fitness[state.winner_idx]  # winners keep a move only if it helps
        rows = state.winner_idx[better]
        X, f = state.X.copy(), state.fitness.copy()
        X[rows], f[rows] = candidates[better], fitness[better]
        return replace(state, X=X, fitness=f, phase="campaign"), True

    def _campaign(self, state: POState, ctx: Context) -> np.ndarray:
        n, N = self.n_parties, state.X.shape[0]
        improved = (state.fitness_last >= state.fitness)[:, None]
        agents = np.arange(N)
        winners = state.X[state.winner_idx]  # copied before the first stage moves them
        X = state.X
        for stage, centres in enumerate((state.leader_pos[agents // n], winners[agents % n])):
            X = self.campaign_stage(X, state.X_last, centres, improved, ctx, stage)
        psr = (1 - (ctx.t - 1) / ctx.max_iter) * self.lambda_max  # the reference's 0-based t
        moving = ctx.random((N,), "switch.moving") < psr
        offsets = ctx.integers(1, n, N, "switch.offsets")  # a uniformly chosen *other* party
        source, diagonal = switch_plan(state.fitness, n, moving, offsets, self.reference_switch_bug)
        return clip(apply_switch(X, source, diagonal), ctx)

    def campaign_stage(self, X, Q, centres, improved, ctx: Context, stage: int = 0) -> np.ndarray:
        """One stage of the campaign (0: towards the party leaders, 1: the constituency winners)."""
        return campaign_move(X, Q, centres, improved, ctx.random(X.shape, f"campaign{stage}.r"))

    def _parliament(self, state: POState, ctx: Context) -> np.ndarray:
        n = self.n_parties
        winners = state.X[state.winner_idx]
        other = (np.arange(n) + ctx.integers(1, n, n, "parliament.other")) % n
        target = winners[other]
        r = ctx.random(winners.shape, "parliament.r")
        return clip(target + (2 * r - 1) * np.abs(target - winners), ctx)
