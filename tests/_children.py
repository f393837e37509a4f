"""Child processes that tests signal: started with SIGINT at its default, always killed.

A test runner started in the background (``pytest &``, some CI shells) inherits SIGINT ignored, and
a child inherits that in turn: a Ctrl-C sent to it would do nothing, the test fail and the child run
on for minutes. :func:`start` resets the child's SIGINT (and SIGTERM) to the default before it
executes; :func:`child` kills it when the test ends, however it ends.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator


def default_signals() -> None:
    """In the child, before exec: SIGINT and SIGTERM at their defaults, whatever the parent ignores."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start(args: list, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen(args, **kwargs)`` with the child's stop signals at their defaults."""
    return subprocess.Popen(args, preexec_fn=default_signals, **kwargs)


def stop(victim: subprocess.Popen) -> None:
    """Kill ``victim`` if it still runs and reap it (closing its pipes)."""
    if victim.poll() is None:
        victim.kill()
    with contextlib.suppress(Exception):
        victim.communicate(timeout=30)


@contextlib.contextmanager
def child(args: list, **kwargs) -> Iterator[subprocess.Popen]:
    """:func:`start` for a ``with`` block; the child is killed when the block ends."""
    victim = start(args, **kwargs)
    try:
        yield victim
    finally:
        stop(victim)
