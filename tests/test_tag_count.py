"""The tags learned come from the data (issue 31, item 12): by default every tag with at least 20 training
tweets (`--min-tag-count`), not a fixed top 10 that hides frequent tags past it; `--top-k K` still fixes K."""
import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features import build_dataset
from networks.recommender import HashtagRecommender

BIG = [f"big{i:02d}" for i in range(6)]  # 100 tweets each: ~80 training tweets
MID = [f"mid{i:02d}" for i in range(6)]  # 40 tweets each: ~32 training tweets, still >= 20
RARE = ["rare0", "rare1", "rare2"]  # 4 tweets each: below 20 whatever the split


def tweets() -> list[str]:
    """12 tags with >= 20 training tweets (so the old fixed 10 dropped two) and 3 rare ones; distinct texts."""
    counts = {**dict.fromkeys(BIG, 100), **dict.fromkeys(MID, 40), **dict.fromkeys(RARE, 4)}
    return [f"word{tag} note{i} about {tag}stuff #{tag}" for tag, n in counts.items() for i in range(n)]


def write_corpus(path, texts) -> str:
    path.write_text("text\n" + "".join(f'"{t}"\n' for t in texts))
    return str(path)


def train(tmp_path, texts, *args):
    """`scpo train CSV --model frequency --json FILE ARGS` in-process: the result and the JSON report (or None)."""
    from cli import app

    source = write_corpus(tmp_path / "tweets.csv", texts)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["train", source, "--model", "frequency", "--no-progress", "--json", str(out),
                                      *args])
    return result, json.loads(out.read_text()) if result.exit_code == 0 and out.exists() else None


def test_the_default_learns_every_tag_with_at_least_20_training_tweets(tmp_path):
    result, report = train(tmp_path, tweets())
    assert result.exit_code == 0, result.output
    assert sorted(report["tags"]) == sorted(BIG + MID)
    assert (report["top_k"], report["min_tag_count"], report["n_tags"]) == (None, 20, 12)


def test_top_k_fixes_k_and_min_tag_count_moves_the_threshold(tmp_path):
    result, report = train(tmp_path, tweets(), "--top-k", "5")
    assert result.exit_code == 0, result.output
    assert (report["top_k"], report["min_tag_count"], report["n_tags"]) == (5, None, 5)
    assert set(report["tags"]) <= set(BIG)
    result, report = train(tmp_path, tweets(), "--min-tag-count", "60")
    assert result.exit_code == 0, result.output
    assert sorted(report["tags"]) == BIG and (report["min_tag_count"], report["n_tags"]) == (60, 6)
    result, report = train(tmp_path, tweets(), "--min-tag-count", "2", "--top-k", "13")
    assert result.exit_code == 0, result.output
    assert report["n_tags"] == 13 and (report["top_k"], report["min_tag_count"]) == (13, 2)


def test_no_tag_reaching_the_count_is_refused_in_one_line(tmp_path):
    result, _ = train(tmp_path, tweets(), "--min-tag-count", "500")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "at least 500 tweets" in result.stderr and "Traceback" not in result.output
    result, _ = train(tmp_path, [t for t in tweets() if "#rare" in t])  # every tag below 20
    assert result.exit_code == 2 and "at least 20 tweets" in result.stderr


def _help(*command) -> str:
    from cli import app

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    return re.sub(r"[\s│]+", " ", result.output)


def test_help_says_what_top_k_and_recommends_k_mean():
    train_help = _help("train")
    assert "--min-tag-count" in train_help and "Tags learned" in train_help
    recommend_help = _help("recommend")
    assert "Tags shown per tweet" in recommend_help and "the tags the model learned" in recommend_help


def test_the_python_api_defaults_to_the_data_and_keeps_an_explicit_top_k(tmp_path):
    texts = tweets()
    assert build_dataset(texts, seed=0).n_tags == 12
    assert build_dataset(texts, top_k=10, seed=0).n_tags == 10  # the paper's setting, explicit
    assert build_dataset(texts, min_tag_count=60, seed=0).n_tags == 6
    with pytest.raises(ValueError, match="at least 500 tweets"):
        build_dataset(texts, min_tag_count=500)
    with pytest.raises(ValueError, match="min_tag_count"):
        build_dataset(texts, min_tag_count=0)
    model = HashtagRecommender(model="frequency", top_k_tags=None).fit(texts)
    assert sorted(model.classes_) == sorted(BIG + MID)
    assert len(HashtagRecommender(model="frequency", top_k_tags=None, min_tag_count=2).fit(texts).classes_) == 15


def test_avengers_default_reaches_tags_beyond_the_fixed_top_10():
    """The issue's example: a fixed top 10 of Avengers (collection tag excluded) never offers the tags ranked
    below it; the default (>= 20 training tweets) learns every tag that reaches the count, more than 10, and
    --top-k 10 still gives the paper's 10. (#thanos, the issue's example, has 19 training tweets once
    near-copies are merged at seed 0: just below the count, and reached with --min-tag-count 15.)"""
    data_home = Path(os.environ.get("SCPO_DATA_HOME") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (data_home / "avengers_endgame_tweets.csv").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"tweet data missing in {data_home}")
        pytest.skip(f"tweet data missing in {data_home}")
    data = build_dataset("avengers", exclude_collection_tag=True, seed=0, data_home=data_home)
    fixed = build_dataset("avengers", top_k=10, exclude_collection_tag=True, seed=0, data_home=data_home)
    assert fixed.n_tags == 10 and data.n_tags > 10
    assert set(fixed.tag_names) < set(data.tag_names) and "blackwidow" in set(data.tag_names) - set(fixed.tag_names)
    assert min(data.tag_counts[tag] for tag in data.tag_names) >= 20
    lower = build_dataset("avengers", exclude_collection_tag=True, seed=0, data_home=data_home, min_tag_count=15)
    assert {"ironman", "thanos"} <= set(lower.tag_names)
