"""PO's party switching as one triton program: the reference's sequential swaps on the device.

The swaps are a chain by definition (each one changes which member of a party is the least
fit for the next), so they run in order, in one program of one warp: per moving agent, the
target party's n fitness values are read as one vector, the first largest is taken (numpy's
``argmax``), and the two agents' source rows, diagonal flags and fitness values are swapped in
global memory, with a barrier so the next agent's read sees them. N agents, O(N n) work, no
value leaves the device. Imported only where triton is (torch's cuda builds ship it).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _switch(fitness_ptr, moving_ptr, offsets_ptr, source_ptr, diagonal_ptr, N, n,
            REFERENCE_BUG: tl.constexpr, BLOCK: tl.constexpr):
    members = tl.arange(0, BLOCK)
    for i in range(N):
        if tl.load(moving_ptr + i) != 0:
            party = (i // n + tl.load(offsets_ptr + i)) % n
            values = tl.load(fitness_ptr + party * n + members, mask=members < n, other=float("-inf"))
            j = party * n + tl.argmax(values, axis=0)
            src_i, src_j = tl.load(source_ptr + i), tl.load(source_ptr + j)
            diag_i, diag_j = tl.load(diagonal_ptr + i), tl.load(diagonal_ptr + j)
            f_i, f_j = tl.load(fitness_ptr + i), tl.load(fitness_ptr + j)
            tl.debug_barrier()  # every thread has read before anyone writes
            tl.store(source_ptr + i, src_j)
            tl.store(source_ptr + j, src_i)
            tl.store(diagonal_ptr + i, diag_j)
            if REFERENCE_BUG:
                tl.store(diagonal_ptr + j, diag_j * 0 + 1)
            else:
                tl.store(diagonal_ptr + j, diag_i)
            tl.store(fitness_ptr + i, f_j)
            tl.store(fitness_ptr + j, f_i)
            tl.debug_barrier()  # the writes are seen by the next agent's read


def switch_plan(fitness: torch.Tensor, n: int, moving, offsets, reference_bug: bool = False):
    """:func:`scpo.algorithms.po.switch_plan` on the device: (source rows, diagonal mask) as tensors."""
    device, N = fitness.device, n * n
    work = fitness.detach().clone()  # the kernel swaps fitness values as it goes
    moving = torch.as_tensor(moving, device=device).to(torch.int8)
    offsets = torch.as_tensor(offsets, device=device).to(torch.int64)
    source = torch.arange(N, device=device)
    diagonal = torch.zeros(N, dtype=torch.int8, device=device)
    _switch[(1,)](work, moving, offsets, source, diagonal, N, n, REFERENCE_BUG=bool(reference_bug),
                  BLOCK=triton.next_power_of_2(n), num_warps=1)
    return source, diagonal.bool()
