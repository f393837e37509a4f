"""SCPO: PO whose improved case-1 campaign move is the SCA-substituted update (paper Eqs. 37-50)."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from scpo.algorithms.base import Context, check_number, register
from scpo.algorithms.po import PO, campaign_move

DENOMINATOR_GUARD = 1e-8
Variant = Literal["derived", "printed", "invariant"]
VARIANTS: tuple[str, ...] = get_args(Variant)


def scpo_case1(centre, best, r, d1, d2, d3, d4, printed=False, xp=np):
    """R' = [(1 - k)(1 + d) s* + d k d3 G] / (1 - k + d), k = d1 sin(d2) or d1 cos(d2).

    Substituting SCA's move (Eq. 44) into PO's ``s* + d (s* - R)`` (Eq. 37) and clearing
    fractions gives the factor ``d`` on the G term; the paper's printed Eq. 46 drops it
    (``printed=True``). Returns the update and the mask where ``|1 - k + d| >= 1e-8``;
    elsewhere the caller falls back to PO's own case-1 move, so no NaN or inf can appear.
    ``xp`` is the array module (numpy, or torch for tensors).
    """
    k = d1 * xp.where(d4 < 0.5, xp.sin(d2), xp.cos(d2))
    denominator = 1 - k + r
    safe = xp.abs(denominator) >= DENOMINATOR_GUARD
    pull = (r if not printed else 1.0) * k * d3 * best
    update = ((1 - k) * (1 + r) * centre + pull) / xp.where(safe, denominator, 1.0)
    return update, safe


def scpo_case1_invariant(centre, best, r, d1, d2, d3, d4, xp=np):
    """R' = s* + d k d3 (G - s*) / (1 + d - k d3): the derivation of :func:`scpo_case1` on differences.

    SCA's move without the absolute value, weighting the destination about the agent
    (``variant="invariant"`` of SCA), is ``R' = R + k d3 (G - R)``, so
    ``R = (R' - k d3 G) / (1 - k d3)``; substituted into PO's ``R' = s* + d (s* - R)``
    (Eq. 37) and with fractions cleared: ``R' (1 - k d3 + d) = (1 - k d3)(1 + d) s* + d k d3 G``.
    The weights of s* and G sum to the denominator, so R' is an affine combination of s*
    and G and moves with them under translation; written on differences it is the form above.
    Returns the update and the mask where ``|1 + d - k d3| >= 1e-8`` (elsewhere the caller
    falls back to PO's case-1 move).
    """
    k = d1 * xp.where(d4 < 0.5, xp.sin(d2), xp.cos(d2))
    step = k * d3
    denominator = 1 + r - step
    safe = xp.abs(denominator) >= DENOMINATOR_GUARD
    update = centre + r * step * (best - centre) / xp.where(safe, denominator, 1.0)
    return update, safe


def case1_update(variant, centre, best, r, d1, d2, d3, d4, xp=np):
    """The variant's SCA-substituted case-1 update and its denominator mask."""
    if variant == "invariant":
        return scpo_case1_invariant(centre, best, r, d1, d2, d3, d4, xp=xp)
    return scpo_case1(centre, best, r, d1, d2, d3, d4, variant == "printed", xp=xp)


@register
class SCPO(PO):
    """The paper's hybrid. ``variant="derived"`` (default) or ``"printed"`` for Eq. 46 as printed.

    Comparisons (under constraints they follow Deb's rules, :mod:`scpo.constraints`): those of PO (leaders,
    constituency winners, party switching, the election) and the SCA phase's destination, the engine's best so
    far.

    ``variant="invariant"``: the derived algebra applied to differences
    (:func:`scpo_case1_invariant`). The published update pulls towards ``d k d3 G``, the
    best point scaled about the origin (SCA's ``|r3 P - X|`` bias carried into PO), so its
    weights sum to ``1 - k + d + d k (d3 - 1)``, not to the denominator: translating the
    problem does not translate the search. The invariant form does.
    """

    name = "scpo"

    def __init__(self, parties: int | None = None, lambda_max: float = 1.0, reference_switch_bug: bool = False,
                 a: float = 2.0, variant: Variant = "derived"):
        super().__init__(parties, lambda_max, reference_switch_bug)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(map(repr, VARIANTS))}, got {variant!r}")
        if not np.isfinite(check_number("a", a)) or a <= 0:
            raise ValueError(f"a must be a positive number, got {a!r}")
        self.a, self.variant = float(a), variant

    def campaign_stage(self, X, Q, centres, improved, ctx: Context, stage: int = 0) -> np.ndarray:
        shape = X.shape
        r = ctx.random(shape, f"campaign{stage}.r")
        d1 = self.a - ctx.t * self.a / ctx.max_iter
        d2 = 2 * np.pi * ctx.random(shape, f"campaign{stage}.d2")
        d3 = 2 * ctx.random(shape, f"campaign{stage}.d3")
        d4 = ctx.random(shape, f"campaign{stage}.d4")
        update, safe = case1_update(self.variant, centres, ctx.best_x, r, d1, d2, d3, d4)
        po_case1 = centres + r * (centres - X)
        return campaign_move(X, Q, centres, improved, r, np.where(safe, update, po_case1))
