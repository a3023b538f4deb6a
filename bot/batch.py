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
    pending: list[tuple[str | None, str, str | None, str | None]] = []  # (id, question, provider, error)
    with Path(outfile).open("w", encoding="utf-8") as out:

        def flush():
            nonlocal rows, errors
            if not pending:
                return
            problems: dict[int, str] = {i: e for i, (_, _, _, e) in enumerate(pending) if e}
            for i, (rid, q, p, e) in enumerate(pending):
                if e:
                    continue
                try:
                    bot.check_question(q)
                    if p is not None:
                        bot.scope(bot.analyzer.analyze(q), p)
                except BotError as exc:
                    problems[i] = str(exc)
            good = [i for i in range(len(pending)) if i not in problems]
            answers = dict(zip(good, bot.answer_many([(pending[i][1], pending[i][2]) for i in good], check=False))) if good else {}
            for i, (rid, _, _, _) in enumerate(pending):  # input order is kept
                if i in problems:
                    out.write(json.dumps({"id": rid, "error": problems[i]}) + "\n")
                    errors += 1
                else:
                    out.write(json.dumps({"id": rid, **answers[i].to_dict()}, ensure_ascii=False) + "\n")
                rows += 1
            out.flush()
            pending.clear()

        for n, obj, problem in _read_jsonl(infile):
            if problem:
                pending.append((None, "", None, problem))
            else:
                rid = str(obj.get("id", f"line-{n}"))
                q = obj.get("question") or obj.get("text") or ""
                pending.append((rid, str(q), obj.get("provider"), None))
            if len(pending) >= batch:
                flush()
        flush()
    return {"rows": rows, "errors": errors, "seconds": time.perf_counter() - t0, "out": str(outfile)}
