"""The ``scpo`` command in this process (typer's runner): no start-up of its own, standard error apart."""

from __future__ import annotations

import os
from pathlib import Path


def invoke(*args, cwd: str | Path):
    """``scpo *args`` in-process with ``cwd`` as the working directory (restored afterwards)."""
    from typer.testing import CliRunner

    from cli import app

    here = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, [str(a) for a in args])
    finally:
        os.chdir(here)
