"""Batch triage of question files: read JSONL, answer in embedding batches, write as it goes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .errors import BotError, InputError


def _read_jsonl(path: Path):
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"input file {path} not found") from None
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            yield n, obj, None
        except (UnicodeDecodeError, ValueError) as e:
            yield n, None, f"line {n}: {type(e).__name__}: {str(e)[:120]}"


def classify_jsonl(bot, infile: Path, outfile: Path, *, batch: int = 32, progress_console=None) -> dict:
    t0 = time.perf_counter()
    rows = errors = 0
    pending: list[tuple[str, str, str | None]] = []
    with Path(outfile).open("w", encoding="utf-8") as out:

        def flush():
            nonlocal rows, errors
            if not pending:
                return
            good = []
            for rid, q, p in pending:
                try:
                    bot.check_question(q)
                    if p is not None:
                        bot.scope(bot.analyzer.analyze(q), p)
                    good.append((rid, q, p))
                except BotError as e:
                    out.write(json.dumps({"id": rid, "error": str(e)}) + "\n")
                    rows += 1
                    errors += 1
            answers = bot.answer_many([(q, p) for _, q, p in good], check=False) if good else []
            for (rid, _, _), a in zip(good, answers):
                out.write(json.dumps({"id": rid, **a.to_dict()}, ensure_ascii=False) + "\n")
                rows += 1
            out.flush()
            pending.clear()

        for n, obj, problem in _read_jsonl(infile):
            if problem:
                out.write(json.dumps({"id": None, "error": problem}) + "\n")
                rows += 1
                errors += 1
                continue
            rid = str(obj.get("id", f"line-{n}"))
            q = obj.get("question") or obj.get("text") or ""
            pending.append((rid, str(q), obj.get("provider")))
            if len(pending) >= batch:
                flush()
        flush()
    return {"rows": rows, "errors": errors, "seconds": time.perf_counter() - t0, "out": str(outfile)}
