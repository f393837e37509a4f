"""Tests of features/: labels, cleaning, loading, splits, and the keyword-set features f1..f9.

Expected values are worked out by hand in the comments, or taken from data/SOURCES.md, whose
statistics were computed with pandas independently of this code.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

import features
from features import (
    KeywordSetFeaturizer,
    build_dataset,
    clean_text,
    dataset_info,
    extract_hashtags,
    load_tweets,
    prepare_text,
    tokenize,
)


def _data_home() -> Path:
    env = os.environ.get("SCPO_DATA_HOME")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


DATA_HOME = _data_home()
_FILES = ("apple_twitter_sentiment.csv", "avengers_endgame_tweets.csv")


@pytest.fixture(scope="module")
def data_home() -> Path:
    missing = [name for name in _FILES if not (DATA_HOME / name).is_file()]
    if missing:
        message = f"tweet data missing in {DATA_HOME}: {missing} (see shared/data/SOURCES.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return DATA_HOME


@pytest.fixture(scope="module")
def apple(data_home: Path) -> list[str]:
    return load_tweets("apple", data_home=data_home)


@pytest.fixture(scope="module")
def avengers(data_home: Path) -> list[str]:
    return load_tweets("avengers", data_home=data_home)


# ---------------------------------------------------------------------------------------- labels
def test_extract_hashtags_issue_example():
    assert extract_hashtags("Love #IOS8 and #iPhone6! &#39; #1 http://x.co/#frag") == ["ios8", "iphone6"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#Café au lait #日本語 #Über", ["café", "日本語", "über"]),  # Unicode letters
        ("#b #A #b #a", ["b", "a"]),  # lowercased, first appearance, no repeats
        ("#2014 #_ #x_1 #1st", ["x_1", "1st"]),  # needs at least one letter
        ("mail#tag a/#b &#x27; &amp;", []),  # glued to a word, URL path, HTML entities
        ("see www.site.com/#top or https://t.co/x#y", []),  # URL fragments
        ("link http://t.co/RanqKt2Q9n'#roc #nyc", ["roc", "nyc"]),  # quote ends the URL
        ("(#thor), [#Apple]. #Loki!", ["thor", "apple", "loki"]),
        ("", []),
    ],
)
def test_extract_hashtags_cases(text, expected):
    assert extract_hashtags(text) == expected


# -------------------------------------------------------------------------------------- cleaning
def test_clean_text_removes_noise():
    text = "RT @Marvel: Tom &amp; Loki <U+0001F495><U+2764><U+FE0F> are HERE 😀 https://t.co/abc #Thor"
    assert clean_text(text) == ": tom & loki are here #thor"


def test_clean_text_decodes_r_escapes_of_letters():
    assert clean_text("Pok<U+00E9>mon") == "pok é mon"  # boundaries kept where `<`, `>` were


def test_clean_text_keeps_rt_inside_words():
    assert clean_text("ARTS and RTX") == "arts and rtx"


def test_prepare_text_strict_removes_every_tag():
    text = "Ready #Thor#Loki to rock! #excited #AvengersEndgame https://t.co/x"
    assert prepare_text(text) == "ready to rock!"
    assert prepare_text(text, leakage="strict") == "ready to rock!"


def test_prepare_text_tagfinder_keeps_mid_text_tags_only():
    text = "Ready for #Thor today ! #excited #AvengersEndgame! https://t.co/x"
    assert prepare_text(text, leakage="tagfinder") == "ready for thor today !"


def test_prepare_text_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'leaky'"):
        prepare_text("x", leakage="leaky")


def test_tokenize_drops_stop_words_numbers_and_single_letters():
    assert tokenize("the iphone6 is 2014 x 1st and it's great don't") == ["iphone6", "1st", "great", "dont"]
    assert tokenize("the a an") == []
    assert tokenize("the cat", stop_words=False) == ["the", "cat"]


# --------------------------------------------------------------------------------------- loading
def test_load_apple_rows_and_mojibake_repaired(apple):
    assert len(apple) == 3886
    for marker in ("Ã", "â€", "å£"):
        assert sum(marker in text for text in apple) <= 5, marker
    assert any("£" in text for text in apple)  # restored by the double-encoding repair
    assert sum("\ufffd" in text for text in apple) <= 6  # SOURCES.md: 6 rows lost a byte upstream


def test_load_avengers_rows(avengers):
    assert len(avengers) == 15000
    assert all(isinstance(text, str) for text in avengers)


@pytest.mark.parametrize(
    ("source", "tagged", "tokens", "distinct"),
    [("apple", 1983, 3970, 949), ("avengers", 14179, 22092, 641)],  # data/SOURCES.md
)
def test_tag_statistics_match_sources_md(data_home, source, tagged, tokens, distinct):
    info = dataset_info(source, data_home=data_home)
    assert info["tagged_rows"] == tagged
    assert info["hashtag_tokens"] == tokens
    assert info["distinct_tags"] == distinct


def test_dataset_info_apple(data_home):
    info = dataset_info("apple", data_home=data_home)
    assert info["rows"] == 3886
    assert info["distinct_texts"] == 3219  # 667 exact duplicates
    assert info["top_tags"][0][0] == "aapl"
    assert info["collection_tag"] == "aapl"
    counts = [count for _, count in info["top_tags"]]
    assert counts == sorted(counts, reverse=True)


def test_load_tweets_by_path_uses_known_reading(data_home, apple):
    assert load_tweets(data_home / "apple_twitter_sentiment.csv") == apple


def test_load_tweets_data_home_from_environment(tmp_path, monkeypatch):
    (tmp_path / "avengers_endgame_tweets.csv").write_text('id,tweet\n1,"hi #there"\n2,yo\n', encoding="utf-8")
    monkeypatch.setenv("SCPO_DATA_HOME", str(tmp_path))
    assert load_tweets("avengers") == ["hi #there", "yo"]


def test_missing_known_source_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="SOURCES.md") as error:
        load_tweets("apple", data_home=tmp_path)
    assert str(tmp_path / "apple_twitter_sentiment.csv") in str(error.value)


def test_user_csv_with_bare_cr_records_and_multiline_field(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes('\ufeffid,Tweet,lang\r1,"two\nlines #x",en\r2,plain,en\r'.encode())
    assert load_tweets(path) == ["two\nlines #x", "plain"]  # `Tweet` guessed, BOM dropped
    assert load_tweets(str(path), text_column="lang") == ["en", "en"]


@pytest.mark.parametrize(
    ("content", "kwargs", "match"),
    [
        (b"", {}, "empty"),
        (b"text\n", {}, "no data rows"),
        (b"a,b\n1,2\n", {}, "cannot guess the text column"),
        (b"text\nhello\n", {"text_column": "body"}, "'body'"),
        (b"text\ncaf\xe9 \xff\n", {}, "not valid utf-8"),
    ],
)
def test_bad_csv_gives_one_line_value_error(tmp_path, content, kwargs, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as error:
        load_tweets(path, **kwargs)
    assert "\n" not in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_tweets(tmp_path / "nope.csv")


# --------------------------------------------------------------------------------------- dataset
def _corpus() -> list[str]:
    """60 distinct tweets: #common on all, #mid on every 2nd, #rare on every 5th, plus 2 copies."""
    texts = []
    for i in range(60):
        tags = "#common" + (" #mid" if i % 2 == 0 else "") + (" #rare" if i % 5 == 0 else "")
        texts.append(f"tweet number w{i} about things {tags}")
    texts.append("tweet number w0 about things #other")  # same clean text as tweet 0
    texts.append("#common #mid https://t.co/x @someone")  # nothing left after cleaning
    return texts


