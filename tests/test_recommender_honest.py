"""Honest hashtag recommendations and metrics (issue 31, items 1, 2, 4, 5, 7).

The estimator reads texts without their tags, as ``scpo train`` does; the train JSON says which
model it holds and with which data settings; the frequency floor counts the model's own training
rows; degenerate data (one tag, a tiny test split) is refused or flagged; ``score`` takes the tags
from the texts as ``fit`` does. Corpora are small and synthetic, built here, so every test is fast.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from features import build_dataset, extract_hashtags, prepare_text
from networks.recommender import HashtagRecommender

RUNNING = ["marathon training this morning", "long marathon run in the rain", "new marathon shoes today",
           "ten miles before breakfast", "marathon pace felt easy", "race day marathon nerves",
           "track intervals and a marathon plan", "hill repeats for the marathon", "recovery run after the marathon",
           "marathon medal on the wall", "easy miles with the club", "marathon taper week"]
COFFEE = ["espresso shot at the cafe", "latte art this morning", "fresh beans from the roaster",
          "espresso before work", "cold brew on a hot day", "the cafe makes a great latte",
          "grinding beans for espresso", "flat white and a croissant", "pour over with new beans",
          "second espresso of the day", "latte with oat milk", "cafe down the street"]
CATS = ["my cat sleeps all day", "kitten chasing a string", "the cat knocked over a glass", "cat purring on my lap",
        "new toy for the kitten", "cat stares at the birds", "feeding the cat early", "the kitten climbed the curtain",
        "cat nap in the sun", "our cat hates the vet"]


def corpus(repeat: int = 1) -> list[str]:
    """Tweets whose words say their tag, with the tag written in the text (as real tweets have it)."""
    rows = [f"{t} #running" for t in RUNNING] + [f"{t} #coffee" for t in COFFEE] + [f"{t} #cats" for t in CATS]
    return [f"{t} {i}x" if i else t for i in range(repeat) for t in rows]


FAST = {"frequency": {}, "tfidf-lr": {},
        "fasttext": {"baseline_params": {"epochs": 15, "embed_dim": 16, "buckets": 1024, "lr": 0.05}},
        "resnet": {"optimizer": "adam", "epochs": 3, "num_threads": 1, "width": 4, "depth": 1,
                   "featurizer_params": {"min_steps": 20, "epochs": 1, "hidden_size": 8}}}


@pytest.fixture
def one_thread():
    """Tiny torch models train fastest on one thread (and a busy machine does not slow them)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("model", list(FAST))
def test_a_tag_in_the_query_is_not_recommended_for_being_there(model, one_thread):
    rec = HashtagRecommender(model=model, seed=0, **FAST[model]).fit(corpus())
    assert sorted(rec.classes_) == ["cats", "coffee", "running"]
    # every model reads a text with its tags as the text without them
    np.testing.assert_allclose(rec.predict_proba(["marathon #coffee", "#cats espresso #Running"]),
                               rec.predict_proba(["marathon", "espresso"]))
    if model in ("tfidf-lr", "fasttext"):  # models that learn these words from 34 tweets
        # the words say running (coffee); the tag written in the text must not decide
        assert rec.recommend(["marathon #coffee", "espresso #cats"], k=1) == [["running"], ["coffee"]]


@pytest.mark.parametrize("model", ["frequency", "tfidf-lr"])
def test_the_api_learns_from_the_texts_the_cli_prepares(model):
    """fit on raw tweets (tags taken from them) = fit on build_dataset's texts and tags (what `scpo train` fits)."""
    raw = corpus()
    data = build_dataset(raw, top_k=3, train_share=0.99, val_share=0.0, seed=0)
    assert all("#" not in t for t in data.train_texts)
    chosen = set(data.train_texts)
    raw_train = [t for t in raw if prepare_text(t) in chosen]
    api = HashtagRecommender(model=model, top_k_tags=3, validation_fraction=0).fit(raw_train)
    cli = HashtagRecommender(model=model, top_k_tags=3, validation_fraction=0).fit(data.train_texts, data.train_tags)
    assert api.classes_ == cli.classes_ and api.n_train_ == cli.n_train_
    np.testing.assert_allclose(api.predict_proba(raw), cli.predict_proba(raw))


def test_texts_that_are_only_tags_are_not_learned_from():
    rec = HashtagRecommender(model="frequency").fit([*corpus(), "#coffee #running", "#cats http://x.co/a"])
    assert rec.n_train_ == 34  # as build_dataset, which drops texts empty once prepared
    with pytest.raises(ValueError, match="every text is empty once its #tags"):
        HashtagRecommender(model="frequency").fit(["#coffee", "#running @someone"])


def test_leakage_is_a_checked_parameter():
    with pytest.raises(ValueError, match="leakage must be one of strict, tagfinder, got 'none'"):
        HashtagRecommender(model="frequency", leakage="none").fit(corpus())
    # tagfinder mode keeps mid-text tags as words, as build_dataset(leakage="tagfinder") does
    rec = HashtagRecommender(model="tfidf-lr", leakage="tagfinder").fit(corpus())
    assert rec._prepare(["a #marathon run #running"]) == [prepare_text("a #marathon run #running", "tagfinder")]


