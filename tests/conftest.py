"""Shared test fixtures."""

import os

# One BLAS thread, here and in every `scpo` child (it inherits the environment), set before numpy loads
# OpenBLAS. The tests' matrices are small: a second BLAS thread saves nothing, and when another job keeps
# one of CI's 2 cores busy its spin-waits cost up to 50x (a label-powerset LR fit: 0.3 s alone, 14 s so).
os.environ["OPENBLAS_NUM_THREADS"] = "1"
# torch's intra-op pool likewise (read when torch loads; numba's pool is NUMBA_NUM_THREADS, left alone): its
# second thread spin-waits the same way on a busy core (a GymProblem docs block: 4 s alone, 59 s in a loaded
# suite). Tests of thread counts set them explicitly (tests/test_threads.py, in a child of its own).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from features import default_data_home  # noqa: E402

threadpool_limits(1, user_api="blas")  # a BLAS already loaded (the variable above is read at load time)


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


@pytest.fixture
def small_tweets(tmp_path) -> str:
    """``tweets.csv`` in ``tmp_path``: 90 short tweets over three tags, for the tests that stop a training
    command with a signal (the stop is their subject, not the corpus; the Apple corpus's text pipeline would
    cost each of them seconds)."""
    words = ["battery", "screen", "camera", "price", "store", "update", "music", "watch"]
    rows = [f'"{words[i % 8]} {words[(i * 3) % 8]} news day {i} #{"abc"[i % 3]}"' for i in range(90)]
    (tmp_path / "tweets.csv").write_text("text\n" + "\n".join(rows) + "\n")
    return "tweets.csv"
