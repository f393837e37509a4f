"""HashtagRecommender: fit / predict / recommend, save / load round trip, baselines, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from networks import HashtagRecommender

TOPICS = {
    "stocks": "market shares trading price investors earnings dividend nasdaq",
    "iphone": "phone screen battery camera upgrade ios display charger",
    "music": "song album itunes playlist band concert guitar lyrics",
}
FILLER = "today really think going new good great people time day".split()


def corpus(n=150, seed=0):
    """Texts whose words come mostly from their tag's topic; a few carry two tags."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    texts, tags = [], []
    for _ in range(n):
        t = int(rng.integers(len(names)))
        words = list(rng.choice(TOPICS[names[t]].split(), 4)) + list(rng.choice(FILLER, 2))
        tag = [names[t]]
        if rng.random() < 0.1:
            other = names[(t + 1) % len(names)]
            words += list(rng.choice(TOPICS[other].split(), 2))
            tag.append(other)
        rng.shuffle(words)
        texts.append(" ".join(words))
        tags.append(tag)
    return texts, tags


FAST = {"featurizer_params": {"min_steps": 100, "epochs": 1, "hidden_size": 8}, "num_threads": 1, "width": 4,
        "depth": 1}


@pytest.fixture(scope="module")
def data():
    texts, tags = corpus(180)
    return texts[:150], tags[:150], texts[150:], tags[150:]


@pytest.fixture(scope="module")
def fitted_scpo(data):
    texts, tags, _, _ = data
    return HashtagRecommender(max_evals=1500, pop_size=16, seed=0, **FAST).fit(texts, tags)


def test_fit_predict_recommend(fitted_scpo, data):
    _, _, test_texts, test_tags = data
    rec = fitted_scpo
    assert sorted(rec.classes_) == sorted(TOPICS)
    proba = rec.predict_proba(test_texts)
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    pred = rec.predict(test_texts)
    assert pred.shape == (30, 3) and np.all(pred.sum(axis=1) == 1)
    top = rec.recommend(test_texts, k=2)
    assert len(top) == 30 and all(len(r) == 2 and set(r) <= set(TOPICS) for r in top)
    assert top[0][0] == rec.classes_[int(np.argmax(proba[0]))]
    # nine summary features say little about the topic (f9 is the informative one): above chance (1/3)
    assert rec.score(test_texts, test_tags) > 0.4
    assert rec.score(*data[:2]) > 0.5
    assert rec.history_.method == "scpo" and rec.history_.best_loss < rec.history_.initial_loss
    assert rec.recommend([], 3) == [] and rec.predict_proba([]).shape == (0, 3)


def test_save_load_round_trip_identical(fitted_scpo, data, tmp_path):
    _, _, test_texts, _ = data
    out = fitted_scpo.save(tmp_path / "model")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "weights.safetensors"]  # no temp files left
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "scpo.HashtagRecommender" and config["classes"] == fitted_scpo.classes_
    loaded = HashtagRecommender.load(out)
    np.testing.assert_array_equal(loaded.predict_proba(test_texts), fitted_scpo.predict_proba(test_texts))
    assert loaded.recommend(test_texts, 3) == fitted_scpo.recommend(test_texts, 3)
    assert loaded.get_params() == fitted_scpo.get_params()
    assert loaded.history_.best_loss == fitted_scpo.history_.best_loss
    # saving again over the same directory replaces the files atomically
    fitted_scpo.save(out)
    assert HashtagRecommender.load(out).recommend(test_texts[:2], 1) == fitted_scpo.recommend(test_texts[:2], 1)


