"""Shared test fixtures."""

import os
from pathlib import Path

import pytest

from features import default_data_home


@pytest.fixture
def apple_corpus():
    """The Apple corpus must be there: a skip on a developer's machine, a failure in CI (`CI=true`)."""
    path = default_data_home() / "apple_twitter_sentiment.csv"
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Apple corpus is missing from {default_data_home()}")
        pytest.skip("no Apple corpus")
    return path


TOPICS = {
    "running": "morning run marathon miles training pace",
    "coffee": "espresso latte cafe cup barista beans",
    "apple": "iphone ipad apple store release battery",
}


@pytest.fixture(scope="session")
def tiny_tfidf_model(tmp_path_factory) -> Path:
    """A saved tfidf-lr model over three tags (TOPICS), 14 synthetic tweets each: trained in a second,
    for the tests of what uses a saved model (`scpo recommend`, `scpo serve`)."""
    from networks.recommender import HashtagRecommender

    words = {tag: text.split() for tag, text in TOPICS.items()}
    texts = [" ".join(words[tag][j % 6] for j in range(i, i + 4)) + f" #{tag}" for tag in TOPICS for i in range(14)]
    out = tmp_path_factory.mktemp("tiny") / "tfidf"
    HashtagRecommender(model="tfidf-lr").fit(texts).save(out)
    return out
