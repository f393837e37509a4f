"""One thread pool (issue #27 item 4): ``threads=`` / ``--threads`` set numba's and torch's thread counts, and a
numba run leaves torch's count as the user set it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _cli import invoke

import scpo

CHILD = """
import json
import numba, torch
import scpo
seen = []
def f(X):
    seen.append((numba.get_num_threads(), torch.get_num_threads()))
    return (X ** 2).sum(1)
def runs(threads):
    seen.clear()
    for algorithm in ("scpo", "sca"):
        scpo.minimize(f, [(-1, 1)] * 8, algorithm=algorithm, backend="numba", max_evals=400, seed=0,
                      vectorized=True, threads=threads)
    return {"seen": sorted(set(seen)), "torch_after": torch.get_num_threads()}
torch.set_num_threads(1)  # the user's setting: numba's kernel launches must leave it there
untouched = runs(None)
print(json.dumps({"untouched": untouched, "two": runs(2), "pool": numba.config.NUMBA_NUM_THREADS}))
"""


def test_threads_sets_numba_and_torch_and_a_numba_run_keeps_the_users_torch_setting():
    """In a fresh process: thread pools are process-wide, and the suite's own process has set them already."""
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    untouched, two = found["untouched"], found["two"]
    assert {torch for _, torch in untouched["seen"]} == {1} and untouched["torch_after"] == 1
    assert two["seen"] == [[min(2, found["pool"]), 2]] and two["torch_after"] == 2


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