def test_dataset_deduplicates_before_splitting_and_unites_tags():
    data = build_dataset(_corpus(), top_k=10, train_share=0.6, val_share=0.2, seed=3)
    splits = [data.train_texts, data.val_texts, data.test_texts]
    all_texts = [text for split in splits for text in split]
    assert len(all_texts) == len(set(all_texts)) == 60
    position = next(
        (split, i) for split in ("train", "val", "test")
        for i, text in enumerate(getattr(data, f"{split}_texts")) if text == "tweet number w0 about things"
    )
    tags = getattr(data, f"{position[0]}_tags")[position[1]]
    assert set(tags) == {"common", "mid", "rare", "other"} & set(data.tag_names)


def test_dataset_split_shares_and_seed():
    data = build_dataset(_corpus(), top_k=1, train_share=0.6, val_share=0.2, seed=0)
    assert (len(data.train_texts), len(data.val_texts), len(data.test_texts)) == (36, 12, 12)
    again = build_dataset(_corpus(), top_k=1, train_share=0.6, val_share=0.2, seed=0)
    other = build_dataset(_corpus(), top_k=1, train_share=0.6, val_share=0.2, seed=1)
    assert again.train_texts == data.train_texts
    assert other.train_texts != data.train_texts
    generator = build_dataset(_corpus(), top_k=1, seed=np.random.default_rng(0))
    assert generator.train_texts == build_dataset(_corpus(), top_k=1, seed=0).train_texts


