"""Baselines: each must beat the frequency ranking on a keyword-determined corpus; shared pieces."""

import os
import sys

import numpy as np
import pytest
import torch
from sklearn.base import clone

from networks import baselines
from networks.baselines import idf_bce_weights
from networks.baselines.text import UNK, Vocabulary, load_word_vectors
from networks.metrics import ranking_metrics

KEYWORDS = ["apple", "banana", "cherry", "delta"]  # keyword i in a text <=> tag i


def make_corpus(n, seed):
    """Texts of filler words with 1-2 keywords inserted; tag frequencies are unbalanced."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(60)]
    texts, Y = [], np.zeros((n, len(KEYWORDS)), dtype=int)
    for i in range(n):
        words = list(rng.choice(filler, size=rng.integers(4, 10)))
        for t in set(rng.choice(4, size=rng.integers(1, 3), p=[0.5, 0.25, 0.15, 0.1]).tolist()):
            words.insert(rng.integers(0, len(words) + 1), KEYWORDS[t])
            Y[i, t] = 1
        texts.append(" ".join(words))
    return texts, Y


TRAIN, VAL, TEST = make_corpus(300, 0), make_corpus(100, 1), make_corpus(200, 2)


def map3(model):
    return ranking_metrics(TEST[1], model.predict_proba(TEST[0]), ks=(3,))["map@3"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run faster on one thread, and much faster when other jobs share the 2 cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def frequency_map3():
    return map3(baselines.get("frequency").fit(*TRAIN))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A tiny randomly initialised BERT and a WordPiece vocabulary, saved locally (nothing downloaded)."""
    transformers = pytest.importorskip("transformers")
    d = tmp_path_factory.mktemp("tiny_bert")
    words = sorted({w for t in TRAIN[0] for w in t.split()})
    vocab = d / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizerFast(str(vocab)).save_pretrained(str(d))  # positional: v4 and v5
    config = transformers.BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        vocab_size=len(words) + 5,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        transformers.BertModel(config).save_pretrained(str(d))
    return str(d)


TINY = {
    "tfidf-lr": {},
    "fasttext": dict(embed_dim=16, buckets=1024, epochs=30, batch_size=32),
    "lstm": dict(embed_dim=16, hidden_size=16, epochs=30, batch_size=32),
    "text-resnet": dict(embed_dim=16, channels=(16, 16, 32, 32), epochs=30, batch_size=32, blocks_per_stage=1),
}


@pytest.mark.parametrize(
    "name, params",
    [*TINY.items(), ("tfidf-lr", dict(strategy="label-powerset")), ("lstm", dict(TINY["lstm"], loss="idf-bce"))],
    ids=[*TINY, "tfidf-lr-powerset", "lstm-idf-bce"],
)
def test_baseline_beats_frequency(name, params, frequency_map3):
    model = baselines.get(name, **params).fit(*TRAIN, *VAL)
    scores = model.predict_proba(TEST[0])
    assert scores.shape == TEST[1].shape and np.isfinite(scores).all()
    assert map3(model) > frequency_map3 + 0.1


@pytest.mark.parametrize(
    "params",
    [
        dict(mode="frozen", pooling="mean", epochs=100, lr=0.05, patience=10),
        dict(mode="finetune", lr=3e-3, epochs=4, batch_size=16),
    ],
    ids=["frozen", "finetune"],
)
def test_bert_beats_frequency(bert_dir, params, frequency_map3):
    model = baselines.get("bert", model_dir=bert_dir, **params).fit(*TRAIN, *VAL)
    assert map3(model) > frequency_map3 + 0.1


def test_bert_frozen_keeps_encoder_weights(bert_dir):
    transformers = pytest.importorskip("transformers")
    before = transformers.AutoModel.from_pretrained(bert_dir, local_files_only=True).state_dict()
    model = baselines.get("bert", model_dir=bert_dir, epochs=2).fit(*TRAIN)
    after = model.encoder_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not p.requires_grad for p in model.encoder_.parameters())


