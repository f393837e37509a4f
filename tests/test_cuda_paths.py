"""The trainers and `scpo train` on a GPU (skipped without one), and the one-line refusal without one.

The engine's and the population pass's cuda tests live beside their cpu twins (test_backends.py,
test_networks.py); these are the end-to-end paths: a module on cuda trained by a population
optimizer and by Adam gives the cpu's results to float32 rounding, and `scpo train --device cuda`
runs through the CLI.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from networks.resnet import DeepResNet
from networks.training import train_adam, train_population

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def blobs(n=90, d=9, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    X = rng.normal(size=(n, d)) + 2.5 * np.eye(classes, d)[labels]
    return X, np.eye(classes)[labels]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is missing")
def test_scpo_train_on_cuda_without_a_gpu_is_one_line_exit_2():
    done = CliRunner().invoke(app, ["train", "apple", "--device", "cuda", "--evals", "100"])
    assert done.exit_code == 2, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and "cuda" in lines[0] and "Traceback" not in done.output


@cuda
@pytest.mark.parametrize("algorithm", ["scpo", "snes"])
def test_population_training_on_cuda_is_the_cpu_run(algorithm):
    """The engine runs on the host either way; only the fitness pass moves: the same run to float32 rounding."""
    X, Y = blobs()
    results = {}
    for device in ("cpu", "cuda"):
        net = DeepResNet(9, 3, seed=0).to(device)
        history = train_population(net, X, Y, algorithm=algorithm, max_evals=600, pop_size=16, seed=1)
        results[device] = (history, torch.nn.utils.parameters_to_vector(net.parameters()).detach().cpu())
    (h_cpu, _), (h_gpu, w_gpu) = results["cpu"], results["cuda"]
    np.testing.assert_allclose(h_gpu.loss[:3], h_cpu.loss[:3], rtol=1e-4)
    assert h_gpu.best_loss <= h_gpu.initial_loss and abs(h_gpu.best_loss - h_cpu.best_loss) < 0.05
    assert torch.isfinite(w_gpu).all()


@cuda
def test_adam_training_on_cuda_matches_cpu_statistics():
    X, Y = blobs()
    losses = {}
    for device in ("cpu", "cuda"):
        net = DeepResNet(9, 3, seed=0).to(device)
        losses[device] = train_adam(copy.deepcopy(net), X, Y, epochs=15, seed=0, patience=None).best_loss
    assert abs(losses["cuda"] - losses["cpu"]) < 0.05, losses


@cuda
def test_scpo_train_device_cuda_end_to_end(tmp_path):
    out = tmp_path / "m.json"
    done = CliRunner().invoke(app, ["train", "apple", "--device", "cuda", "--optimizer", "scpo", "--evals", "600",
                                    "--top-k", "3", "--no-progress", "--json", str(out)])
    assert done.exit_code == 0, done.output
    report = json.loads(out.read_text())
    assert report["device"] == "cuda" and 0 <= report["metrics"]["hit@1"] <= 1
