"""Checkpoints: atomic, resumable bit for bit, and refused clearly when corrupted or foreign."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _children import child
from _cli import invoke

import scpo

SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")


@pytest.mark.parametrize("algorithm", ["sca", "po", "scpo", "random", "pso", "de", "openai-es", "snes", "pgpe",
                                       "sep-cmaes"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, algorithm):
    assert algorithm in scpo.algorithm_names()
    problem = scpo.problems.get("rastrigin", 12, shifted=True, seed=3)
    settings = dict(algorithm=algorithm, max_iter=40, seed=5, pop_size=16)
    full = scpo.minimize(problem, **settings)
    path = tmp_path / "run.ck"
    stopped = scpo.minimize(problem, **settings, checkpoint=path, checkpoint_every=7, callback=lambda p: p.nit >= 24)
    assert stopped.nit < 40 and path.exists()
    resumed = scpo.minimize(problem, **settings, checkpoint=path, checkpoint_every=7, resume=True)
    assert resumed.fun == full.fun and np.array_equal(resumed.x, full.x)
    # the resume re-evaluates the saved best point once (counted): nfev is one more from there on
    assert resumed.history["best"] == full.history["best"] and resumed.nfev == full.nfev + 1
    at = stopped.nit  # the stop saved the checkpoint
    assert resumed.history["nfev"] == full.history["nfev"][:at] + [n + 1 for n in full.history["nfev"][at:]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ck", "run.ck.history"]  # no temporary files


def test_corrupted_truncated_and_foreign_checkpoints_are_refused(tmp_path):
    problem = scpo.problems.get("sphere", 4)
    path = tmp_path / "ck"
    scpo.minimize(problem, algorithm="sca", max_iter=5, seed=0, checkpoint=path)
    data = path.read_bytes()
    (tmp_path / "truncated").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage").write_bytes(b"not a checkpoint at all")
    corrupted = bytearray(data)
    corrupted[len(data) // 3] ^= 0xFF
    (tmp_path / "corrupted").write_bytes(bytes(corrupted))
    for name in ("truncated", "garbage", "corrupted"):
        with pytest.raises(ValueError, match="checkpoint"):
            scpo.minimize(problem, algorithm="sca", max_iter=5, seed=0, checkpoint=tmp_path / name, resume=True)
    with pytest.raises(ValueError, match="belongs to another run: seed=0"):
        scpo.minimize(problem, algorithm="sca", max_iter=5, seed=1, checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="belongs to another run: algorithm"):
        scpo.minimize(problem, algorithm="random", max_iter=5, seed=0, checkpoint=path, resume=True)


def test_algorithm_with_opaque_state_refuses_checkpoints_clearly(tmp_path):
    assert "cmaes" in scpo.algorithm_names()
    with pytest.raises(ValueError, match="'cmaes' does not support checkpoints"):
        scpo.minimize(scpo.problems.get("sphere", 4), algorithm="cmaes", implementation="cma", max_iter=3, seed=0,
                      checkpoint=tmp_path / "c")


def test_a_checkpoint_holding_pickled_objects_is_not_executed(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([{"format": "scpo-checkpoint/1"}], dtype=object))
    with pytest.raises(ValueError, match="checkpoint"):
        scpo.minimize(scpo.problems.get("sphere", 2), algorithm="sca", max_iter=3, checkpoint=path, resume=True)


def test_sigkilled_cli_run_resumes_to_the_same_result(tmp_path):
    args = ["optimize", "rastrigin", "--algo", "scpo", "--dim", "100", "--pop", "100", "--iters", "600",
            "--seed", "3", "--quiet"]
    # only the killed run needs a process of its own: the uninterrupted and the resumed runs are in-process
    full = invoke(*args, "--out", "full", "--json", "full.json", cwd=tmp_path)
    assert full.exit_code == 0, full.output
    ck = ["--out", "r", "--checkpoint", "ck", "--checkpoint-every", "25", "--json", "out.json"]
    with child([SCPO, *args, *ck], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as victim:
        deadline = time.time() + 60
        while not (tmp_path / "ck").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.25)  # past the first checkpoints (every 25 iterations), far from the 600th iteration
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    assert not (tmp_path / "out.json").exists(), "run finished before the kill: make it longer"
    resumed = invoke(*args, *ck, "--resume", cwd=tmp_path)
    assert resumed.exit_code == 0, resumed.output
    at = re.search(r"resumed from ck at iteration (\d+)/", resumed.stderr)
    assert at, resumed.stderr
    expected = json.loads((tmp_path / "full.json").read_text())
    got = json.loads((tmp_path / "out.json").read_text())
    assert got["best_fitness"] == expected["best_fitness"] and got["history"]["best"] == expected["history"]["best"]
    at = int(at.group(1))  # the resume re-evaluated the saved best point once: nfev is one more from there on
    nfev = expected["history"]["nfev"]
    assert got["history"]["nfev"] == nfev[:at] + [n + 1 for n in nfev[at:]] and got["nfev"] == expected["nfev"] + 1