def test_bert_without_tokenizer_files_falls_back_with_warning(bert_dir, tmp_path):
    for f in ("config.json", "model.safetensors"):
        os.symlink(os.path.join(bert_dir, f), tmp_path / f)
    with pytest.warns(UserWarning, match="whitespace vocabulary"):
        model = baselines.get("bert", model_dir=str(tmp_path), pooling="mean", epochs=1).fit(*TRAIN)
    assert model.predict_proba(TEST[0][:3]).shape == (3, 4)


def test_bert_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="model_dir"):
        baselines.get("bert", model_dir=str(tmp_path)).fit(*TRAIN)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"scpo\[bert\]"):
        baselines.get("bert", model_dir=str(tmp_path)).fit(*TRAIN)


def test_registry_and_sklearn_params():
    assert baselines.names() == ["frequency", "tfidf-lr", "fasttext", "lstm", "text-resnet", "bert"]
    for name in baselines.names():
        est = baselines.get(name)
        assert clone(est).get_params() == est.get_params()
    with pytest.raises(ValueError, match="'nope'"):
        baselines.get("nope")
    with pytest.raises(ValueError, match="hidden"):
        baselines.get("frequency", hidden=3)


def test_frequency_scores_are_training_frequencies():
    model = baselines.get("frequency").fit(*TRAIN)
    scores = model.predict_proba(["anything", "apple"])
    np.testing.assert_allclose(scores, np.tile(TRAIN[1].mean(axis=0), (2, 1)))
    assert model.predict(["x"], k=2).tolist() == [[1, 1, 0, 0]]


def test_tfidf_fitted_on_training_texts_and_C_chosen_on_validation():
    val_texts = [t + " zzzvalonly" for t in VAL[0]]
    model = baselines.get("tfidf-lr", Cs=(0.01, 10.0)).fit(TRAIN[0], TRAIN[1], val_texts, VAL[1])
    assert not any("zzzvalonly" in term for term in model.vectorizer_.vocabulary_)
    assert "apple" in model.vectorizer_.vocabulary_ and any(" " in t for t in model.vectorizer_.vocabulary_)
    assert set(model.validation_scores_) == {0.01, 10.0} and model.C_ == 10.0
    assert baselines.get("tfidf-lr", C=0.5).fit(*TRAIN).C_ == 0.5


def test_label_powerset_scores_are_tag_marginals():
    model = baselines.get("tfidf-lr", strategy="label-powerset").fit(*TRAIN)
    scores = model.predict_proba(TEST[0])
    assert ((scores >= 0) & (scores <= 1 + 1e-9)).all()
    # marginals of a distribution over tag sets with 1-2 tags sum to between 1 and 2
    assert ((scores.sum(axis=1) > 1 - 1e-9) & (scores.sum(axis=1) < 2 + 1e-9)).all()


def test_idf_bce_weights_from_training_labels_only():
    Y = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 0, 0]])
    counts, total = np.array([4, 1, 1]), 6
    idf = np.log(total / counts)
    np.testing.assert_allclose(idf_bce_weights(Y), idf / idf.max())
    Y_val = np.ones_like(VAL[1])  # a different distribution must not change the weights
    model = baselines.get("lstm", **dict(TINY["lstm"], epochs=1), loss="idf-bce").fit(TRAIN[0], TRAIN[1], VAL[0], Y_val)
    np.testing.assert_allclose(model.loss_weights_, idf_bce_weights(TRAIN[1]))


def test_seeded_reproducible_and_no_global_rng_change():
    params = dict(TINY["lstm"], epochs=3)
    global_np_state = np.random.get_state  # noqa: NPY002 - checking the legacy global state is untouched
    torch_state, np_state = torch.get_rng_state(), global_np_state()[1].copy()
    a = baselines.get("lstm", **params).fit(*TRAIN, *VAL).predict_proba(TEST[0])
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(global_np_state()[1], np_state)
    b = baselines.get("lstm", **params).fit(*TRAIN, *VAL).predict_proba(TEST[0])
    c = baselines.get("lstm", **params, seed=1).fit(*TRAIN, *VAL).predict_proba(TEST[0])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_early_stopping_restores_best_weights():
    model = baselines.get("fasttext", **dict(TINY["fasttext"], lr=0.3, patience=2)).fit(*TRAIN, *VAL)
    val_losses = [h["val_loss"] for h in model.history_]
    assert model.best_epoch_ == int(np.argmin(val_losses)) + 1
    p = np.clip(model.predict_proba(VAL[0]), 1e-7, 1 - 1e-7)
    bce = -np.mean(VAL[1] * np.log(p) + (1 - VAL[1]) * np.log(1 - p))
    assert bce == pytest.approx(min(val_losses), rel=1e-3)