def test_dataset_labels_count_on_training_split_only():
    data = build_dataset(_corpus(), top_k=2, train_share=0.6, val_share=0.2, seed=5)
    # Column sums of Y_train are the training counts (every training tweet with a kept tag stays).
    train_counts = data.Y_train.sum(axis=0)
    assert list(train_counts) == [data.tag_counts[tag] for tag in data.tag_names]
    assert data.tag_names == ["common", "mid"]
    assert all(count <= train_counts.min() for tag, count in data.tag_counts.items() if tag not in data.tag_names)
    for Y, tags in ((data.Y_train, data.train_tags), (data.Y_test, data.test_tags)):
        assert Y.shape == (len(tags), 2)
        assert [[data.tag_names[j] for j in np.flatnonzero(row)] for row in Y] == [
            sorted(t, key=data.tag_names.index) for t in tags
        ]
        assert Y.sum(axis=1).min() >= 1


def test_dataset_single_label_is_most_frequent_training_tag():
    data = build_dataset(_corpus(), top_k=3, seed=2)
    counts = [data.tag_counts[tag] for tag in data.tag_names]
    for y, tags in zip(data.y_train, data.train_tags, strict=True):
        assert counts[y] == max(data.tag_counts[tag] for tag in tags)
    assert np.array_equal(data.y_test, data.Y_test.argmax(axis=1))


def test_dataset_excludes_collection_tag():
    data = build_dataset(_corpus(), top_k=5, exclude_collection_tag=True, collection_tag="#common")
    assert "common" not in data.tag_names
    assert data.excluded_tags == ("common",)
    with pytest.raises(ValueError, match="collection_tag"):
        build_dataset(_corpus(), exclude_collection_tag=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "top_k"),
        ({"train_share": 1.2}, "1.2"),
        ({"train_share": 0.9, "val_share": 0.1}, "test split"),
        ({"leakage": "none"}, "'none'"),
    ],
)
def test_dataset_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_dataset(_corpus(), **kwargs)


@pytest.mark.parametrize("source", ["apple", "avengers"])
def test_real_dataset_strict_has_no_tags_and_no_shared_texts(data_home, source):
    data = build_dataset(source, top_k=10, data_home=data_home, seed=0)
    splits = {"train": data.train_texts, "val": data.val_texts, "test": data.test_texts}
    for texts in splits.values():
        assert all(extract_hashtags(text) == [] for text in texts)
        assert all(text and text == text.lower() for text in texts)
    assert not set(data.train_texts) & set(data.test_texts)
    assert not set(data.train_texts) & set(data.val_texts)
    assert not set(data.val_texts) & set(data.test_texts)
    total = sum(len(texts) for texts in splits.values())
    assert 0.75 < len(data.train_texts) / total < 0.85
    assert data.Y_train.shape == (len(data.train_texts), 10)


def test_real_dataset_tagfinder_keeps_mid_text_tags(data_home):
    strict = build_dataset("avengers", data_home=data_home)
    leaky = build_dataset("avengers", leakage="tagfinder", data_home=data_home)
    words = {word for text in leaky.train_texts for word in text.split()}
    assert "avengersendgame" in words
    assert not any("avengersendgame" in text.split() for text in strict.train_texts)


# -------------------------------------------------------------------------- keyword-set features
TRAIN = ["apple banana apple", "banana cherry", "cherry date egg"]
TRAIN_TAGS = [["fruit"], ["fruit", "red"], ["red"]]
# By hand, n = 3 tweets:
#   df:   apple 1, banana 2, cherry 2, date 1, egg 1  -> idf ln3, ln1.5, ln1.5, ln3, ln3
#   co-occurrence (distinct other words, summed over tweets): apple 1, banana 2, cherry 3, date 2, egg 2
#   total count: apple 2, banana 2, cherry 2, date 1, egg 1
LN3, LN15 = math.log(3), math.log(1.5)


def _featurizer(**kwargs) -> KeywordSetFeaturizer:
    settings = {"n_thematic": 10, "n_relevant": 10, "hashing": False}
    settings.update(kwargs)
    return KeywordSetFeaturizer(**settings).fit(TRAIN, TRAIN_TAGS)