def test_load_refuses_bad_directories(tmp_path, fitted_scpo):
    with pytest.raises(ValueError, match="not found: not a saved HashtagRecommender directory"):
        HashtagRecommender.load(tmp_path)
    out = fitted_scpo.save(tmp_path / "m")
    (out / "weights.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        HashtagRecommender.load(out)
    (out / "config.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="is not a scpo.HashtagRecommender config"):
        HashtagRecommender.load(out)


def test_adam_multilabel_and_no_hashing(data, tmp_path):
    texts, tags, test_texts, test_tags = data
    rec = HashtagRecommender(optimizer="adam", multilabel=True, hashing=False, epochs=30, lr=0.02, seed=1,
                             **{k: v for k, v in FAST.items() if k != "featurizer_params"})
    rec.fit(texts, tags, test_texts, test_tags)
    assert rec.history_.method == "adam" and rec.network_.in_features == 8
    proba = rec.predict_proba(test_texts)
    assert proba.shape == (30, 3) and np.all((proba >= 0) & (proba <= 1))
    pred = rec.predict(test_texts)
    assert np.all(pred.sum(axis=1) >= 1)
    np.testing.assert_array_equal(pred, np.maximum(pred, (proba >= 0.5).astype(int)))
    loaded = HashtagRecommender.load(rec.save(tmp_path / "ml"))
    np.testing.assert_array_equal(loaded.predict_proba(test_texts), proba)


def test_reproducible_and_clonable(data):
    texts, tags, test_texts, _ = data
    params = dict(max_evals=300, pop_size=9, seed=3, top_k_tags=2, hashing=False, **{
        k: v for k, v in FAST.items() if k != "featurizer_params"})
    a = HashtagRecommender(**params).fit(texts, tags)
    b = clone(a).fit(texts, tags)
    assert len(a.classes_) == 2
    np.testing.assert_array_equal(a.predict_proba(test_texts), b.predict_proba(test_texts))


def test_baseline_model(data, tmp_path):
    texts, tags, test_texts, _ = data
    rec = HashtagRecommender(model="frequency").fit(texts, tags)
    proba = rec.predict_proba(test_texts)
    assert proba.shape == (30, 3) and np.allclose(proba, proba[0])  # the frequency ranking
    loaded = HashtagRecommender.load(rec.save(tmp_path / "freq"))
    assert loaded.model == "frequency" and loaded.classes_ == rec.classes_
    np.testing.assert_array_equal(loaded.predict_proba(test_texts), proba)


def test_bad_arguments(data):
    texts, tags, _, _ = data
    with pytest.raises(ValueError, match="model must be 'resnet' or one of"):
        HashtagRecommender(model="svm").fit(texts, tags)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        HashtagRecommender(optimizer="sgd").fit(texts, tags)
    with pytest.raises(ValueError, match="baseline trained its own way"):
        HashtagRecommender(model="frequency", optimizer="scpo").fit(texts, tags)
    with pytest.raises(ValueError, match="tags has 3 entries but there are 150 texts"):
        HashtagRecommender().fit(texts, tags[:3])
    with pytest.raises(ValueError, match="texts must be a sequence of strings, got a single string"):
        HashtagRecommender().fit("one text", [["x"]])
    with pytest.raises(ValueError, match="no tags in the training data"):
        HashtagRecommender().fit(texts, [[] for _ in texts])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        HashtagRecommender(model="frequency").fit(texts, tags).recommend(texts[:2], k=0)


def test_tags_default_to_the_hashtags_in_the_texts():
    texts = ["buy #AAPL now", "new #iphone screen", "#aapl shares up", "my #iphone battery", "hello world"]
    rec = HashtagRecommender(model="frequency").fit(texts)
    assert rec.classes_ == ["aapl", "iphone"] and rec.n_train_ == 4


def _resign(out):
    """Recompute the checksum, as someone editing the files on purpose would."""
    from networks.recommender import _digest

    config = json.loads((out / "config.json").read_text())
    config["sha256"] = _digest(config, (out / "weights.safetensors").read_bytes())
    (out / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("model", ["frequency", "tfidf-lr"])
def test_tampered_or_foreign_directories_are_refused_with_one_line(model, data, tmp_path):
    from safetensors.numpy import load, save

    texts, tags, test_texts, _ = data
    rec = HashtagRecommender(model=model).fit(texts, tags)
    out = rec.save(tmp_path / "m")
    config_text, weights = (out / "config.json").read_text(), (out / "weights.safetensors").read_bytes()

    def refused(match):
        with pytest.raises(ValueError, match=match) as info:
            HashtagRecommender.load(out)
        assert "\n" not in str(info.value)
        (out / "config.json").write_text(config_text)
        (out / "weights.safetensors").write_bytes(weights)

    config = json.loads(config_text)
    (out / "config.json").write_text(json.dumps(dict(config, version=1)))
    refused("format version 1; this code reads 2")
    (out / "config.json").write_text(json.dumps(dict(config, classes=config["classes"][::-1])))  # edited JSON
    refused("do not match their checksum")
    (out / "weights.safetensors").write_bytes(weights[: len(weights) // 2])  # truncated
    refused("not a readable safetensors file")
    arrays = load(weights)
    key = next(k for k in arrays if arrays[k].ndim == 1)
    (out / "weights.safetensors").write_bytes(save(dict(arrays, **{key: arrays[key][:-1]})))  # shapes mismatch
    _resign(out)
    refused(f"array '{key[len('baseline.'):]}'")
    del config["baseline"]
    (out / "config.json").write_text(json.dumps(config))
    _resign(out)
    refused("missing or malformed entry")
    assert HashtagRecommender.load(out).model == model  # the restored files still load


def test_resnet_with_mismatched_featurizer_is_refused(fitted_scpo, tmp_path):
    from safetensors.numpy import load, save

    out = fitted_scpo.save(tmp_path / "m")
    arrays = load((out / "weights.safetensors").read_bytes())
    arrays["featurizer.idf"] = arrays["featurizer.idf"][:-2]
    (out / "weights.safetensors").write_bytes(save(arrays))
    _resign(out)
    with pytest.raises(ValueError, match="featurizer state: array 'idf'") as info:
        HashtagRecommender.load(out)
    assert "\n" not in str(info.value)
