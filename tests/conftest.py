"""Shared test fixtures."""

import os

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
