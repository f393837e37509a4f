"""Near-copies (retweets differing by a URL, an @mention, "RT", tags or punctuation) never straddle a split."""

import csv
import json

from _cli import invoke

from features import build_dataset, dataset_info, duplicate_key


def _write(path, texts):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([i, text] for i, text in enumerate(texts))
    return path


def _retweeted(n=40):
    """n distinct tweets, each followed later by a retweet of it with a link, a mention and another tag."""
    tweets = [f"story w{i} about the market #news" + (" #tech" if i % 2 else "") for i in range(n)]
    retweets = [f"RT @desk{i}: Story w{i} about the market... http://t.co/x{i} #extra" for i in range(n)]
    return tweets + retweets


def test_duplicate_key_ignores_links_mentions_rt_tags_and_punctuation():
    plain = duplicate_key("Story about the market #news")
    assert plain == "story about the market"
    for copy in ("RT @desk: story about the market http://t.co/abc", "@a @b Story about the market!! #other",
                 "story about   the market... https://t.co/x #news #more", "\"Story about the market\" (#news)"):
        assert duplicate_key(copy) == plain, copy
    assert duplicate_key("story about the markets") != plain  # a different word is a different text
    assert duplicate_key("...") == "..."  # no word at all: keyed on its text, not merged with every such tweet


def test_near_copies_are_merged_before_the_split(tmp_path):
    data = build_dataset(_write(tmp_path / "t.csv", _retweeted()), top_k=5, train_share=0.5, val_share=0.2, seed=0)
    train = {duplicate_key(text) for text in data.train_texts}
    leaked = [text for text in data.val_texts + data.test_texts if duplicate_key(text) in train]
    assert leaked == []
    assert data.duplicates_dropped == 40 and data.summary()["duplicates_dropped"] == 40
    assert len(data.train_texts) + len(data.val_texts) + len(data.test_texts) == 40
    # The first copy's text is kept; its tags are the union of the copies' tags.
    texts = data.train_texts + data.val_texts + data.test_texts
    tags = data.train_tags + data.val_tags + data.test_tags
    first = dict(zip(texts, tags, strict=True))["story w1 about the market"]
    assert set(first) == {"news", "tech", "extra"}


def test_test_tweets_without_a_kept_tag_are_counted(tmp_path):
    texts = [f"tweet w{i} on topic #main" for i in range(30)] + [f"tweet x{i} elsewhere #side" for i in range(10)]
    data = build_dataset(_write(tmp_path / "t.csv", texts), top_k=1, train_share=0.5, val_share=0.0, seed=1)
    assert data.tag_names == ["main"]
    assert data.test_without_kept_tag > 0
    assert len(data.test_texts) + data.test_without_kept_tag == 20
    assert data.summary()["test_without_kept_tag"] == data.test_without_kept_tag


def test_train_report_and_data_info_show_the_counts(tmp_path):
    _write(tmp_path / "t.csv", _retweeted(30))
    done = invoke("train", "t.csv", "--model", "frequency", "--json", "r.json", cwd=tmp_path)
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["duplicates_dropped"] == 30 and report["test_without_kept_tag"] == 0
    assert dataset_info(tmp_path / "t.csv")["duplicates_dropped"] == 30
    info = invoke("data", "info", "t.csv", cwd=tmp_path)
    assert info.exit_code == 0 and "duplicates dropped" in info.output


def test_apple_test_split_shares_no_text_with_training(apple_corpus):
    data = build_dataset("apple", seed=0)
    train = {duplicate_key(text) for text in data.train_texts}
    assert [raw for raw, text in zip(data.test_raw, data.test_texts, strict=True) if duplicate_key(text) in train] == []
    assert data.duplicates_dropped > 0
