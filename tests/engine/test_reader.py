"""The trained reader (bot.engine.reader, bot.engine.train): training cannot rot (a tiny run on
real data), the numpy model is the torch model it was trained as, the explain trace, and the
shipped model reproduces the figures of its card on validation (slow: the real model)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import REPO, silent

EVALS = REPO / "evals"
SHIPPED = REPO / "models" / "reader"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One epoch on 12 tickets per split with the hash embedder, two seeds: seconds, real code paths."""
    from bot.engine.config import EngineSettings
    from bot.engine.embed import HashEmbedder
    from bot.engine.train import TrainParams, collect, fit

    settings = EngineSettings(embedder="hash", corpus_dir=REPO / "corpus")
    emb = HashEmbedder()
    pairs = {s: collect(settings, EVALS, s, emb, limit=12) for s in ("train", "validation")}
    params = TrainParams(epochs=1, limit=12, members=2)
    return settings, emb, pairs, params, fit(pairs["train"], params)


def test_members_fitted_in_parallel_processes_equal_members_fitted_one_after_another(tiny):
    """The speed-up must not change the model: every member is seeded and single-threaded."""
    from bot.engine.train import fit

    _, _, pairs, params, parallel = tiny  # workers=0: one process per core
    serial = fit(pairs["train"], replace(params, workers=1))
    assert len(serial.members) == len(parallel.members) == 2
    for a, b in zip(serial.members, parallel.members):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_tiny_training_run_writes_a_model_that_loads_and_reads(tiny, tmp_path):
    from bot.engine.reader import ReaderModel, read
    from bot.engine.train import calibrate, score_pairs

    _, _, pairs, params, model = tiny
    assert pairs["train"] and pairs["validation"]
    threshold, why = calibrate(model, pairs["validation"], params)
    assert 0 < threshold < 1 and why
    model = replace(model, threshold=threshold)
    model.save(tmp_path / "reader")
    again = ReaderModel.load(tmp_path / "reader")
    assert again.threshold == threshold and len(again.members) == 2
    for p in pairs["validation"][:5]:
        a, b = read(model, p.cands), read(again, p.cands)
        assert a.verdict == b.verdict and abs(a.score - b.score) < 1e-5
    figs = score_pairs(again, pairs["validation"])
    assert set(figs) == {"pairs", "accuracy", "decided_precision", "escalated", "evidence_hit_at_3"}


def test_the_numpy_model_computes_what_the_torch_network_computes(tiny):
    import torch

    from bot.engine.reader import ReaderModel
    from bot.engine.train import _Net, _tensors

    _, _, pairs, params, _ = tiny
    torch.manual_seed(1)
    net = _Net(pairs["train"][0].cands.u.shape[1], params).eval()
    x_all = np.concatenate([p.cands.x for p in pairs["train"]])
    z_all = np.stack([p.cands.z for p in pairs["train"]])
    scale = {"x_mu": x_all.mean(0), "x_sd": x_all.std(0) + 1e-4, "z_mu": z_all.mean(0), "z_sd": z_all.std(0) + 1e-4}
    model = ReaderModel({**scale, **net.export()}, 0.5, {})
    for p in pairs["train"][:4]:
        x, z, u, q, _, _ = _tensors(p, scale, params)
        with torch.no_grad():
            rel, ver, null = net(x, z, u, q)
        rel2, ver2, null2 = model.forward(p.cands)
        assert np.allclose(rel.numpy(), rel2, atol=1e-4) and np.allclose(ver.numpy(), ver2, atol=1e-4)
        assert abs(float(null) - null2) < 1e-4


def test_an_ensemble_reads_the_average_of_its_members(tiny):
    """Two copies of one network read as that network; two different ones in between."""
    from bot.engine.reader import read

    *_, pairs, _, model = tiny
    one, twice = replace(model, others=()), replace(model, others=(model.arrays,))
    other = replace(model, arrays=model.others[0], others=())
    for p in pairs["validation"][:4]:
        a, b, c, both = read(one, p.cands), read(twice, p.cands), read(other, p.cands), read(model, p.cands)
        assert np.allclose(a.relevance, b.relevance) and np.allclose(a.verdicts, b.verdicts) and abs(a.score - b.score) < 1e-9
        assert np.allclose(both.relevance, (a.relevance + c.relevance) / 2, atol=1e-6)
        assert np.allclose(both.verdicts, (a.verdicts + c.verdicts) / 2, atol=1e-6)


def test_every_decided_label_finds_its_evidence_among_the_candidates(tiny):
    """Every unit of the vendor is a candidate, so the gold passage is always there."""
    _, _, pairs, _, _ = tiny
    decided = [p for s in pairs.values() for p in s if p.expected != "unknown"]
    assert decided and all(len(p.gold) > 0 for p in decided)


def test_a_reader_made_with_another_model_is_not_used(hash_env, tiny, caplog):
    from bot.engine.service import Bot

    _, _, _, _, model = tiny
    other = replace(model, meta={**model.meta, "model_id": "some-other-model"})
    with caplog.at_level("INFO", logger="bot.reader"):
        bot = Bot.open(hash_env.settings(auto_index=False), embedder=hash_env.embedder, notify=silent, reader=other)
    assert bot.reader is None and "rules engine alone" in caplog.text


def test_explain_shows_the_ask_the_candidates_and_why(hash_env, tiny):
    from bot.engine.service import Bot

    _, _, _, _, model = tiny
    bot = Bot.open(hash_env.settings(auto_index=False), embedder=hash_env.embedder, notify=silent,
                   reader=replace(model, meta={**model.meta, "model_id": hash_env.embedder.model_id}))
    exp = bot.explain("Is a third-party service mesh supported?")
    d = exp.to_dict()
    assert d["ask"]["text"] and {v["provider"] for v in d["vendors"]} == set(bot.providers)
    for v in d["vendors"]:
        assert v["verdict"] in ("covered", "best-effort", "not-covered", "unknown") and v["why"]
        assert v["rules"]["trace"] and v["reader"]["candidates"]
        c = v["reader"]["candidates"][0]
        assert c["dense_rank"] >= 1 and c["keyword_rank"] >= 1 and set(c["verdict_probs"]) == {"covered", "best-effort", "not-covered"}
        assert any(t.startswith("reader:") for t in v["trace"])
    assert json.dumps(d)  # plain JSON all the way down
    assert exp.answer.to_dict() == bot.answer("Is a third-party service mesh supported?").to_dict()


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "reader.npz").exists(), reason="no shipped reader")
def test_the_shipped_model_reproduces_its_card_on_validation(real_env):
    from bot.engine.reader import ReaderModel
    from bot.engine.train import collect, score_pairs

    model = ReaderModel.load(SHIPPED)
    card = model.meta["figures"]["validation"]["reader"]
    pairs = collect(real_env.settings(), EVALS, "validation", real_env.embedder)
    got = score_pairs(model, pairs)
    assert got["pairs"] == card["pairs"]
    for k in ("accuracy", "decided_precision", "escalated", "evidence_hit_at_3"):
        assert abs(got[k] - card[k]) <= 0.01, (k, got[k], card[k])
