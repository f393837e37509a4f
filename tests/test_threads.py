"""One thread pool (issue #27 item 4): ``threads=`` / ``--threads`` set numba's and torch's thread counts, and a
numba run leaves torch's count as the user set it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _cli import invoke

import scpo

CHILD = """
import json
import numba, torch
from threadpoolctl import threadpool_info
import scpo
seen = []
def blas():
    return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
def f(X):
    seen.append((numba.get_num_threads(), torch.get_num_threads(), blas()))
    return (X ** 2).sum(1)
def runs(threads):
    seen.clear()
    for algorithm in ("scpo", "sca"):
        scpo.minimize(f, [(-1, 1)] * 8, algorithm=algorithm, backend="numba", max_evals=400, seed=0,
                      vectorized=True, threads=threads)
    return {"seen": sorted(set(seen)), "torch_after": torch.get_num_threads()}
torch.set_num_threads(1)  # the user's setting: numba's kernel launches must leave it there
blas_default = blas()
untouched = runs(None)
two, one = runs(2), runs(1)
print(json.dumps({"untouched": untouched, "two": two, "one": one, "pool": numba.config.NUMBA_NUM_THREADS,
                  "blas_default": blas_default}))
"""


def test_threads_sets_numba_torch_and_blas_and_a_numba_run_keeps_the_users_torch_setting():
    """In a fresh process (thread pools are process-wide, and the suite's own process has set them already),
    with numpy's BLAS at its default size (the suite pins it to 1 through OPENBLAS_NUM_THREADS)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    untouched, two, one = found["untouched"], found["two"], found["one"]
    assert {torch for _, torch, _ in untouched["seen"]} == {1} and untouched["torch_after"] == 1
    assert {blas for _, _, blas in untouched["seen"]} == {found["blas_default"]}  # threads=None: left alone
    assert [seen[:2] for seen in two["seen"]] == [[min(2, found["pool"]), 2]] and two["torch_after"] == 2
    assert one["seen"] == [[1, 1, 1]]  # BLAS too (its default here is the core count: 2 in CI)


@pytest.mark.parametrize("threads", [0, -2, 1.5, True, "2"])
def test_bad_threads_are_refused(threads):
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        scpo.minimize(lambda X: (X**2).sum(1), [(-1, 1)] * 2, algorithm="de", max_evals=50, threads=threads)


def test_cli_threads(tmp_path):
    bad = invoke("optimize", "sphere", "--dim", "2", "--threads", "0", "--quiet", cwd=tmp_path)
    assert bad.exit_code == 2 and "--threads" in bad.output
    good = invoke("optimize", "sphere", "--dim", "2", "--evals", "200", "--threads", "1", "--quiet", "--out", "r",
                  cwd=tmp_path)
    assert good.exit_code == 0, good.output
