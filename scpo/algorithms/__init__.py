"""Algorithms by name: importing a module registers it."""

from scpo.algorithms import (  # noqa: F401  (registration)
    cmaes,
    de,
    openai_es,
    pgpe,
    po,
    pso,
    random_search,
    sca,
    scpo_hybrid,
    sep_cmaes,
    snes,
)
from scpo.algorithms.base import REGISTRY, Algorithm, Context, create, names, register

__all__ = ["REGISTRY", "Algorithm", "Context", "create", "names", "register"]
