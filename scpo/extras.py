"""Optional dependencies: which extra installs a missing module, said in one line.

``pip install scpo`` brings the optimizers (numpy, scipy, numba, ...). The torch backend, neuroevolution
and the hashtag study need the ``nn`` extra (torch, scikit-learn, safetensors): without it they fail with
the extra's install command instead of a bare ``No module named 'torch'``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

NN_INSTALL = "pip install 'scpo[nn]'"
# module -> (distribution, extra); only the nn extra's modules: the other extras' messages live where they are used
EXTRAS = {"torch": ("torch", "nn"), "sklearn": ("scikit-learn", "nn"), "safetensors": ("safetensors", "nn")}

__all__ = ["EXTRAS", "NN_INSTALL", "missing_extra", "require"]


def missing_extra(exc: BaseException | None, what: str = "this") -> str | None:
    """One line saying that ``what`` needs the extra that installs the module ``exc`` did not find; None
    when ``exc`` is not a missing module of an extra (the caller then reports it as it is)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    root = exc.name.split(".")[0]
    if root not in EXTRAS:
        return None
    package, extra = EXTRAS[root]
    return f"{what} needs the {extra} extra ({package} is not installed): pip install 'scpo[{extra}]'"


def require(module: str, what: str) -> ModuleType:
    """``module`` imported, or an ImportError saying that ``what`` needs it and which extra installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        message = missing_extra(exc, what)
        if message is None:
            raise
        raise ImportError(message, name=exc.name) from None
