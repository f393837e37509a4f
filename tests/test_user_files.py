"""A person's own tweet files: the separator is detected (or the file refused), `.tsv`, `.jsonl` and `--encoding`.

Synthetic files in tmp_path, checked through `scpo data info` in-process (the cheapest command reading a file).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from features import build_dataset, dataset_info, load_tweets

# id, text: every text holds a comma, and the tags of every third tweet come after it (lost if a comma splits).
ROWS = [(i, f"tweet {i}, about things #tag{i % 3}" if i % 3 else f"tweet {i}, no tag") for i in range(1, 31)]
N_TAGGED = sum(1 for _, text in ROWS if "#" in text)


def write_rows(path: Path, delimiter: str, rows=ROWS, header=("id", "text"), encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def info(*args: str):
    from typer.testing import CliRunner

    from cli import app

    return CliRunner().invoke(app, ["data", "info", *args])


def field(output: str, key: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(key)).split()[-1]


def test_comma_file_is_the_reference(tmp_path):
    result = info(str(write_rows(tmp_path / "t.csv", ",")), "--text-column", "text")
    assert result.exit_code == 0, result.output
    assert field(result.stdout, "rows") == str(len(ROWS))
    assert field(result.stdout, "tagged rows") == str(N_TAGGED) == "20"


@pytest.mark.parametrize(("delimiter", "name"), [(";", "t.csv"), ("\t", "t.tsv"), ("\t", "t.csv"), ("|", "t.txt")])
def test_other_separators_read_the_same_columns(tmp_path, delimiter, name):
    path = write_rows(tmp_path / name, delimiter)
    result = info(str(path), "--text-column", "text")
    assert result.exit_code == 0, result.output
    assert field(result.stdout, "rows") == str(len(ROWS))
    assert field(result.stdout, "tagged rows") == str(N_TAGGED)
    assert load_tweets(path, text_column="text") == [text for _, text in ROWS]  # the id is not in the text


def test_tsv_suffix_is_tab_separated_whatever_else_the_header_holds(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("text\tnotes, more\nhello, world #a\tx, y\n", encoding="utf-8")
    assert load_tweets(path) == ["hello, world #a"]


def test_jsonl_file_read_by_key(tmp_path):
    path = tmp_path / "t.jsonl"
    lines = [json.dumps({"id": i, "body": text}) for i, text in ROWS]
    path.write_text("\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:]) + "\n", encoding="utf-8")
    result = info(str(path), "--text-column", "body")
    assert result.exit_code == 0, result.output
    assert field(result.stdout, "rows") == str(len(ROWS))
    assert field(result.stdout, "tagged rows") == str(N_TAGGED)
    assert load_tweets(path) == [text for _, text in ROWS]  # `body` is guessed as the text key


def test_malformed_jsonl_line_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a #x"}\n{"text": "b #y"}\n{"text": "c #z",\n', encoding="utf-8")
    result = info(str(path), "--text-column", "text")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "line 3" in result.stderr and "Traceback" not in result.output
    path.write_text('{"text": "a #x"}\n["b #y"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2 is not a JSON object"):
        load_tweets(path, text_column="text")


def test_one_column_file_is_read_as_before(tmp_path):
    # No separator splits the header: one column, whatever the tweets hold (a semicolon here).
    path = tmp_path / "t.csv"
    path.write_text("text\nfirst; #a\nsecond | #b\nthird\n", encoding="utf-8")
    result = info(str(path), "--text-column", "text")
    assert result.exit_code == 0, result.output
    assert field(result.stdout, "rows") == "3" and field(result.stdout, "tagged rows") == "2"


def test_file_whose_separator_cannot_be_told_is_refused(tmp_path):
    # The header splits on both ';' and ',', and the rows do neither consistently.
    path = tmp_path / "t.csv"
    path.write_text("id;text,tags\n1;a,b;c #x\n2,b;c,d,e #y;f\n3;;;x,,\n", encoding="utf-8")
    result = info(str(path), "--text-column", "text")
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "separator" in result.stderr and "semicolon" in result.stderr and "comma" in result.stderr


def test_latin1_file_needs_encoding(tmp_path):
    path = write_rows(tmp_path / "t.csv", ";", rows=[(1, "café, très bon #coffee"), (2, "crème #brûlée")],
                      encoding="latin-1")
    refused = info(str(path), "--text-column", "text")
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "--encoding" in refused.stderr
    result = info(str(path), "--text-column", "text", "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    assert field(result.stdout, "tagged rows") == "2"
    assert "brûlée" in result.stdout
    # The API takes the same encoding down to the loader.
    assert dataset_info(path, text_column="text", encoding="latin-1")["tagged_rows"] == 2
    data = build_dataset(path, text_column="text", encoding="latin-1", train_share=0.5, val_share=0.0, seed=0,
                         top_k=2)
    assert data.train_texts == ["café, très bon"]