def test_hand_words_are_not_stop_words():
    words = "apple banana cherry date egg zebra good win great bad loss awful movie".split()
    assert not set(words) & features.STOP_WORDS


def test_f1_f2_term_frequency():
    f = _featurizer().transform(["apple banana apple"])[0]
    # positions apple, banana, apple -> X1 = (2, 1, 2): mean 5/3, variance 9/3 - 25/9 = 2/9
    assert f[0] == pytest.approx(5 / 3)
    assert f[1] == pytest.approx(2 / 9)


def test_f3_f4_idf_with_unseen_word():
    f = _featurizer().transform(["apple banana apple", "cherry zebra"])
    # X2 = (ln3, ln1.5, ln3): mean (2 ln3 + ln1.5)/3, variance (2/3)(1/3)(ln3 - ln1.5)^2 = (2/9) ln(2)^2
    assert f[0, 2] == pytest.approx((2 * LN3 + LN15) / 3)
    assert f[0, 3] == pytest.approx(2 / 9 * math.log(2) ** 2)
    # unseen `zebra` gets ln(n + 1) = ln4: X2 = (ln1.5, ln4)
    assert f[1, 2] == pytest.approx((LN15 + math.log(4)) / 2)
    assert f[1, 3] == pytest.approx(((math.log(4) - LN15) / 2) ** 2)
    assert f[1, 0] == 1 and f[1, 1] == 0


def test_f5_f6_thematic_scores():
    f = _featurizer().transform(["apple banana apple", "cherry zebra"])
    # X3 = co-occurrence / 3: apple 1/3, banana 2/3 -> (1/3, 2/3, 1/3): mean 4/9, variance (2/9)(1/3)^2
    assert f[0, 4] == pytest.approx(4 / 9)
    assert f[0, 5] == pytest.approx(2 / 81)
    # cherry 1, zebra 0 -> mean 1/2, variance 1/4
    assert f[1, 4] == pytest.approx(0.5)
    assert f[1, 5] == pytest.approx(0.25)


def test_f7_f8_relevance_by_frequency():
    f = _featurizer().transform(["apple banana apple", "date cherry cherry"])
    # X4 = total count / 2: apple 1, banana 1 -> mean 1, variance 0
    assert f[0, 6] == pytest.approx(1.0)
    assert f[0, 7] == pytest.approx(0.0)
    # date 1/2, cherry 1, cherry 1 -> mean 5/6, variance (1/4 + 1 + 1)/3 - 25/36 = 1/18
    assert f[1, 6] == pytest.approx(5 / 6)
    assert f[1, 7] == pytest.approx(1 / 18)


def test_top_n_keeps_only_best_words_with_alphabetical_ties():
    model = _featurizer(n_thematic=2, n_relevant=1)
    # co-occurrence: cherry 3, then banana/date/egg tie at 2 -> banana (alphabetical)
    assert model.thematic_words_ == ["banana", "cherry"]
    # total count: apple/banana/cherry tie at 2 -> apple
    assert model.relevant_words_ == ["apple"]
    f = model.transform(["date egg", "banana cherry"])
    assert f[0, 4] == 0 and f[0, 6] == 0
    assert f[1, 4] == pytest.approx((2 / 3 + 1) / 2)  # banana 2/3, cherry 3/3
    assert f[1, 6] == pytest.approx(0.0)


def test_relevance_chi2_against_tags():
    texts = ["good win movie", "good win great movie", "bad loss movie", "bad loss awful movie"]
    tags = [["pos"], ["pos"], ["neg"], ["neg"]]
    model = KeywordSetFeaturizer(relevance="chi2", n_relevant=4, hashing=False).fit(texts, tags)
    raw = dict(zip(sorted(model.vocabulary_, key=model.vocabulary_.get), model.relevance_raw_, strict=True))
    # `good`: 2 occurrences, all in the half of tweets tagged pos: expected 1 and 1, observed 2 and 0
    #  -> (2-1)^2/1 + (0-1)^2/1 = 2; `great`: 1 occurrence -> 0.5 + 0.5 = 1; `movie` even -> 0
    assert raw["good"] == pytest.approx(2.0)
    assert raw["great"] == pytest.approx(1.0)
    assert raw["movie"] == pytest.approx(0.0)
    assert model.relevant_words_ == ["bad", "good", "loss", "win"]
    assert model.transform(["good movie"])[0, 6] == pytest.approx(0.5)  # X4 = (1, 0)


