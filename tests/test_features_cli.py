"""`scpo data info` as a user runs it: statistics of data/SOURCES.md, JSON file, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCPO = shutil.which("scpo", path=str(Path(sys.executable).parent)) or shutil.which("scpo")
DATA_HOME = Path(os.environ.get("SCPO_DATA_HOME") or Path(__file__).resolve().parents[2] / "shared" / "data")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SCPO, "the scpo console script is not installed (pip install -e .)"
    env = {**os.environ, "SCPO_DATA_HOME": str(DATA_HOME)}
    return subprocess.run([SCPO, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def invoke(*args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch):
    """``scpo *args`` in-process (typer's runner): the same command without a process start-up of its own."""
    from typer.testing import CliRunner

    from cli import app

    monkeypatch.setenv("SCPO_DATA_HOME", str(DATA_HOME))
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def data_home() -> Path:
    if not (DATA_HOME / "avengers_endgame_tweets.csv").is_file():
        message = f"tweet data missing in {DATA_HOME} (see shared/data/SOURCES.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return DATA_HOME


def test_data_info_prints_and_writes_json(tmp_path, data_home):
    done = run("data", "info", "avengers", "--json", "info.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "15000" in done.stdout and "avengersendgame" in done.stdout
    info = json.loads((tmp_path / "info.json").read_text())
    # data/SOURCES.md: 15,000 rows, 2,745 distinct texts, 14,179 with a tag, 641 distinct tags
    assert (info["rows"], info["distinct_texts"], info["tagged_rows"], info["distinct_tags"]) == (
        15000, 2745, 14179, 641,
    )
    assert info["top_tags"][0][0] == "avengersendgame"


def test_data_info_user_csv_with_text_column(tmp_path, monkeypatch):
    (tmp_path / "mine.csv").write_text("id,body\n1,hello #World\n2,hi #world #Moon\n3,plain\n", encoding="utf-8")
    done = invoke("data", "info", "mine.csv", "--text-column", "body", "--json", "out.json", cwd=tmp_path,
                  monkeypatch=monkeypatch)
    assert done.exit_code == 0, done.output
    info = json.loads((tmp_path / "out.json").read_text())
    assert (info["rows"], info["tagged_rows"], info["distinct_tags"]) == (3, 2, 2)
    assert info["top_tags"] == [["world", 2], ["moon", 1]]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("nowhere.csv",), "nowhere.csv"),
        (("mine.csv", "--text-column", "tweet"), "'tweet'"),
        (("mine.csv",), "cannot guess"),
    ],
)
def test_data_info_bad_source_is_one_line_exit_2(tmp_path, monkeypatch, args, fragment):
    (tmp_path / "mine.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    done = invoke("data", "info", *args, cwd=tmp_path, monkeypatch=monkeypatch)
    assert done.exit_code == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout  # in-process, an uncaught exception is exit code 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], done.stderr
