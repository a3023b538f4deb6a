"""Throughput of `triage classify` against the raw embedding model, in one process.

    .venv/bin/python evals/bench_batch.py [TICKETS] [--rounds 3] [--json] [--profile]

Loads the model and the index once (`Bot.open`), then, round after round (alternating which
goes first, so background load hits both alike):

* raw: ``SentenceTransformer.encode(texts, batch_size=B)`` on the ticket texts exactly as
  classify receives them (the readable rows of the file), for B = 32 and 64; the faster one
  is the bar;
* classify: the whole path of `triage classify` — reading and parsing the file, question
  extraction, embedding, retrieval, verdicts, writing and fsyncing the output — via
  ``bot.apps.batch.load`` + ``bot.apps.batch.classify`` into a temp file.

Both rates are over the same readable tickets. Other processes on the machine slow some
rounds down, so the headline figures are the best round of each (as ``timeit`` does) and the
ratio is best classify / best raw (the bar: ≥ 0.8); medians and per-round ratios are printed
too. ``--profile`` adds a cProfile of one classify run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _raw_encoder(embedder):
    """The floor: the embedder the bot answers with (ONNX Runtime by default, or
    sentence-transformers with BOT_EMBEDDER=minilm-torch), called raw on the whole file."""
    model = getattr(embedder, "_model", None)
    if model is not None:
        return lambda texts, bs: model.encode(texts, batch_size=bs, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return lambda texts, bs: embedder.embed(texts, batch_size=bs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tickets", nargs="?", default=str(ROOT / "evals" / "tickets.csv"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one classify run (stderr)")
    args = ap.parse_args()

    from bot.apps import batch
    from bot.runtime.config import Settings
    from bot.engine.service import Bot

    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    t = time.perf_counter()
    bot = Bot.open(Settings(), notify=log)
    if getattr(bot.embedder, "model_id", "hash").startswith("hash"):
        print("the benchmark needs the real model (BOT_EMBEDDER=minilm)", file=sys.stderr)
        return 2
    encode = _raw_encoder(bot.embedder)
    log(f"model and index loaded in {time.perf_counter() - t:.1f}s")
    tf = batch.load(Path(args.tickets))
    texts = [tk.text for tk in tf.tickets if not tk.error]
    n = len(texts)
    encode(texts[:32], 32)  # warm-up
    bot.answer_many([(x, None) for x in texts[:8]], check=False)

    def raw(bs: int) -> float:
        t0 = time.perf_counter()
        encode(texts, bs)
        return n / (time.perf_counter() - t0)

    def classify(out: Path) -> float:
        t0 = time.perf_counter()
        s = batch.classify(bot, batch.load(Path(args.tickets)), out)
        dt = time.perf_counter() - t0
        assert s["total_rows"] == len(tf.tickets) and s["answered"] == n, s
        return n / dt

    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "triaged.csv"
        for r in range(args.rounds):
            order = ["raw", "classify"] if r % 2 == 0 else ["classify", "raw"]
            got: dict[str, float] = {}
            for what in order:
                if what == "raw":
                    got["raw32"], got["raw64"] = raw(32), raw(64)
                else:
                    got["classify"] = classify(out)
            got["raw"] = max(got["raw32"], got["raw64"])
            got["ratio"] = got["classify"] / got["raw"]
            rounds.append(got)
            log(f"round {r + 1}: raw encode {got['raw']:.1f} tickets/s (b32 {got['raw32']:.1f}, b64 {got['raw64']:.1f}), "
                f"classify {got['classify']:.1f} tickets/s, ratio {got['ratio']:.2f}")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            classify(out)
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
            print(buf.getvalue(), file=sys.stderr)

    best = {k: max(x[k] for x in rounds) for k in ("raw", "raw32", "raw64", "classify")}
    med = {k: statistics.median(x[k] for x in rounds) for k in ("raw", "classify")}
    result = {
        "tickets_file": str(args.tickets),
        "rows": len(tf.tickets),
        "tickets": n,
        "rounds": args.rounds,
        "raw_encode_tickets_per_s": round(best["raw"], 2),
        "raw_encode_b32_tickets_per_s": round(best["raw32"], 2),
        "raw_encode_b64_tickets_per_s": round(best["raw64"], 2),
        "classify_tickets_per_s": round(best["classify"], 2),
        "ratio": round(best["classify"] / best["raw"], 3),
        "median_raw_tickets_per_s": round(med["raw"], 2),
        "median_classify_tickets_per_s": round(med["classify"], 2),
        "median_ratio": round(statistics.median(x["ratio"] for x in rounds), 3),
        "ratio_per_round": [round(x["ratio"], 3) for x in rounds],
        "torch_threads": __import__("torch").get_num_threads(),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"\nraw SentenceTransformer.encode: {result['raw_encode_tickets_per_s']:.1f} tickets/s (best of {args.rounds}; median {result['median_raw_tickets_per_s']:.1f})")
        print(f"triage classify (whole path):   {result['classify_tickets_per_s']:.1f} tickets/s (best of {args.rounds}; median {result['median_classify_tickets_per_s']:.1f})")
        print(f"ratio classify / raw:           {result['ratio']:.2f} (bar: 0.80; median of per-round ratios {result['median_ratio']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