def test_empty_and_stop_word_tweets_give_zeros():
    out = KeywordSetFeaturizer().fit(TRAIN, TRAIN_TAGS).transform(["", "#onlytag", "the a an"])
    assert out.shape[0] == 3 and out.shape[1] >= 9
    assert np.all(np.isfinite(out))
    assert np.all(out == 0)


def test_hashing_off_gives_eight_columns_and_extended_adds_tfidf_bag():
    assert _featurizer().transform(["apple"]).shape == (1, 8)
    model = _featurizer(hashing=True, extended=True)
    out = model.transform(["apple banana apple", "zebra"])
    assert sp.issparse(out) and out.shape == (2, 9 + 5)
    assert len(model.get_feature_names_out()) == out.shape[1]
    bag = out[:, 9:].toarray()
    # apple: tf 2 * ln3, banana: 1 * ln1.5, L2-normalized; unseen words have no column
    expected = np.array([2 * LN3, LN15]) / math.hypot(2 * LN3, LN15)
    assert bag[0, :2] == pytest.approx(expected)
    assert np.all(bag[1] == 0)


def _separable() -> tuple[list[str], list[list[str]]]:
    """Tag `loud` tweets repeat one word (X1 = 3), tag `calm` tweets have three distinct words."""
    texts, tags = [], []
    for i in range(40):
        texts.append(f"w{i}a w{i}a w{i}a")
        tags.append(["loud"])
        texts.append(f"w{i}b w{i}c w{i}d")
        tags.append(["calm"])
    return texts, tags


def _repeats(n: int, rng: np.random.Generator, first_id: int = 0) -> tuple[list[str], list[list[str]]]:
    """Tweets of common and one-off words; tag `rep` (half, at random) when a word is repeated."""
    texts, tags = [], []
    for i in range(n):
        n_common = int(rng.integers(0, 4))
        words = [f"c{j}" for j in rng.integers(0, 4, size=n_common)]
        words = list(dict.fromkeys(words + [f"r{first_id + i}x{j}" for j in range(3 - n_common)]))
        repeated = bool(rng.random() < 0.5)
        if repeated:
            words.append(words[0])
        rng.shuffle(words)
        texts.append(" ".join(words))
        tags.append(["rep" if repeated else "plain"])
    return texts, tags


