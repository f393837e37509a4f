"""The constrained engineering design problems of the SCA and PO papers, over whole populations.

Five classics of the constrained-optimization literature: the tension/compression spring, the
welded beam, the pressure vessel (plate thicknesses in multiples of 1/16 inch, posed as integer
multipliers with ``integrality``), the speed reducer and the three-bar truss. Each objective maps
``(N, D) -> (N,)`` and each constraint function ``(N, D) -> (N, m)``, feasible where every value is
``<= 0`` (the convention of :class:`scpo.problem.Problem`'s ``constraints``). Both are written once
over an array module ``xp``: numpy for arrays, torch for torch tensors (recognised, as the torch
backend hands them; or say ``xp=``), with the same operations.

``get(name)`` returns the :class:`Problem` (constraints, integrality, bounds, ``f_opt`` and
``x_opt`` set); ``DESIGNS[name]`` holds the pieces, for callers that pose them elsewhere (scipy's
``differential_evolution`` in ``experiments/engineering.py``). Each function's docstring gives the
formulation, the best-known value and point and their source. The constraints keep the scale of
their published form (psi, cubic inches, ...): Deb's rules compare infeasible points by the sum of
these violations, as the papers that used these problems did.

The best-known points are stored to the digits the sources print (some to 15 digits, some to 6);
at that rounding an active constraint can read a little above 0 (at most 3e-7, on the spring's
and the speed reducer's normalized constraints), which ``tests/test_engineering.py`` allows for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scpo.problem import Problem

SQRT2 = math.sqrt(2.0)


def _module(X, xp):
    """``xp`` when given, else torch for a torch tensor (the torch backend hands tensors) and numpy otherwise."""
    if xp is not None:
        return xp
    if type(X).__module__.startswith("torch"):
        import torch

        return torch
    return np


def _stack(columns, xp):
    return xp.stack(columns, axis=1)


# ---------------------------------------------------------------------------- spring


def spring(X, xp=None):
    """Tension/compression spring: minimize the weight ``(N + 2) D d^2``.

    Variables ``x = (d, D, N)``: wire diameter in [0.05, 2], mean coil diameter in [0.25, 1.3],
    number of active coils in [2, 15] (continuous, as in the literature's runs). Constraints
    (:func:`spring_constraints`): minimum deflection, shear stress, surge frequency, outer
    diameter. Formulation: Belegundu (1982) and Arora, *Introduction to Optimum Design* (1989), as
    in Coello, Comput. Ind. 41 (2000) 113-127 and He & Wang, Eng. Appl. Artif. Intell. 20 (2007)
    89-99. Best known: f = 0.012665232788 at d = 0.051689061, D = 0.356717736, N = 11.288965
    (He & Wang 2007, also Mirjalili's and Askari's tables).
    """
    d, D, N = X[:, 0], X[:, 1], X[:, 2]
    return (N + 2.0) * D * d**2


def spring_constraints(X, xp=None):
    """``g1 = 1 - D^3 N / (71785 d^4)`` (deflection), ``g2 = (4 D^2 - d D) / (12566 (D d^3 - d^4))
    + 1 / (5108 d^2) - 1`` (shear stress), ``g3 = 1 - 140.45 d / (D^2 N)`` (surge frequency),
    ``g4 = (d + D) / 1.5 - 1`` (outer diameter)."""
    xp = _module(X, xp)
    d, D, N = X[:, 0], X[:, 1], X[:, 2]
    g1 = 1.0 - D**3 * N / (71785.0 * d**4)
    g2 = (4.0 * D**2 - d * D) / (12566.0 * (D * d**3 - d**4)) + 1.0 / (5108.0 * d**2) - 1.0
    g3 = 1.0 - 140.45 * d / (D**2 * N)
    g4 = (d + D) / 1.5 - 1.0
    return _stack([g1, g2, g3, g4], xp)


# ---------------------------------------------------------------------------- welded beam

WB_P, WB_L, WB_E, WB_G = 6000.0, 14.0, 30e6, 12e6
WB_TAU_MAX, WB_SIGMA_MAX, WB_DELTA_MAX = 13600.0, 30000.0, 0.25


def welded_beam(X, xp=None):
    """Welded beam: minimize the fabrication cost ``1.10471 h^2 l + 0.04811 t b (14 + l)``.

    Variables ``x = (h, l, t, b)``: weld thickness in [0.1, 2], weld length in [0.1, 10], bar
    height in [0.1, 10], bar thickness in [0.1, 2]. Constraints (:func:`welded_beam_constraints`):
    shear stress, bending stress, buckling load, end deflection and side limits. Formulation: Rao,
    *Engineering Optimization* (1996), in the form of Coello, Comput. Ind. 41 (2000) 113-127 and
    Cagnina, Esquivel & Coello, Informatica 32 (2008) 319-326, with the weld's polar moment
    ``J = 2 sqrt(2) h l (l^2 / 12 + ((h + t) / 2)^2)`` (with ``l^2 / 4`` instead, a variant in some
    papers, the optimum is lower, about 1.6952). Best known: f = 1.724852372592816 at
    h = 0.205729631527588, l = 3.47048892954990, t = 9.03662399165770, b = 0.205729643343445
    (Cagnina et al. 2008, as coded in the DIRECTGO library; 1.724852 in He & Wang 2007).
    """
    h, l, t, b = X[:, 0], X[:, 1], X[:, 2], X[:, 3]
    return 1.10471 * h**2 * l + 0.04811 * t * b * (14.0 + l)


def welded_beam_constraints(X, xp=None):
    """``g1 = tau - 13600`` (shear stress, psi), ``g2 = sigma - 30000`` (bending stress),
    ``g3 = h - b``, ``g4 = 0.10471 h^2 + 0.04811 t b (14 + l) - 5``, ``g5 = 0.125 - h``,
    ``g6 = delta - 0.25`` (deflection, in), ``g7 = P - P_c`` (buckling load, lb); with P = 6000,
    L = 14, E = 30e6, G = 12e6, ``tau' = P / (sqrt(2) h l)``, ``tau'' = M R / J``,
    ``M = P (L + l / 2)``, ``R = sqrt(l^2 / 4 + ((h + t) / 2)^2)``,
    ``tau = sqrt(tau'^2 + tau' tau'' l / R + tau''^2)``, ``sigma = 6 P L / (b t^2)``,
    ``delta = 4 P L^3 / (E b t^3)``, ``P_c = 4.013 E t b^3 / (6 L^2) (1 - t / (2 L) sqrt(E / (4 G)))``."""
    xp = _module(X, xp)
    h, l, t, b = X[:, 0], X[:, 1], X[:, 2], X[:, 3]
    P, L, E, G = WB_P, WB_L, WB_E, WB_G
    tau1 = P / (SQRT2 * h * l)
    M = P * (L + l / 2.0)
    R = xp.sqrt(l**2 / 4.0 + ((h + t) / 2.0) ** 2)
    J = 2.0 * (SQRT2 * h * l * (l**2 / 12.0 + ((h + t) / 2.0) ** 2))
    tau2 = M * R / J
    tau = xp.sqrt(tau1**2 + tau1 * tau2 * l / R + tau2**2)
    sigma = 6.0 * P * L / (b * t**2)
    delta = 4.0 * P * L**3 / (E * b * t**3)
    p_c = 4.013 * E * t * b**3 / (6.0 * L**2) * (1.0 - t / (2.0 * L) * math.sqrt(E / (4.0 * G)))
    return _stack([
        tau - WB_TAU_MAX, sigma - WB_SIGMA_MAX, h - b,
        0.10471 * h**2 + 0.04811 * t * b * (14.0 + l) - 5.0, 0.125 - h, delta - WB_DELTA_MAX, P - p_c,
    ], xp)


# ---------------------------------------------------------------------------- pressure vessel

INCH_16 = 0.0625  # plate thicknesses come in multiples of 1/16 inch


def pressure_vessel(X, xp=None):
    """Pressure vessel: minimize the cost of material, forming and welding
    ``0.6224 Ts R L + 1.7781 Th R^2 + 3.1661 Ts^2 L + 19.84 Ts^2 R``.

    Variables ``x = (ks, kh, R, L)``: the shell and head thicknesses as integer multiples of
    1/16 inch, ``Ts = ks / 16`` and ``Th = kh / 16`` with ks, kh integers in [1, 99] (the
    problem's ``integrality`` marks them), inner radius R and cylinder length L in [10, 200]
    (inches). Constraints (:func:`pressure_vessel_constraints`): ASME shell and head thickness
    against the radius, a working volume of at least 1,296,000 cubic inches, L <= 240. Formulation:
    Sandgren, J. Mech. Des. 112 (1990) 223-229 and Kannan & Kramer, J. Mech. Des. 116 (1994)
    405-411, with the bounds of Coello (2000) and He & Wang (2007). Best known with integral
    multiples: f = 6059.714335 at Ts = 0.8125 (ks = 13), Th = 0.4375 (kh = 7), R = 42.098446,
    L = 176.636596 (He & Wang 2007; Zahara & Kao, Expert Syst. Appl. 36 (2009) 3880-3886).
    """
    Ts, Th, R, L = X[:, 0] * INCH_16, X[:, 1] * INCH_16, X[:, 2], X[:, 3]
    return 0.6224 * Ts * R * L + 1.7781 * Th * R**2 + 3.1661 * Ts**2 * L + 19.84 * Ts**2 * R


def pressure_vessel_constraints(X, xp=None):
    """``g1 = -Ts + 0.0193 R``, ``g2 = -Th + 0.00954 R`` (inches), ``g3 = -pi R^2 L - 4/3 pi R^3
    + 1296000`` (cubic inches), ``g4 = L - 240`` (inches), with ``Ts = ks / 16``, ``Th = kh / 16``."""
    xp = _module(X, xp)
    Ts, Th, R, L = X[:, 0] * INCH_16, X[:, 1] * INCH_16, X[:, 2], X[:, 3]
    g3 = -math.pi * R**2 * L - 4.0 / 3.0 * math.pi * R**3 + 1296000.0
    return _stack([-Ts + 0.0193 * R, -Th + 0.00954 * R, g3, L - 240.0], xp)


# ---------------------------------------------------------------------------- speed reducer


def speed_reducer(X, xp=None):
    """Speed reducer (Golinski): minimize the weight of a two-stage gearbox,
    ``0.7854 b m^2 (3.3333 z^2 + 14.9334 z - 43.0934) - 1.508 b (d1^2 + d2^2)
    + 7.4777 (d1^3 + d2^3) + 0.7854 (l1 d1^2 + l2 d2^2)``.

    Variables ``x = (b, m, z, l1, l2, d1, d2)``: face width in [2.6, 3.6], tooth module in
    [0.7, 0.8], number of pinion teeth z in [17, 28] (an integer: the problem's ``integrality``
    marks it; the optimum, 17, is integral, so the best-known value is that of the continuous
    posing), shaft lengths l1, l2 in [7.3, 8.3] and shaft diameters d1 in [2.9, 3.9], d2 in
    [5.0, 5.5]. Eleven constraints (:func:`speed_reducer_constraints`): bending and surface stress
    of the teeth, shaft deflections and stresses, geometry. Formulation: Golinski, J. Mech. 5 (1970)
    287-309, in the form of Mezura-Montes & Coello (2005) and Ray, AIAA J. 41 (2003) 556-558, with
    l2 >= 7.3 (with l2 >= 7.8, another variant, the best is 2996.348). Best known: f = 2994.471066 at
    (3.5, 0.7, 17, 7.3, 7.715320, 3.350215, 5.286654) (Akay & Karaboga, J. Intell. Manuf. 23 (2012)
    1001-1014; 2994.4710 also in Mirjalili's tables).
    """
    b, m, z, l1, l2, d1, d2 = (X[:, i] for i in range(7))
    return (0.7854 * b * m**2 * (3.3333 * z**2 + 14.9334 * z - 43.0934) - 1.508 * b * (d1**2 + d2**2)
            + 7.4777 * (d1**3 + d2**3) + 0.7854 * (l1 * d1**2 + l2 * d2**2))


def speed_reducer_constraints(X, xp=None):
    """``g1 = 27 / (b m^2 z) - 1``, ``g2 = 397.5 / (b m^2 z^2) - 1``, ``g3 = 1.93 l1^3 / (m z d1^4) - 1``,
    ``g4 = 1.93 l2^3 / (m z d2^4) - 1``, ``g5 = sqrt((745 l1 / (m z))^2 + 16.9e6) / (110 d1^3) - 1``,
    ``g6 = sqrt((745 l2 / (m z))^2 + 157.5e6) / (85 d2^3) - 1``, ``g7 = m z / 40 - 1``,
    ``g8 = 5 m / b - 1``, ``g9 = b / (12 m) - 1``, ``g10 = (1.5 d1 + 1.9) / l1 - 1``,
    ``g11 = (1.1 d2 + 1.9) / l2 - 1``."""
    xp = _module(X, xp)
    b, m, z, l1, l2, d1, d2 = (X[:, i] for i in range(7))
    return _stack([
        27.0 / (b * m**2 * z) - 1.0,
        397.5 / (b * m**2 * z**2) - 1.0,
        1.93 * l1**3 / (m * z * d1**4) - 1.0,
        1.93 * l2**3 / (m * z * d2**4) - 1.0,
        xp.sqrt((745.0 * l1 / (m * z)) ** 2 + 16.9e6) / (110.0 * d1**3) - 1.0,
        xp.sqrt((745.0 * l2 / (m * z)) ** 2 + 157.5e6) / (85.0 * d2**3) - 1.0,
        m * z / 40.0 - 1.0,
        5.0 * m / b - 1.0,
        b / (12.0 * m) - 1.0,
        (1.5 * d1 + 1.9) / l1 - 1.0,
        (1.1 * d2 + 1.9) / l2 - 1.0,
    ], xp)


# ---------------------------------------------------------------------------- three-bar truss

TRUSS_LENGTH, TRUSS_LOAD, TRUSS_STRESS = 100.0, 2.0, 2.0
TINY = 1e-12  # the bars' cross-sections may reach 0: a floor keeps the stresses finite (and huge)


def three_bar_truss(X, xp=None):
    """Three-bar truss: minimize the volume ``(2 sqrt(2) A1 + A2) l`` with l = 100 cm.

    Variables ``x = (A1, A2)``: cross-sections in [0, 1]. Constraints
    (:func:`three_bar_truss_constraints`): the stress in each bar at most sigma = 2 under the load
    P = 2. Formulation: Nowacki (1973), as in Ray & Saini, Eng. Optim. 33 (2001) 735-748 and
    Cagnina et al., Informatica 32 (2008) 319-326. Best known: f = 263.8958433764918 at
    A1 = 0.7886753129194131, A2 = 0.4082477860859604 (Cagnina et al. 2008, as coded in the DIRECTGO
    library; 263.895843 in Ray & Saini 2001).
    """
    return (2.0 * SQRT2 * X[:, 0] + X[:, 1]) * TRUSS_LENGTH


def three_bar_truss_constraints(X, xp=None):
    """``g1 = (sqrt(2) A1 + A2) / (sqrt(2) A1^2 + 2 A1 A2) P - sigma``, ``g2 = A2 / (sqrt(2) A1^2
    + 2 A1 A2) P - sigma``, ``g3 = 1 / (A1 + sqrt(2) A2) P - sigma``; each denominator floored at
    1e-12, so that bars of zero section give a finite, huge violation rather than inf or NaN."""
    xp = _module(X, xp)
    a1, a2 = X[:, 0], X[:, 1]
    shared = (SQRT2 * a1**2 + 2.0 * a1 * a2).clip(min=TINY)
    g1 = (SQRT2 * a1 + a2) / shared * TRUSS_LOAD - TRUSS_STRESS
    g2 = a2 / shared * TRUSS_LOAD - TRUSS_STRESS
    g3 = 1.0 / (a1 + SQRT2 * a2).clip(min=TINY) * TRUSS_LOAD - TRUSS_STRESS
    return _stack([g1, g2, g3], xp)


# ---------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Design:
    """One design problem: objective, constraints, box, integral coordinates and the best known."""

    objective: Callable
    constraints: Callable
    lb: tuple[float, ...]
    ub: tuple[float, ...]
    f_opt: float
    x_opt: tuple[float, ...]
    variables: tuple[str, ...]
    integrality: tuple[bool, ...] | None = None

    @property
    def dim(self) -> int:
        return len(self.lb)

    @property
    def n_constraints(self) -> int:
        return int(self.constraints(np.asarray([self.x_opt], dtype=float)).shape[1])


DESIGNS: dict[str, Design] = {
    "spring": Design(spring, spring_constraints, (0.05, 0.25, 2.0), (2.0, 1.3, 15.0), 0.012665232788,
                     (0.051689061, 0.356717736, 11.288965), ("d", "D", "N")),
    "welded_beam": Design(welded_beam, welded_beam_constraints, (0.1, 0.1, 0.1, 0.1), (2.0, 10.0, 10.0, 2.0),
                          1.724852372592816,
                          (0.205729631527588, 3.47048892954990, 9.03662399165770, 0.205729643343445),
                          ("h", "l", "t", "b")),
    "pressure_vessel": Design(pressure_vessel, pressure_vessel_constraints, (1.0, 1.0, 10.0, 10.0),
                              (99.0, 99.0, 200.0, 200.0), 6059.714335, (13.0, 7.0, 42.098446, 176.636596),
                              ("ks", "kh", "R", "L"), (True, True, False, False)),
    "speed_reducer": Design(speed_reducer, speed_reducer_constraints, (2.6, 0.7, 17.0, 7.3, 7.3, 2.9, 5.0),
                            (3.6, 0.8, 28.0, 8.3, 8.3, 3.9, 5.5), 2994.471066,
                            (3.5, 0.7, 17.0, 7.3, 7.715320, 3.350215, 5.286654),
                            ("b", "m", "z", "l1", "l2", "d1", "d2"), (False, False, True, False, False, False, False)),
    "three_bar_truss": Design(three_bar_truss, three_bar_truss_constraints, (0.0, 0.0), (1.0, 1.0),
                              263.8958433764918, (0.7886753129194131, 0.4082477860859604), ("A1", "A2")),
}
ALIASES = {"tension_compression_spring": "spring", "welded-beam": "welded_beam", "pressure-vessel": "pressure_vessel",
           "speed-reducer": "speed_reducer", "three-bar-truss": "three_bar_truss", "truss": "three_bar_truss"}


def names() -> list[str]:
    """The engineering problems, in the order of the papers' tables."""
    return list(DESIGNS)


def key(name: str) -> str:
    """The registry key of ``name`` (case and the aliases in :data:`ALIASES` allowed); unknown names raise
    ``ValueError``."""
    text = str(name).strip().lower()
    text = ALIASES.get(text, text)
    if text not in DESIGNS:
        raise ValueError(f"unknown engineering problem {name!r}; choose from {', '.join(names())}")
    return text


def design(name: str) -> Design:
    """The pieces of problem ``name`` (see :data:`DESIGNS`)."""
    return DESIGNS[key(name)]


def get(name: str) -> Problem:
    """Engineering problem ``name`` as a constrained :class:`Problem` (vectorized, integrality set)."""
    name = key(name)
    spec = DESIGNS[name]
    return Problem(spec.objective, np.array(spec.lb), np.array(spec.ub), vectorized=True, name=name,
                   f_opt=spec.f_opt, x_opt=np.array(spec.x_opt), integrality=spec.integrality,
                   constraints=spec.constraints)