def test_lstm_is_batch_first_with_left_padding():
    model = baselines.get("lstm", **dict(TINY["lstm"], epochs=1, max_len=6)).fit(*TRAIN)
    assert model.module_.lstm.batch_first
    ids = model.vocab_.encode(["apple banana", "w1 w2 w3 w4 w5 w6 w7"], 6, padding="left")
    assert ids[0, :4].tolist() == [0, 0, 0, 0] and ids[0, 4] > UNK and (ids[1] > 0).all()
    # a text's scores must not depend on the other texts in its batch (the study's bug mixed them)
    alone = model.predict_proba([TEST[0][0]])
    np.testing.assert_allclose(model.predict_proba(TEST[0][:5])[:1], alone, rtol=1e-5, atol=1e-6)


def test_vocabulary_from_training_texts_only():
    vocab = Vocabulary().fit(["b a a", "c a b"])
    assert vocab.tokens_ == ["<pad>", "<unk>", "a", "b", "c"]
    assert vocab.ids("a unseen") == [2, UNK]
    lstm = baselines.get("lstm", **dict(TINY["lstm"], epochs=1))
    model = lstm.fit(TRAIN[0], TRAIN[1], ["qqq " + VAL[0][0]], VAL[1][:1])
    assert "qqq" not in model.vocab_.index_


def test_text_resnet_word_vectors_and_widths(tmp_path):
    path = tmp_path / "vectors.txt"
    rows = {"apple": [1.0, 2.0, 3.0, 4.0], "banana": [-1.0, 0.5, 0.0, 2.0]}
    path.write_text("2 4\n" + "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items()))
    vocab = Vocabulary().fit(TRAIN[0])
    vectors, found = load_word_vectors(str(path), vocab)
    assert found.sum() == 2 and vectors[vocab.index_["apple"]].tolist() == rows["apple"]
    params = dict(TINY["text-resnet"], epochs=2, channels=(4, 4, 8, 8), word_vectors=str(path), embedding="both")
    model = baselines.get("text-resnet", **params).fit(*TRAIN)
    const = model.module_.constant_embedding.weight
    assert not const.requires_grad and const[model.vocab_.index_["apple"]].tolist() == rows["apple"]
    assert model.module_.fc.in_features == 8 and model.embed_dim_ == 4 and model.vectors_found_ == 2
    with pytest.raises(ValueError, match="word_vectors"):
        baselines.get("text-resnet", embedding="frozen").fit(*TRAIN)


def test_fasttext_hashes_bigrams_deterministically():
    model = baselines.get("fasttext", **dict(TINY["fasttext"], epochs=1)).fit(*TRAIN)
    feats = model._features("w1 apple")
    assert len(feats) == 3 and feats[:2] == [model.vocab_.index_["w1"], model.vocab_.index_["apple"]]
    assert feats[2] >= len(model.vocab_)
    assert baselines.get("fasttext", **dict(TINY["fasttext"], epochs=1)).fit(*TRAIN)._features("w1 apple") == feats


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is missing")
def test_cuda_requested_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="cuda"):
        baselines.get("lstm", device="cuda").fit(*TRAIN)


@pytest.mark.parametrize(
    "args, match",
    [
        (("apple pie", TRAIN[1]), "single string"),
        ((TRAIN[0], TRAIN[1][:10]), "rows"),
        ((TRAIN[0], TRAIN[1] * 2), "binary"),
        ((TRAIN[0], TRAIN[1], VAL[0], None), "together"),
        ((TRAIN[0], TRAIN[1], VAL[0], VAL[1][:, :2]), "label columns"),
    ],
)
def test_bad_fit_input(args, match):
    with pytest.raises(ValueError, match=match):
        baselines.get("frequency").fit(*args)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("lstm", dict(loss="focal"), "focal"),
        ("lstm", dict(epochs=0), "epochs"),
        ("tfidf-lr", dict(strategy="chains"), "chains"),
        ("text-resnet", dict(channels=()), "channels"),
        ("bert", dict(mode="half"), "half"),
    ],
)
def test_bad_parameters(name, params, match):
    if name == "bert":
        pytest.importorskip("transformers")
    with pytest.raises(ValueError, match=match):
        baselines.get(name, **params).fit(*TRAIN)


