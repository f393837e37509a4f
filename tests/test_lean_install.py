"""The lean core (issue 29): `pip install scpo` runs the optimizers without torch or scikit-learn; what needs
them (the torch backend, `scpo train`, the hashtag study) says in one line to install the `nn` extra."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scpo

ROOT = Path(__file__).resolve().parents[1]
SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")
NN_MODULES = ("torch", "sklearn", "safetensors")
# Imported first by every Python started with this folder on PYTHONPATH: a finder that makes the nn extra's
# modules unimportable, as in an environment where `pip install scpo` left them out.
BLOCKER = f"""
import sys

class NoNNExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NN_MODULES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NoNNExtra())
"""


@pytest.fixture
def without_nn(tmp_path):
    """Environment variables under which a child Python cannot import torch, scikit-learn or safetensors."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    path = [str(blocker), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}


def run_scpo(*args, cwd, env):
    assert SCPO, "the scpo console script is not installed (pip install -e .)"
    return subprocess.run([SCPO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_optimize_runs_without_torch_and_sklearn(tmp_path, without_nn):
    done = run_scpo("optimize", "sphere", "--dim", "3", "--evals", "200", "--seed", "1", "--out", "r", "--quiet",
                    cwd=tmp_path, env=without_nn)
    assert done.returncode == 0, done.stderr
    assert "scpo on sphere-shifted d=3" in done.stdout
    assert (tmp_path / "r" / "result.json").is_file()


def test_train_without_the_nn_extra_says_which_in_one_line(tmp_path, without_nn):
    done = run_scpo("train", cwd=tmp_path, env=without_nn)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "scpo train needs the nn extra" in done.stderr and "pip install 'scpo[nn]'" in done.stderr


def test_import_scpo_and_the_cli_do_not_import_torch_or_sklearn():
    code = ("import sys, scpo, scpo.benchmark, cli; "
            f"print(sorted(m for m in {NN_MODULES!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_torch_backend_without_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ModuleNotFoundError
    with pytest.raises(ImportError, match=r"backend='torch' needs the nn extra .*pip install 'scpo\[nn\]'"):
        scpo.minimize(lambda x: float(x @ x), bounds=[(-1, 1)] * 2, backend="torch", max_evals=10)


def test_core_dependencies_leave_the_nn_extra_out():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    core = {dep.split(">")[0].split("=")[0].split("<")[0] for dep in project["project"]["dependencies"]}
    assert not core & {"torch", "scikit-learn", "safetensors"}
    nn = {dep.split(">")[0] for dep in project["project"]["optional-dependencies"]["nn"]}
    assert nn == {"torch", "scikit-learn", "safetensors"}
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["scpo"]
    assert (ROOT / "scpo" / "py.typed").is_file()
