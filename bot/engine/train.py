"""Training the reader (:mod:`bot.engine.reader`) from the labelled splits, reproducibly.

``train(settings, data_dir)`` runs four named steps: Step 1 reads the splits
(``<data>/train``, ``<data>/validation``); Step 2 answers every labelled (ticket, vendor) pair
with the rules engine over that split's corpus and turns every unit of the vendor into a
feature row (the same code the live reader uses); Step 3 fits the network (seeded, listwise:
the deciding unit against "no passage decides", plus the verdict read from the deciding unit);
Step 4 calibrates the abstention threshold on validation and writes the model and its metrics.

Corpus of a split: the seed vendors' tickets are answered from the project's corpus alone (what
users get); the other vendors' tickets from the corpus plus ``<data>/vendors/*`` and the split's
own ``<data>/<split>/vendors/*`` (a vendor only the test split knows).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import InputError
from .reader import ARRAYS, QUERY_FEATURES, RULE_QUERY, RULE_UNIT, UNIT_FEATURES, Candidates, ReaderModel, read

Notify = Callable[[str], None]
VERDICT_INDEX = {"covered": 0, "best-effort": 1, "not-covered": 2}


@dataclass(frozen=True)
class TrainParams:
    """Every knob of training, with the values the shipped model was made with."""

    seed: int = 0  # one seed for numpy, torch and the sample order: the same data gives the same model
    members: int = 5  # networks trained with seeds seed, seed+1, …; the reader averages their probabilities
    workers: int = 0  # processes fitting members at once (0: one per CPU core); each member's weights are the same either way
    epochs: int = 10  # passes over the training pairs
    hidden: int = 64  # width of the unit layer
    match_rank: int = 32  # rank of the learned match between ticket and unit embeddings
    ask_dims: int = 16  # size of the learned "kind of ask" read from the ticket's embedding
    lr: float = 1e-3  # AdamW learning rate
    weight_decay: float = 1e-2  # AdamW weight decay
    pairs_per_step: int = 16  # pairs whose losses are summed before one optimiser step
    rule_features: bool = True  # False: the reader alone, without what the rules engine read (ablation)
    target_precision: float = 0.95  # the threshold is the lowest reaching this decided precision on validation …
    max_escalated: float = 0.25  # … if that escalates at most this share; else, among the thresholds within
    accuracy_slack: float = 0.01  # this much of the best validation accuracy, the highest (the fewest wrong verdicts)
    limit: int | None = None  # read only this many items per split (the smoke test)


@dataclass
class Pair:
    """One labelled (ticket, vendor) pair, ready for the network."""

    item_id: str
    provider: str
    expected: str
    cands: Candidates
    gold: np.ndarray  # positions of the candidates holding the evidence
    rule_verdict: str
    quotes: list[str]  # each candidate's citable passage (for evidence hit@3)
    evidence: str | None


# -- Step 1: the labelled items ---------------------------------------------------------------


def load_split(folder: Path, limit: int | None = None) -> list[dict]:
    """Every item of ``folder/*.jsonl`` (see evals/SPEC.md), in file order."""
    files = sorted(Path(folder).glob("*.jsonl"))
    if not files:
        raise InputError(f"no labelled items in {folder}", hint="expected JSONL files as described in evals/SPEC.md")
    items = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return items[:limit] if limit else items


def corpora(items: list[dict], base: Path, data_dir: Path, split: str, tmp: Path) -> Iterator[tuple[list[dict], Path]]:
    """(items, corpus folder) groups: seed-vendor items with the base corpus, the rest with the
    written vendors added (see the module doc)."""
    seed_ids = {p.name for p in Path(base).iterdir() if p.is_dir()}
    seed = [it for it in items if it.get("provider") in (None, *seed_ids)]
    rest = [it for it in items if it.get("provider") not in (None, *seed_ids)]
    if seed:
        yield seed, Path(base)
    if rest:
        folder = tmp / f"corpus-{split}"
        shutil.copytree(base, folder)
        for extra in (data_dir / "vendors", data_dir / split / "vendors"):
            for d in sorted(p for p in extra.glob("*") if p.is_dir()):
                shutil.copytree(d, folder / d.name)
        yield rest, folder


# -- Step 2: feature rows -----------------------------------------------------------------------


def pairs_for(bot, items: list[dict]) -> list[Pair]:
    """Every in-scope (item, vendor) pair as reader candidates, gold positions and quotes."""
    out = []
    for it in items:
        vendors = {v.provider: v for v in bot.explain(it["question"], it.get("provider")).vendors}
        for p, expected in it["expected"].items():
            if p not in vendors:
                continue
            c, evidence = vendors[p].cands, it.get("evidence", {}).get(p)
            gold = _gold(bot, c, evidence) if expected != "unknown" else np.zeros(0, np.int64)
            out.append(Pair(it["id"], p, expected, c, gold, vendors[p].rule.verdict, [bot.unit_quote(int(i)) for i in c.ids], evidence))
    return out


def _gold(bot, c: Candidates, evidence: str | None) -> np.ndarray:
    """Positions of the units that overlap an occurrence of the evidence quote."""
    if not evidence:
        return np.zeros(0, np.int64)
    hits = []
    for k, ui in enumerate(c.ids):
        u = bot.index.units[ui]
        text = bot.index.docs[u.doc_id]["text"]
        at = text.find(evidence)
        while at >= 0:
            if u.start < at + len(evidence) and at < u.end:
                hits.append(k)
                break
            at = text.find(evidence, at + 1)
    return np.asarray(hits, dtype=np.int64)


def collect(settings, data_dir: Path, split: str, embedder, limit: int | None = None, notify: Notify = lambda m: None) -> list[Pair]:
    """Step 1 and 2 for one split: its items, answered over its corpora, as pairs."""
    from .service import Bot

    items = load_split(data_dir / split, limit)
    pairs: list[Pair] = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for group, corpus in corpora(items, settings.corpus_dir, data_dir, split, tmp):
            s = settings.model_copy(update={"corpus_dir": corpus, "index_dir": tmp / f"index-{corpus.name}", "auto_index": True,
                                            "max_question_chars": 1_000_000})
            bot = Bot.open(s, embedder=embedder, notify=notify, reader=False)
            try:
                pairs += pairs_for(bot, group)
            finally:
                bot.close()
    notify(f"{split}: {len(items)} tickets, {len(pairs)} (ticket, vendor) pairs")
    return pairs


# -- Step 3: fitting --------------------------------------------------------------------------


def fit(pairs: list[Pair], params: TrainParams) -> ReaderModel:
    """The reader: ``params.members`` networks of :class:`ReaderModel`, one per seed (see
    :func:`fit_one`); one seed's verdicts differ from the next's by a few points, their average less."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and the sums' order never depends on the machine
    try:
        nets = _fit_members(pairs, [replace(params, seed=params.seed + i) for i in range(params.members)], params.workers)
    finally:
        torch.set_num_threads(threads)
    meta = {"rule_features": params.rule_features, "unit_features": list(UNIT_FEATURES), "query_features": list(QUERY_FEATURES)}
    return ReaderModel(nets[0], 0.5, meta, tuple(nets[1:]))


_SHARED: list[Pair] = []  # the pairs a forked worker reads (inherited, never pickled: they are hundreds of MB)


def _fit_members(pairs: list[Pair], each: list[TrainParams], workers: int) -> list[dict[str, np.ndarray]]:
    """One network per entry of ``each``, several at once in forked processes when the machine
    has the cores: every member is seeded and single-threaded, so its weights do not depend on
    where it ran — only the wall time does (the members are most of ``triage train``)."""
    import multiprocessing
    import os

    n = min(len(each), workers or os.cpu_count() or 1)
    if n <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [fit_one(pairs, p) for p in each]
    _SHARED[:] = pairs
    try:
        with multiprocessing.get_context("fork").Pool(n) as pool:
            return pool.map(_fit_shared, each, chunksize=1)
    finally:
        _SHARED.clear()


def _fit_shared(params: TrainParams) -> dict[str, np.ndarray]:
    return fit_one(_SHARED, params)


def fit_one(pairs: list[Pair], params: TrainParams) -> dict[str, np.ndarray]:
    """The arrays of one network, in torch, trained listwise per pair; seeded."""
    import torch

    random.seed(params.seed)
    np.random.seed(params.seed)
    torch.manual_seed(params.seed)
    x_all = np.concatenate([p.cands.x for p in pairs])
    z_all = np.stack([p.cands.z for p in pairs])
    scale = {"x_mu": x_all.mean(0), "x_sd": x_all.std(0) + 1e-4, "z_mu": z_all.mean(0), "z_sd": z_all.std(0) + 1e-4}
    net = _Net(pairs[0].cands.u.shape[1], params)
    opt = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    data = [_tensors(p, scale, params) for p in pairs]
    order = list(range(len(data)))
    for _ in range(params.epochs):
        net.train()
        random.shuffle(order)
        for n, i in enumerate(order, 1):
            (_loss(net, *data[i]) / params.pairs_per_step).backward()
            if n % params.pairs_per_step == 0 or n == len(order):
                opt.step()
                opt.zero_grad()
    net.eval()
    arrays = {**{k: v.astype(np.float32) for k, v in scale.items()}, **net.export()}
    assert set(arrays) == set(ARRAYS)
    return arrays


def _tensors(p: Pair, scale: dict, params: TrainParams):
    import torch

    x, z = p.cands.x.copy(), p.cands.z.copy()
    if not params.rule_features:
        x[:, RULE_UNIT], z[RULE_QUERY] = 0, 0
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    target = -1 if p.expected == "unknown" or len(p.gold) == 0 else VERDICT_INDEX[p.expected]
    return (t((x - scale["x_mu"]) / scale["x_sd"]), t((z - scale["z_mu"]) / scale["z_sd"]), t(p.cands.u), t(p.cands.q),
            torch.tensor(p.gold, dtype=torch.long), target)


def _loss(net, x, z, u, q, gold, target):
    """−log P(the gold unit, or "none" for an undecided pair) + verdict cross-entropy on gold."""
    import torch

    rel, ver, null = net(x, z, u, q)
    logits = torch.cat([null.view(1), rel])
    lse = torch.logsumexp(logits, 0)
    if target < 0:
        return lse - logits[0]
    loss = lse - torch.logsumexp(logits[gold + 1], 0)
    return loss + torch.nn.functional.cross_entropy(ver[gold], torch.full((len(gold),), target))


def _Net(dim: int, params: TrainParams):
    """The torch twin of :meth:`ReaderModel.forward` (same layers, same order)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ask = nn.Linear(dim, params.ask_dims)
            self.proj = nn.Linear(dim, params.match_rank, bias=False)
            self.unit = nn.Linear(len(UNIT_FEATURES) + params.match_rank + params.ask_dims + len(QUERY_FEATURES), params.hidden)
            self.rel, self.ver = nn.Linear(params.hidden, 1), nn.Linear(params.hidden, 3)
            self.n1, self.n2 = nn.Linear(len(QUERY_FEATURES) + params.ask_dims, 32), nn.Linear(32, 1)
            self.drop_in, self.drop_h = nn.Dropout(0.1), nn.Dropout(0.2)

        def forward(self, x, z, u, q):
            ask = torch.tanh(self.ask(q))
            match = self.proj(q).unsqueeze(0) * self.proj(u)
            ticket = torch.cat([ask, z])
            h = self.drop_h(torch.relu(self.unit(self.drop_in(torch.cat([x, match, ticket.expand(len(x), -1)], 1)))))
            null = self.n2(torch.relu(self.n1(torch.cat([z, ask]))))
            return self.rel(h).squeeze(-1), self.ver(h), null.squeeze(-1)

        def export(self) -> dict[str, np.ndarray]:
            g = lambda m: m.weight.detach().numpy().T.copy()  # noqa: E731
            b = lambda m: m.bias.detach().numpy().copy()  # noqa: E731
            return {"w_ask": g(self.ask), "b_ask": b(self.ask), "w_proj": g(self.proj), "w1": g(self.unit), "b1": b(self.unit),
                    "w_rel": g(self.rel), "b_rel": b(self.rel), "w_ver": g(self.ver), "b_ver": b(self.ver),
                    "w_n1": g(self.n1), "b_n1": b(self.n1), "w_n2": g(self.n2), "b_n2": b(self.n2)}

    return Net()


# -- Step 4: calibration and figures ----------------------------------------------------------------


def score_pairs(model: ReaderModel, pairs: list[Pair], threshold: float | None = None) -> dict:
    """Accuracy, decided precision, escalated share, evidence hit@3 of the reader on ``pairs``."""
    m = model if threshold is None else replace(model, threshold=threshold)
    rows = []
    for p in pairs:
        r = read(m, p.cands)
        top = [p.quotes[int(i)] for i in r.order[:3]]
        rows.append((p.expected, r.verdict, p.evidence is not None and any(p.evidence in q for q in top)))
    return _figures(rows)


def _figures(rows: list[tuple[str, str, bool]]) -> dict:
    n = len(rows) or 1
    decided = [(e, g) for e, g, _ in rows if g != "unknown"]
    with_ev = [h for e, _, h in rows if e != "unknown"]
    return {
        "pairs": len(rows),
        "accuracy": sum(e == g for e, g, _ in rows) / n,
        "decided_precision": sum(e == g for e, g in decided) / len(decided) if decided else 0.0,
        "escalated": sum(g == "unknown" for _, g, _ in rows) / n,
        "evidence_hit_at_3": sum(with_ev) / len(with_ev) if with_ev else 0.0,
    }


def calibrate(model: ReaderModel, pairs: list[Pair], params: TrainParams) -> tuple[float, str]:
    """The lowest threshold reaching the target decided precision within the escalation
    budget; when none does, the highest threshold whose accuracy is within the slack of the
    best — as many right answers, as few confident wrong ones (and say which rule chose it)."""
    grid = [round(t, 2) for t in np.arange(0.05, 0.96, 0.05)]
    figs = {t: score_pairs(model, pairs, t) for t in grid}
    ok = [t for t in grid if figs[t]["decided_precision"] >= params.target_precision and figs[t]["escalated"] <= params.max_escalated]
    if ok:
        return ok[0], f"lowest threshold with decided precision ≥ {params.target_precision} and ≤ {params.max_escalated:.0%} escalated"
    best = max(figs[t]["accuracy"] for t in grid)
    chosen = max(t for t in grid if figs[t]["accuracy"] >= best - params.accuracy_slack)
    return chosen, (f"no threshold reaches decided precision {params.target_precision} within {params.max_escalated:.0%} escalated; "
                    f"the highest within {params.accuracy_slack} of the best validation accuracy")


# -- the whole run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainReport:
    model: ReaderModel
    threshold_rule: str
    figures: dict  # split -> reader figures (and "rules" figures of the rules engine alone)
    seconds: float


def rules_figures(pairs: list[Pair]) -> dict:
    """The rules engine alone on the same pairs (its evidence hit needs its citations, so
    only the verdict figures are comparable here)."""
    return _figures([(p.expected, p.rule_verdict, False) for p in pairs])


def train(settings, data_dir: Path, out_dir: Path | None, params: TrainParams = TrainParams(), *, embedder=None,
          notify: Notify = lambda m: None) -> TrainReport:
    """Step 1-4 (see the module doc); writes the model to ``out_dir`` unless it is None."""
    import time

    from .embed import get_embedder

    t0 = time.perf_counter()
    embedder = embedder or get_embedder(settings.embedder, settings.onnx_dir)
    notify("Step 1-2: reading the labelled splits and building candidates …")
    data = {split: collect(settings, data_dir, split, embedder, params.limit, notify) for split in ("train", "validation")}
    notify(f"Step 3: fitting the reader on {len(data['train'])} pairs ({params.epochs} epochs) …")
    model = fit(data["train"], params)
    notify("Step 4: calibrating the threshold on validation …")
    threshold, why = calibrate(model, data["validation"], params)
    model = replace(model, threshold=threshold, meta={**model.meta, "threshold_rule": why, "params": params.__dict__,
                                                       "model_id": embedder.model_id})
    figures = {s: {"reader": score_pairs(model, ps), "rules": rules_figures(ps)} for s, ps in data.items()}
    model = replace(model, meta={**model.meta, "figures": figures})
    if out_dir is not None:
        model.save(out_dir)
    return TrainReport(model, why, figures, time.perf_counter() - t0)
