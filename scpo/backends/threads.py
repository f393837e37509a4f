"""One thread count for numba's kernels, torch's intra-op pool and numpy's BLAS.

numba (OpenMP threading layer) and torch share the OpenMP runtime: a thread count set through one can
show up in the other (issue #27: ``torch.set_num_threads(1)`` read 2 after a numba run, and
vmap-based evaluations in the same process ran 3-5x slower on a busy machine). ``threads=`` (the
API) and ``--threads`` (the CLI) set both; without it, a numba kernel launch leaves torch's count as
the user set it. numpy's BLAS (CMA-ES's products and eigendecompositions on the numpy and numba
backends) is limited too, through ``threadpoolctl``: ``threads=1`` means one thread everywhere.
"""

from __future__ import annotations

import os
import sys

import numpy as np


def check_threads(threads) -> int | None:
    """``threads`` as a positive ``int`` (or ``None``: leave the settings alone); a one-line ValueError otherwise."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"threads must be a positive integer (or None), got {threads!r}")
    return int(threads)


def set_threads(threads: int | None) -> None:
    """Use ``threads`` threads in numba's kernels (at most its pool, ``NUMBA_NUM_THREADS``), in the BLAS
    libraries loaded (numpy's) and in torch: set now if torch is imported, else through ``OMP_NUM_THREADS``
    for when it is."""
    threads = check_threads(threads)
    if threads is None:
        return
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")  # process-wide until changed, as the others

    numba.set_num_threads(min(threads, int(vars(numba.config)["NUMBA_NUM_THREADS"])))  # the pool's size
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    else:
        os.environ["OMP_NUM_THREADS"] = str(threads)


def torch_threads() -> int | None:
    """torch's intra-op thread count if torch is imported (``None`` otherwise): cheap, read before a numba
    launch so that :func:`restore_torch_threads` can undo what the launch did to it."""
    torch = sys.modules.get("torch")
    return None if torch is None else torch.get_num_threads()


def restore_torch_threads(before: int | None) -> None:
    if before is not None:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