# ---------------------------------------------------------------------------- CLI helpers

def write_csv(path, texts):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    return path


def train(tmp_path, texts, *args):
    import cli as cli_module

    source = write_csv(tmp_path / "tweets.csv", texts)
    out = tmp_path / "m.json"
    result = CliRunner().invoke(cli_module.app, ["train", str(source), "--no-progress", "--json", str(out), *args])
    report = json.loads(out.read_text()) if result.exit_code == 0 else None
    return result, report


# ---------------------------------------------------------------------------- 2. the train JSON

def test_train_json_names_the_model_and_records_every_data_setting(tmp_path):
    result, report = train(tmp_path, corpus(4), "--model", "tfidf-lr", "--top-k", "3", "--text-column", "text",
                           "--train-share", "0.6", "--val-share", "0.1", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    assert report["model"] == "tfidf-lr"
    assert {"p@1", "ndcg@3", "micro_f1@top1"} <= set(report["metrics"]) <= set(report["frequency_metrics"])
    settings = {k: report[k] for k in ("source", "top_k", "exclude_collection_tag", "text_column", "train_share",
                                       "val_share", "leakage", "seed")}
    assert settings == {"source": str(tmp_path / "tweets.csv"), "top_k": 3, "exclude_collection_tag": False,
                        "text_column": "text", "train_share": 0.6, "val_share": 0.1, "leakage": "strict", "seed": 3}
    assert sorted(report["tags"]) == ["cats", "coffee", "running"]
    assert f"P@1 {report['metrics']['p@1']:.3f} (frequency {report['frequency_metrics']['p@1']:.3f})" \
        in result.stdout


# ---------------------------------------------------------------------------- 4. the floor counts the model's rows

def test_a_frequency_model_reports_the_same_metrics_as_its_floor(tmp_path):
    # running and coffee tie (48 tweets each): with seed 6, holding 10 % of the training rows out (as the floor
    # once did) reorders them and the floor read P@1 0.296 against the model's 0.222
    texts = [f"{t} {i}y" for i in range(4) for t in corpus()]
    result, report = train(tmp_path, texts, "--model", "frequency", "--top-k", "3", "--val-share", "0", "--seed", "6")
    assert result.exit_code == 0, result.stderr
    assert report["metrics"] == report["frequency_metrics"]


def test_a_baseline_without_validation_use_trains_on_all_its_rows():
    texts = corpus()  # 34 tagged texts
    assert HashtagRecommender(model="frequency").fit(texts).n_train_ == 34
    single_c = HashtagRecommender(model="tfidf-lr", baseline_params={"Cs": ()}).fit(texts)
    assert single_c.n_train_ == 34
    # a model that does select on validation data still holds validation_fraction out
    assert HashtagRecommender(model="tfidf-lr").fit(texts).n_train_ == 34 - 3


# ---------------------------------------------------------------------------- 5. degenerate data

def test_fewer_than_two_tags_are_refused_in_the_api():
    one_tag = [f"{t} #running" for t in RUNNING]
    with pytest.raises(ValueError, match=r"need at least 2 distinct tags to recommend from, got 1 \(#running") as err:
        HashtagRecommender(model="frequency").fit(one_tag)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="got 1 .*top_k_tags=1"):
        HashtagRecommender(model="tfidf-lr", top_k_tags=1).fit(corpus())


def test_fewer_than_two_tags_are_refused_by_the_cli(tmp_path):
    result, _ = train(tmp_path, [f"{t} {i} #running" for i in range(5) for t in RUNNING], "--model", "frequency")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "at least 2 tags" in result.stderr and "#running" in result.stderr
    result, _ = train(tmp_path, corpus(4), "--model", "frequency", "--top-k", "1")
    assert result.exit_code == 2 and "at least 2 tags" in result.stderr


def test_a_small_test_split_is_flagged_on_stderr_and_in_the_json(tmp_path):
    result, report = train(tmp_path, corpus(), "--model", "frequency", "--top-k", "10")  # 34 tagged tweets: 3-4 test
    assert result.exit_code == 0, result.stderr
    assert report["n_test"] < 30
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and f"only {report['n_test']} tweets" in warning[0]
    assert report["warnings"] == [warning[0].removeprefix("warning: ")]
    result, report = train(tmp_path, corpus(6), "--model", "frequency", "--train-share", "0.7")  # 61 test tweets
    assert result.exit_code == 0 and report["n_test"] >= 30
    assert report["warnings"] == [] and "warning:" not in result.stderr


# ---------------------------------------------------------------------------- 7. score takes the tags from the texts

def test_score_takes_the_tags_from_the_texts_as_fit_does():
    texts = corpus()
    rec = HashtagRecommender(model="tfidf-lr").fit(texts)
    tags = [extract_hashtags(t) for t in texts]
    assert rec.score(texts) == rec.score(texts, None) == rec.score(texts, tags) > 0.5
    # texts without a tag have nothing to be scored against: left out, as fit leaves them out
    assert rec.score([*texts, "no tag here"]) == rec.score(texts)
    with pytest.raises(ValueError, match="no text carries a #tag"):
        rec.score(["no tag here"])
