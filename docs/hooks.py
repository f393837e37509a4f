"""mkdocs hook: serve experiments/results/ beside the REPORT page, so its relative links resolve.

docs/report.md includes experiments/REPORT.md (pymdownx.snippets), whose links point at
``results/...``; the files are added to the site under that path (not copied into docs/).
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parent.parent / "experiments" / "results"
SERVED = {".md", ".png", ".txt", ".csv"}


def on_files(files: Files, config) -> Files:
    for path in sorted(RESULTS.rglob("*")):
        if path.is_file() and path.suffix in SERVED:
            uri = "results/" + path.relative_to(RESULTS).as_posix()
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
