"""Algorithms by name: importing a module registers it."""

from scpo.algorithms import cmaes, de, po, pso, random_search, sca, scpo_hybrid  # noqa: F401  (registration)
from scpo.algorithms.base import REGISTRY, Algorithm, Context, create, names, register

__all__ = ["REGISTRY", "Algorithm", "Context", "create", "names", "register"]
