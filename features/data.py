"""Reading the two study corpora (and any user CSV) into a plain list of tweet texts.

The data files are never copied into the repository: they live in `shared/data` beside it, or
wherever `$SCPO_DATA_HOME` or the `data_home` argument points.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SOURCES", "TweetSource", "collection_tag", "default_data_home", "load_tweets", "resolve_source"]


@dataclass(frozen=True)
class TweetSource:
    """How to read one known corpus; see data/SOURCES.md for where each file comes from."""

    name: str
    file_name: str
    text_column: str
    encoding: str
    collection_tag: str
    origin: str
    double_encoded: bool = False


SOURCES: dict[str, TweetSource] = {
    "apple": TweetSource(
        name="apple",
        file_name="apple_twitter_sentiment.csv",
        text_column="text",
        encoding="mac_roman",
        collection_tag="aapl",
        origin="CrowdFlower 'Apple Twitter Sentiment', copied from GitHub bvez/AplicaTA@33a7553 "
        "(Apple-Twitter-Sentiment-DFE.csv)",
        double_encoded=True,
    ),
    "avengers": TweetSource(
        name="avengers",
        file_name="avengers_endgame_tweets.csv",
        text_column="tweet",
        encoding="utf-8",
        collection_tag="avengersendgame",
        origin="Kaggle kavita5/twitter-dataset-avengersendgame, converted from GitHub "
        "ntmv/handyhelper@164427a data/avengertweets.rda",
    ),
}

# Field separators a user file may use; the header line (or csv.Sniffer on a sample) says which one.
_DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Column names tried, in order, when a user CSV does not say which column holds the text.
_TEXT_COLUMN_GUESSES = ("text", "tweet", "tweet_text", "full_text", "content", "body", "message")


def default_data_home() -> Path:
    """`$SCPO_DATA_HOME`, else `shared/data` beside the repository (resolved from this file)."""
    env = os.environ.get("SCPO_DATA_HOME")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def resolve_source(source: str | os.PathLike[str], data_home: str | os.PathLike[str] | None = None) -> Path:
    """Path of a known corpus name or of a user CSV; a clear error says where it looked."""
    name = str(source)
    known = SOURCES.get(name.lower())
    if known is not None:
        home = Path(data_home).expanduser() if data_home is not None else default_data_home()
        path = home / known.file_name
        if not path.is_file():
            raise FileNotFoundError(
                f"{known.name!r} data not found: looked for {path} (set $SCPO_DATA_HOME or data_home=); "
                f"the file is {known.origin}, see shared/data/SOURCES.md"
            )
        return path
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no such CSV file: {name!r} (known sources: {', '.join(sorted(SOURCES))})"
        )
    return path


def collection_tag(source: str | os.PathLike[str]) -> str | None:
    """The query tag a known corpus was collected with (`aapl`, `avengersendgame`), else None."""
    known = _known_for(source)
    return known.collection_tag if known is not None else None


def _known_for(source: str | os.PathLike[str]) -> TweetSource | None:
    name = str(source)
    if name.lower() in SOURCES:
        return SOURCES[name.lower()]
    file_name = Path(name).name
    return next((s for s in SOURCES.values() if s.file_name == file_name), None)


def _repair_double_encoding(text: str) -> str:
    """Undo UTF-8 bytes that were once read as Latin-1 (SPEC section 4); leave other text as is."""
    try:
        return text.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text


def _pick_column(header: list[str], text_column: str | None, path: Path) -> int:
    if text_column is not None:
        if text_column in header:
            return header.index(text_column)
        lowered = [column.lower() for column in header]
        if text_column.lower() in lowered:
            return lowered.index(text_column.lower())
        raise ValueError(f"column {text_column!r} not in {path} (columns: {', '.join(header)})")
    if len(header) == 1:
        return 0
    lowered = [column.strip().lower() for column in header]
    for guess in _TEXT_COLUMN_GUESSES:
        if guess in lowered:
            return lowered.index(guess)
    raise ValueError(
        f"cannot guess the text column of {path}; pass text_column= one of: {', '.join(header)}"
    )


def load_tweets(
    source: str | os.PathLike[str],
    text_column: str | None = None,
    data_home: str | os.PathLike[str] | None = None,
    *,
    encoding: str | None = None,
) -> list[str]:
    """Tweet texts of `"apple"`, `"avengers"`, or any CSV/TSV/JSON-lines file, one string per data row.

    Known corpora get their documented reading (Apple: Mac Roman, bare-CR records, double-encoding
    repair). A user file is read as UTF-8 unless `encoding` says otherwise; its text column (a
    `.jsonl` file's key) is guessed from common names when `text_column` is None. A CSV's separator
    (comma, semicolon, tab or pipe) is detected, `.tsv` is tab-separated, and a file whose separator
    cannot be told is refused. Empty cells give empty strings, so the
    result has exactly one entry per row.
    """
    path = resolve_source(source, data_home)
    known = _known_for(source)
    if encoding is None:
        encoding = known.encoding if known is not None else "utf-8-sig"
    if text_column is None and known is not None:
        text_column = known.text_column

    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{path} is empty")
    try:
        content = raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not valid {encoding} (byte {error.start}); pass its encoding (e.g. 'latin-1': "
            "--encoding latin-1 on the command line, encoding='latin-1' in Python)"
        ) from None
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None

    if path.suffix.lower() == ".jsonl":
        return _json_lines(content, text_column, path)
    if known is not None:
        delimiter = ","
    elif path.suffix.lower() == ".tsv":
        delimiter = "\t"
    else:
        delimiter = _sniff_delimiter(content, path)
    # newline="" keeps bare CR record ends and line breaks inside quoted fields for the csv module.
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        rows = list(reader)
    except StopIteration:
        raise ValueError(f"{path} has no header row") from None
    except csv.Error as error:
        raise ValueError(f"{path} is not a readable CSV file: {error}") from None
    header = [column.lstrip("\ufeff") for column in header]
    column = _pick_column(header, text_column, path)
    if not rows:
        raise ValueError(f"{path} has a header but no data rows")

    texts = [row[column] if column < len(row) else "" for row in rows]
    if known is not None and known.double_encoded and encoding == known.encoding:
        texts = [_repair_double_encoding(text) if not text.isascii() else text for text in texts]
    return texts


def _sniff_delimiter(content: str, path: Path) -> str:
    """The field separator of a user CSV: the one candidate that splits its header, else csv.Sniffer's pick.

    A header no candidate splits is a one-column file (read as before, comma-separated). Several
    candidates that csv.Sniffer cannot decide between are refused rather than guessed, since a wrong
    separator silently moves text between columns.
    """
    sample = content[:65536]
    header_line = re.split(r"\r\n|\r|\n", sample, maxsplit=1)[0]
    splitting = [
        d for d in _DELIMITERS
        if len(next(iter(csv.reader(io.StringIO(header_line, newline=""), delimiter=d)), [])) > 1
    ]
    if not splitting:
        return ","
    if len(splitting) == 1:
        return splitting[0]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters="".join(splitting)).delimiter
    except csv.Error:
        delimiter = ""
    if delimiter not in splitting:
        names = ", ".join(_DELIMITER_NAMES[d] for d in splitting)
        raise ValueError(
            f"cannot tell the field separator of {path} (its header splits on {names}); "
            "save it with one separator, or as .tsv or .jsonl"
        )
    return delimiter


def _json_lines(content: str, text_column: str | None, path: Path) -> list[str]:
    """Texts of a JSON-lines file: one JSON object per non-blank line, `text_column` naming the key."""
    records: list[tuple[int, dict[str, object]]] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} line {number} is not valid JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path} line {number} is not a JSON object (got {type(record).__name__})")
        records.append((number, record))
    if not records:
        raise ValueError(f"{path} has no JSON lines")
    keys = list(dict.fromkeys(key for _, record in records for key in record))
    key = keys[_pick_column(keys, text_column, path)]
    texts: list[str] = []
    for number, record in records:
        value = record.get(key)
        if value is None:
            texts.append("")  # as an empty CSV cell: one entry per record
        elif isinstance(value, str):
            texts.append(value)
        else:
            raise ValueError(f"{path} line {number}: {key!r} is a {type(value).__name__}, not text")
    return texts
