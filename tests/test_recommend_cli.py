"""`scpo recommend` as a hashtag user runs it (issue 31 items 8 and 9): scores beside each tag, abstention
below --min-score, many tweets from a file or stdin in one call, json/csv/text output that a tweet's commas,
tabs and newlines cannot break, and no torch for the models that do not need it.

A tiny TF-IDF model on a synthetic corpus is trained once per module (well under a second); the CLI runs
in-process through typer's runner, except the import check, which needs a fresh interpreter.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
@pytest.fixture(scope="module")
def model_dir(tiny_tfidf_model) -> Path:
    return tiny_tfidf_model


def invoke(*args, input: str | None = None, cwd: Path | None = None):
    from typer.testing import CliRunner

    from cli import app

    here = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(app, ["recommend", *map(str, args)], input=input)
    finally:
        os.chdir(here)


def parse_text_line(line: str) -> tuple[list[tuple[str, float]], str]:
    """``#tag score  #tag score<TAB>text`` -> pairs and the (escaped) text."""
    shown, text = line.split("\t")
    fields = shown.split()
    return [(fields[i], float(fields[i + 1])) for i in range(0, len(fields), 2)], text


def test_text_output_prints_each_tags_score_sorted_in_unit_interval(model_dir):
    done = invoke("--model", model_dir, "espresso latte at the cafe", "--k", "3")
    assert done.exit_code == 0, done.output
    pairs, text = parse_text_line(done.stdout.rstrip("\n"))
    assert text == "espresso latte at the cafe" and len(pairs) == 3
    assert pairs[0][0] == "#coffee" and all(tag.startswith("#") for tag, _ in pairs)
    scores = [s for _, s in pairs]
    assert all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True)


def test_min_score_hides_low_tags_and_says_when_none_reaches_it(model_dir):
    from networks.recommender import HashtagRecommender

    rec = HashtagRecommender.load(model_dir)
    on_topic, off_topic = rec.predict_proba(["espresso latte cafe barista", "what a beautiful sunset"])
    cut = float(on_topic.max() + off_topic.max()) / 2  # between the off-topic tweet's best tag and the on-topic's
    assert off_topic.max() < cut < on_topic.max()
    done = invoke("--model", model_dir, "espresso latte cafe barista", "what a beautiful sunset", "--min-score", cut)
    assert done.exit_code == 0, done.output
    first, second = done.stdout.splitlines()
    pairs, _ = parse_text_line(first)
    assert pairs and pairs[0][0] == "#coffee" and all(s >= cut for _, s in pairs) and len(pairs) < 3
    assert second == f"(no tag reaches {cut:.2f})\twhat a beautiful sunset"
    as_json = json.loads(invoke("--model", model_dir, "what a beautiful sunset", "--min-score", cut,
                                "--format", "json").stdout)
    assert as_json == [{"text": "what a beautiful sunset", "tags": []}]
    # the API: (tag, score) pairs, filtered the same way
    scored = rec.recommend(["espresso latte cafe barista", "what a beautiful sunset"], 3, min_score=cut,
                           with_scores=True)
    assert [t for t, _ in scored[0]] == [t.lstrip("#") for t, _ in pairs] and scored[1] == []


def test_input_file_and_stdin_give_one_line_per_tweet_in_one_call(model_dir, tmp_path):
    tweets = ["marathon training pace", "", "new iphone battery", "latte and espresso"]
    (tmp_path / "tweets.txt").write_text("\n".join(tweets) + "\n")
    from_file = invoke("--model", model_dir, "--input", tmp_path / "tweets.txt")
    from_stdin = invoke(model_dir, "-i", "-", input="\n".join(tweets))
    for done in (from_file, from_stdin):
        assert done.exit_code == 0, done.output
        lines = done.stdout.splitlines()
        assert [parse_text_line(line)[1] for line in lines] == [t for t in tweets if t]  # blank lines skipped
        assert [parse_text_line(line)[0][0][0] for line in lines] == ["#running", "#apple", "#coffee"]


def test_json_output_is_one_array_of_text_and_scored_tags(model_dir, tmp_path):
    (tmp_path / "t.txt").write_text("iphone release\nbarista beans\n")
    done = invoke("--model", model_dir, "--input", tmp_path / "t.txt", "--format", "json", "--k", "2")
    assert done.exit_code == 0, done.output
    records = json.loads(done.stdout)
    assert [r["text"] for r in records] == ["iphone release", "barista beans"]
    for record in records:
        assert len(record["tags"]) == 2 and set(record["tags"][0]) == {"tag", "score"}
        assert record["tags"][0]["score"] >= record["tags"][1]["score"]
    assert [r["tags"][0]["tag"] for r in records] == ["apple", "coffee"]


def test_csv_round_trips_a_tweet_with_comma_tab_and_newline(model_dir, tmp_path):
    tricky = 'espresso, latte\tand "beans"\nat the cafe'
    with (tmp_path / "in.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["id", "tweet"], ["1", tricky], ["2", "marathon pace"]])
    for fmt in ("csv", "json"):
        done = invoke("--model", model_dir, "--input", tmp_path / "in.csv", "--text-column", "tweet", "--format", fmt)
        assert done.exit_code == 0, done.output
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(done.stdout, newline="")))
            assert [r["text"] for r in rows] == [tricky, "marathon pace"]
            assert rows[0]["tag_1"] == "coffee" and 0 <= float(rows[0]["score_1"]) <= 1
        else:
            assert [r["text"] for r in json.loads(done.stdout)] == [tricky, "marathon pace"]
    text = invoke("--model", model_dir, "--input", tmp_path / "in.csv", "--text-column", "tweet")
    assert text.exit_code == 0 and len(text.stdout.splitlines()) == 2  # escaped: one record per line
    assert text.stdout.splitlines()[0].split("\t", 1)[1] == 'espresso, latte\\tand "beans"\\nat the cafe'


def test_bad_format_and_bad_input_are_one_line_exit_2(model_dir, tmp_path):
    (tmp_path / "in.csv").write_text("id,body\n1,hello\n")
    for args in (["--format", "xml", "hi"], ["--input", tmp_path / "missing.txt"],
                 ["--input", tmp_path / "in.csv"], ["--min-score", "nan", "hi"]):
        done = invoke("--model", model_dir, *args)
        assert done.exit_code == 2, (args, done.output)
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--format must be one of text, json, csv" in invoke("--model", model_dir, "--format", "xml", "hi").stderr


def test_recommend_with_a_baseline_model_does_not_import_torch(model_dir):
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom cli import app\n"
            f"r = CliRunner().invoke(app, ['recommend', '--model', {str(model_dir)!r}, 'latte'])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
