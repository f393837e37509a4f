"""Every ```python block of README.md and docs/ runs, so the documentation cannot rot (issue #29 item 3).

Blocks of one page run in order in one namespace, in a temporary working directory of their own.
A block marked not-run is skipped and reported (`pytest -ra` lists it with its reason); the marks,
each visible in the rendered page or the source:

- a fence title starting with "Not run": ```` ```python title="Not run: needs the bias test" ```` (the
  site shows the title above the block);
- the class ``.no-run``: ```` ```python {.no-run} ````;
- an HTML comment on the line before the fence: ``<!-- no-run: reason -->``.

A ```` ```text title="Output" ```` block right after a python block is what that block prints: the
test compares them (trailing spaces ignored), so the output shown is the output the code gives.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*)$")
NO_RUN_COMMENT = re.compile(r"^\s*<!--\s*no-run\b\s*:?\s*(?P<reason>.*?)\s*-->\s*$")
TITLE = re.compile(r'title="(?P<title>[^"]*)"')


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    info: str
    code: str
    skip: str | None = None  # the reason, when marked not-run
    expected: str | None = None  # the following ```text title="Output" block


def _lang(info: str) -> str:
    info = info.strip()
    if info.startswith("{"):  # ```{.python .no-run}
        classes = re.findall(r"\.([\w-]+)", info)
        return classes[0] if classes else ""
    return info.split()[0] if info else ""


def _skip_reason(info: str, previous: str) -> str | None:
    title = TITLE.search(info)
    if title and title["title"].lower().startswith("not run"):
        return title["title"]
    if re.search(r"\.no-run\b", info):
        return "marked {.no-run}"
    comment = NO_RUN_COMMENT.match(previous)
    if comment:
        return comment["reason"] or "marked <!-- no-run -->"
    return None


def parse(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with their not-run marks and expected outputs."""
    page = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    previous = ""
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            previous = lines[i] if lines[i].strip() else previous
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"]
        end = i + 1
        while end < len(lines) and not re.match(rf"^{re.escape(indent)}{fence[0]}{{{len(fence)},}}\s*$",
                                                lines[end]):
            end += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:end]]
        blocks.append(Block(page, i + 1, _lang(info), info, textwrap.dedent("\n".join(body)) + "\n",
                            _skip_reason(info, previous)))
        previous = ""
        i = end + 1
    for block, after in zip(blocks, blocks[1:], strict=False):
        if block.lang in ("python", "py") and after.lang == "text" and _title(after.info) == "Output" \
                and _only_blank_between(lines, block, after):
            block.expected = after.code
    return blocks


def _title(info: str) -> str:
    match = TITLE.search(info)
    return match["title"] if match else ""


def _only_blank_between(lines: list[str], block: Block, after: Block) -> bool:
    """True when nothing but blank lines separates ``block``'s closing fence from ``after``'s opening one."""
    close = block.line + block.code.count("\n")  # 0-based index of the closing fence
    return all(not line.strip() for line in lines[close + 1:after.line - 1])


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


BLOCKS = [block for path in pages() for block in parse(path) if block.lang in ("python", "py")]


class PageRun:
    """One namespace and one working directory per page; blocks run once, in order."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.namespace: dict = {"__name__": "__docs__"}
        self.done = 0  # index (in the page's runnable blocks) of the next block to run
        self.failed: str | None = None


_runs: dict[str, PageRun] = {}


def _run(block: Block, run: PageRun) -> str:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(run.directory)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block.code, f"{block.page}:{block.line}", "exec"), run.namespace)
    finally:
        os.chdir(cwd)
    return out.getvalue()


def _check_output(block: Block, printed: str) -> None:
    if block.expected is None:
        return
    got = "\n".join(line.rstrip() for line in printed.rstrip("\n").splitlines())
    want = "\n".join(line.rstrip() for line in block.expected.rstrip("\n").splitlines())
    assert got == want, f"{block.page}:{block.line} printed\n{got}\nbut the page shows\n{want}"


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.page}:{b.line}" for b in BLOCKS])
def test_block_runs(block: Block, tmp_path_factory):
    if block.skip is not None:
        pytest.skip(f"not run ({block.page}:{block.line}): {block.skip}")
    runnable = [b for b in BLOCKS if b.page == block.page and b.skip is None]
    run = _runs.setdefault(block.page, PageRun(tmp_path_factory.mktemp(re.sub(r"\W", "_", block.page))))
    index = runnable.index(block)
    while run.done <= index:  # earlier blocks of the page first (also when this one is selected alone)
        current = runnable[run.done]
        run.done += 1
        if run.failed:
            pytest.fail(f"an earlier block of the page failed: {run.failed}")
        try:
            printed = _run(current, run)
            _check_output(current, printed)
        except BaseException:
            run.failed = f"{current.page}:{current.line}"
            raise


def test_collector_finds_blocks_and_marks(tmp_path):
    """The collector sees the README's quick start and its output, and honours every not-run mark."""
    text = (
        "```python\nprint(1 + 1)\n```\n\n```text title=\"Output\"\n2\n```\n"
        "```python title=\"Not run: needs a GPU\"\nx\n```\n"
        "```python {.no-run}\ny\n```\n"
        "<!-- no-run: reads a file -->\n```python\nz\n```\n"
        "  ```python\n  indented = True\n  ```\n"
    )
    path = tmp_path / "probe.md"
    path.write_text(text, encoding="utf-8")
    blocks = [b for b in parse(path) if b.lang == "python"]
    assert [b.skip for b in blocks] == [None, "Not run: needs a GPU", "marked {.no-run}", "reads a file", None]
    assert blocks[0].expected == "2\n" and blocks[4].code == "indented = True\n"
    readme = [b for b in BLOCKS if b.page == "README.md"]
    assert readme and readme[0].skip is None and readme[0].expected, "the README's quick start shows its output"


def test_readme_is_short():
    """README.md stays a welcome (at most 200 lines); the reference lives in docs/."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines (at most 200)"