def tag_lists(Y):
    return [[KEYWORDS[j] for j in np.flatnonzero(row)] for row in Y]


ROUND_TRIP = {
    "frequency": ("frequency", {}),
    "tfidf-lr": ("tfidf-lr", {}),
    "tfidf-lr-powerset": ("tfidf-lr", dict(strategy="label-powerset")),
    "fasttext": ("fasttext", dict(TINY["fasttext"], epochs=2)),
    "lstm-idf-bce": ("lstm", dict(TINY["lstm"], epochs=2, loss="idf-bce")),
    "text-resnet": ("text-resnet", dict(TINY["text-resnet"], epochs=2)),
    "bert-frozen": ("bert", dict(mode="frozen", pooling="mean", epochs=2)),
    "bert-finetune": ("bert", dict(mode="finetune", epochs=1, batch_size=32)),
}


@pytest.mark.parametrize("case", list(ROUND_TRIP))
def test_every_baseline_saves_and_loads_with_identical_predictions(case, request, tmp_path):
    from networks import HashtagRecommender

    name, params = ROUND_TRIP[case]
    if name == "bert":
        params = dict(params, model_dir=request.getfixturevalue("bert_dir"))
    rec = HashtagRecommender(model=name, baseline_params=params, top_k_tags=4)
    rec.fit(TRAIN[0], tag_lists(TRAIN[1]), VAL[0], tag_lists(VAL[1]))
    loaded = HashtagRecommender.load(rec.save(tmp_path / case))
    assert loaded.model == name and loaded.classes_ == rec.classes_
    assert loaded.get_params() == rec.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(TEST[0]), rec.predict_proba(TEST[0]))
    assert loaded.recommend(TEST[0][:5], 2) == rec.recommend(TEST[0][:5], 2)
    state, arrays = rec.baseline_.get_state()  # the baseline's own state API, without the recommender
    again = baselines.get_class(name).from_state(state, arrays)
    np.testing.assert_array_equal(again.predict_proba(TEST[0]), rec.baseline_.predict_proba(TEST[0]))


def test_state_that_does_not_fit_is_refused_with_one_line():
    model = baselines.get("tfidf-lr").fit(*TRAIN)
    state, arrays = model.get_state()
    bad = dict(arrays, idf=arrays["idf"][:-1])
    with pytest.raises(ValueError, match="array 'idf'") as info:
        baselines.get_class("tfidf-lr").from_state(state, bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="class 'FrequencyTagger' is not TfidfLogisticTagger"):
        baselines.get_class("tfidf-lr").from_state(baselines.get("frequency").fit(*TRAIN).get_state()[0], arrays)
    lstm = baselines.get("lstm", **dict(TINY["lstm"], epochs=1)).fit(*TRAIN)
    state, arrays = lstm.get_state()
    state["vocab"] = state["vocab"][:-3]  # a vocabulary edited by hand: the embedding no longer fits
    with pytest.raises(ValueError, match="module.embedding.weight") as info:
        baselines.get_class("lstm").from_state(state, arrays)
    assert "\n" not in str(info.value)


def test_frozen_bert_refuses_a_changed_encoder(bert_dir, tmp_path):
    import shutil

    from networks import HashtagRecommender

    copy = tmp_path / "encoder"
    shutil.copytree(bert_dir, copy)
    rec = HashtagRecommender(model="bert", baseline_params=dict(model_dir=str(copy), epochs=1), top_k_tags=4)
    out = rec.fit(TRAIN[0], tag_lists(TRAIN[1])).save(tmp_path / "m")
    transformers = pytest.importorskip("transformers")
    with torch.random.fork_rng():
        torch.manual_seed(1)
        transformers.BertModel(transformers.BertConfig.from_pretrained(str(copy))).save_pretrained(str(copy))
    with pytest.raises(ValueError, match="not the one this model was trained with") as info:
        HashtagRecommender.load(out)
    assert "\n" not in str(info.value)