def _separation(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve, folded so that 1 is perfect separation either way round."""
    auc = roc_auc_score(positive, scores)
    return max(auc, 1 - auc)


def test_f9_learns_tags_and_is_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    texts, tags = _repeats(300, rng)
    test_texts, test_tags = _repeats(200, rng, first_id=1000)
    positive = np.array([t == ["rep"] for t in test_tags])
    # The fit must leave the legacy global numpy state alone too, so the check reads it.
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()  # noqa: NPY002
    model = KeywordSetFeaturizer(random_state=0).fit(texts, tags)
    assert torch.equal(torch.random.get_rng_state(), torch_state)  # no global state touched
    assert np.array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002
    assert model.lstm_.lstm.num_layers >= 2 and model.lstm_.lstm.batch_first
    f9 = model.transform(test_texts)[:, 8]
    assert np.all(np.isfinite(f9))
    untrained = KeywordSetFeaturizer(random_state=0, epochs=0, min_steps=0).fit(texts, tags)
    assert _separation(untrained.transform(test_texts)[:, 8], positive) < 0.8
    assert _separation(f9, positive) > 0.95  # what the score learned from the training tags
    same = KeywordSetFeaturizer(random_state=0).fit(texts, tags)
    other = KeywordSetFeaturizer(random_state=1).fit(texts, tags)
    assert np.array_equal(same.transform(test_texts)[:, 8], f9)
    assert not np.allclose(other.transform(test_texts)[:, 8], f9)
    for name, value in same.lstm_.state_dict().items():
        assert torch.equal(value, model.lstm_.state_dict()[name])


def test_f9_fitted_on_training_texts_only():
    texts, tags = _separable()
    model = KeywordSetFeaturizer(random_state=0).fit(texts[:60], tags[:60])
    weights = {name: value.clone() for name, value in model.lstm_.state_dict().items()}
    unseen = ["z1 z1 z1 z1", "q1 q2", "apple banana apple"]
    alone = model.transform(unseen[:1])
    together = model.transform(unseen + texts[60:])
    assert np.allclose(alone[0], together[0])  # a tweet's features do not depend on its batch
    for name, value in model.lstm_.state_dict().items():
        assert torch.equal(value, weights[name])  # transform does not train
    refit = KeywordSetFeaturizer(random_state=0).fit(texts[:60], tags[:60])
    assert np.array_equal(refit.transform(unseen), model.transform(unseen))


@pytest.mark.parametrize("target", ["top_tag", "reconstruct"])
def test_other_hashing_targets(target):
    texts, tags = _separable()
    model = KeywordSetFeaturizer(hashing_target=target, min_steps=20).fit(
        texts, tags if target == "top_tag" else None
    )
    f9 = model.transform(texts[:10] + [""])[:, 8]
    assert np.all(np.isfinite(f9)) and f9[-1] == 0 and np.ptp(f9[:10]) > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"relevance": "tfidf"}, "'tfidf'"),
        ({"hashing_target": "sentiment"}, "'sentiment'"),
        ({"num_layers": 1}, "num_layers"),
        ({"leakage": "all"}, "'all'"),
    ],
)
def test_featurizer_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KeywordSetFeaturizer(**kwargs).fit(TRAIN, TRAIN_TAGS)


def test_featurizer_input_errors():
    with pytest.raises(ValueError, match="tags are needed"):
        KeywordSetFeaturizer().fit(TRAIN)
    with pytest.raises(ValueError, match="all empty"):
        KeywordSetFeaturizer().fit(TRAIN, [[], [], []])
    with pytest.raises(ValueError, match="one entry per text"):
        KeywordSetFeaturizer().fit(TRAIN, [["a"]])
    with pytest.raises(ValueError, match="no words"):
        KeywordSetFeaturizer(hashing=False).fit(["the", ""])
    with pytest.raises(NotFittedError):
        KeywordSetFeaturizer().transform(TRAIN)


def test_featurizer_is_a_scikit_learn_transformer():
    texts, tags = _separable()
    labels = [t[0] for t in tags]
    model = make_pipeline(KeywordSetFeaturizer(min_steps=20), LogisticRegression())
    assert model.fit(texts, labels).score(texts, labels) > 0.9  # X1 alone separates the classes
    params = KeywordSetFeaturizer(n_thematic=7).get_params()
    assert params["n_thematic"] == 7
    assert clone(KeywordSetFeaturizer(epochs=1)).epochs == 1


def test_features_on_real_split_are_finite(data_home):
    data = build_dataset("avengers", top_k=10, exclude_collection_tag=True, data_home=data_home)
    model = KeywordSetFeaturizer().fit(data.train_texts, data.train_tags)
    for texts in (data.train_texts, data.test_texts):
        out = model.transform(texts)
        assert out.shape == (len(texts), 9)
        assert np.all(np.isfinite(out))
    assert np.std(model.transform(data.test_texts), axis=0).min() > 0


@pytest.mark.parametrize("hashing", [True, False])
def test_featurizer_state_round_trip_and_refusals(hashing):
    import json

    texts = ["apple pie is good", "banana split great", "apple phone battery", "cherry banana",
             "apple cherry tasty", "new phone good"] * 5
    tags = [["a"], ["b"], ["a"], ["c"], ["a", "c"], ["a"]] * 5
    featurizer = KeywordSetFeaturizer(hashing=hashing, min_steps=20, hidden_size=4).fit(texts, tags)
    state, arrays = featurizer.get_state()
    state = json.loads(json.dumps(state))  # JSON-able
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    again = KeywordSetFeaturizer.from_state(state, arrays)
    np.testing.assert_array_equal(again.transform(texts[:7]), featurizer.transform(texts[:7]))
    assert again.get_params() == featurizer.get_params()
    with pytest.raises(ValueError, match="array 'idf'"):
        KeywordSetFeaturizer.from_state(state, dict(arrays, idf=arrays["idf"][:-1]))
    with pytest.raises(ValueError, match="vocabulary"):
        KeywordSetFeaturizer.from_state(dict(state, vocabulary=[]), arrays)
    with pytest.raises(ValueError, match="hashing"):
        KeywordSetFeaturizer.from_state(dict(state, params=dict(state["params"], hashing=not hashing)), arrays)
    if hashing:
        bad = dict(arrays, **{"lstm.score.weight": np.zeros((1, 5), dtype=np.float32)})
        with pytest.raises(ValueError, match="lstm.score.weight"):
            KeywordSetFeaturizer.from_state(state, bad)
