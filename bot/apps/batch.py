"""Batch triage: a ticket file in (CSV or JSONL), a verdict and a route per ticket out.

The verdicts come from the core (:meth:`bot.service.Bot.answer_many`); this module reads,
calls and writes. A chunk of tickets (and the separate questions of multi-question tickets)
goes to ``answer_many`` as one call, whose texts are embedded once each and in order of
length (:class:`LengthSorted`), so the model's batches carry little padding. Rows are written
in input order, flushed and fsynced after every chunk, so a crash loses at most the chunk in
flight and ``--resume`` carries on where the file ends.

Routes (one per ticket):

* every finding of the ticket's answer ``covered`` → ``vendor-support``; all ``best-effort`` →
  ``vendor-best-effort``; all ``not-covered`` → ``customer-responsibility``;
* ``human-review`` when the core escalates (a finding is ``unknown`` or below the confidence
  bar), when the providers in scope get different verdicts (the route would depend on which
  provider the customer is on, which the ticket does not say — give it a provider column to
  avoid this), when the ticket's separate questions get different verdicts, and for rows
  that could not be read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..engine.errors import InputError
from ..engine.tickets import Ticket, TicketFile, csv_records, format_of, jsonl_records, read_tickets
from ..engine.types import Answer, Finding

ROUTES = ("vendor-support", "vendor-best-effort", "customer-responsibility", "human-review")
ROUTE_OF = {"covered": "vendor-support", "best-effort": "vendor-best-effort", "not-covered": "customer-responsibility", "unknown": "human-review"}
VERDICT_ORDER = ("covered", "best-effort", "not-covered", "unknown", "mixed")

Progress = Callable[[int, int], None]


# -- output layout ---------------------------------------------------------------------------


@dataclass
class Layout:
    """Output columns: the input columns (one that clashes with an output field is renamed
    ``input_<name>``; in JSONL only when the values differ), then the verdict fields, ``line``
    last."""

    tf: TicketFile
    providers: list[str]
    fmt: str

    def __post_init__(self):
        self.fields = ["verdict", *(f"verdict_{p}" for p in self.providers), "confidence", "route", "top_citation", "note", "error", "line"]
        self.rename = {c: f"input_{c}" if c in self.fields else c for c in self.tf.columns}  # CSV; JSONL renames per row
        self.id_out = "id" if self.fmt == "jsonl" else self.rename[self.tf.id_col]

    @property
    def header(self) -> list[str]:
        return [self.rename[c] for c in self.tf.columns] + self.fields


# -- one ticket's result ---------------------------------------------------------------------


def _verdicts(ans: Answer, only: Sequence[str] | None = None) -> dict[str, str]:
    return {f.provider: f.verdict for f in ans.findings if only is None or f.provider in only}


def route_of(ans: Answer) -> str:
    verdicts = set(_verdicts(ans).values())
    if ans.escalate or len(verdicts) != 1:
        return "human-review"
    return ROUTE_OF[verdicts.pop()]


def _show(verdicts: dict[str, str]) -> str:
    vs = set(verdicts.values())
    return vs.pop() if len(vs) == 1 else ", ".join(f"{p}: {v}" for p, v in verdicts.items())


def _short(q: str, n: int = 90) -> str:
    q = " ".join(q.split())
    return q if len(q) <= n else q[: n - 1] + "…"


def top_citation(findings: Sequence[Finding]) -> str:
    """The strongest deciding passage: quote, document › section, and the section's link when
    the document declares anchors, else the page's URL (none for unknown)."""
    decided = [f for f in findings if f.verdict != "unknown" and f.citations]
    if not decided:
        return ""
    f = max(decided, key=lambda f: f.confidence)
    c = f.citations[0]
    where = f"{c.title} › {c.section}" if c.section else c.title
    prefix = f"[{f.provider}] " if len(findings) > 1 else ""
    return f"{prefix}“{' '.join(c.quote.split())}” — {where} — {c.link or c.url}"


@dataclass
class Result:
    ticket: Ticket
    answer: Answer | None = None
    questions: list[tuple[str, Answer]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    problem: Exception | None = field(default=None, repr=False)  # what made ``error`` (the API reports its code)
    provider: str | None = None  # the ticket's provider, resolved to an id
    _flat: dict[str, Any] | None = field(default=None, repr=False)

    def flat(self) -> dict[str, Any]:
        """The verdict fields, as both output formats name them (computed once)."""
        if self._flat is None:
            self._flat = self._fields()
        return self._flat

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.ticket.line, "error": self.error, "note": "; ".join(self.notes) or None}
        if self.answer is None:
            return {**out, "route": "human-review"}
        a = self.answer
        route = route_of(a)
        verdicts = _verdicts(a)
        notes = list(self.notes)
        if len(set(verdicts.values())) > 1 and not a.escalate:
            notes.insert(0, f"verdict depends on the provider ({_show(verdicts)}); the ticket does not say which")
        if self.questions:
            # each question judged on the ticket's providers (it may name none, or another)
            per = [(q, _verdicts(qa, verdicts) or _verdicts(qa)) for q, qa in self.questions]
            if len({tuple(sorted(v.items())) for _, v in per}) > 1:
                route = "human-review"
                notes.append(f"{len(per)} questions, different verdicts: " + "; ".join(f"“{_short(q)}” → {_show(v)}" for q, v in per))
        out.update(
            verdict=a.verdict,
            confidence=round(min((f.confidence for f in a.findings), default=0.0), 3),
            route=route,
            top_citation=top_citation(a.findings) or None,
            note="; ".join(notes) or None,
            **{f"verdict_{p}": v for p, v in verdicts.items()},
        )
        return out

    def answer_fields(self, providers: Sequence[str]) -> dict[str, Any]:
        """The answer and what batch triage adds to it — ``verdict_<provider>`` (in the order of
        ``providers``), ``confidence``, ``route``, ``top_citation`` and the separate
        ``questions`` — as a ``triage classify`` JSONL row and a ``POST /v1/classify`` ticket
        both carry them (one definition, so the two cannot drift)."""
        flat = self.flat()
        row: dict[str, Any] = self.answer.to_dict() if self.answer else {}
        for k in ("verdict", *(f"verdict_{p}" for p in providers), "confidence", "route", "top_citation"):
            if k in flat:
                row[k] = flat[k]
        if self.questions:
            row["questions"] = [{"question": q, "verdict": a.verdict, "verdicts": _verdicts(a), "route": route_of(a)} for q, a in self.questions]
        return row

    def jsonl(self, layout: Layout) -> dict[str, Any]:
        flat = self.flat()
        row: dict[str, Any] = {"id": self.ticket.id}
        answer = self.answer.to_dict() if self.answer else {}
        mine = {"id": self.ticket.id, "questions": None, **answer, **flat}
        for c, v in self.ticket.fields.items():
            if c == layout.tf.id_col or (c in mine and mine[c] == v):
                continue  # e.g. the question of a question file: the answer repeats it
            row[f"input_{c}" if c in mine else c] = v
        row.update(self.answer_fields(layout.providers))
        row.update(note=flat["note"], error=flat["error"], line=flat["line"])
        return row

    def csv(self, layout: Layout) -> list[str]:
        flat = self.flat()
        cells = [_cell(self.ticket.fields.get(c)) for c in layout.tf.columns]
        return cells + [_cell(flat.get(k)) for k in layout.fields]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (int, bool)):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


# -- answering a chunk ---------------------------------------------------------------------


_PIECE = re.compile(r"\w+|[^\w\s]")


class LengthSorted:
    """An embedder view that embeds each distinct text once, in order of length (words and
    punctuation marks, close to the model's token count) in batches of ``batch_size``, so
    every model batch pads little; rows come back in the caller's order. Same vectors."""

    def __init__(self, inner, batch_size: int):
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        texts = list(texts)
        unique = sorted(dict.fromkeys(texts), key=lambda t: len(_PIECE.findall(t)))  # stable: same batches every run
        vecs = self.inner.embed(unique, batch_size=self.batch_size, progress=progress)
        row = {t: i for i, t in enumerate(unique)}
        return vecs[[row[t] for t in texts]] if texts else vecs


def answer_chunk(bot, tickets: Sequence[Ticket], embedder: Any = None) -> list[Result]:
    """Results for a chunk of tickets, in order, from ONE ``answer_many`` call (whole tickets and
    the separate questions of multi-question tickets), embedding through ``embedder``."""
    results = [Result(t) for t in tickets]
    items: list[tuple[str, str | None]] = []
    plan: list[tuple[Result, int, list[int]]] = []
    for r in results:
        t = r.ticket
        if t.error:
            r.error = t.error
            continue
        try:
            prep = bot.prepare(t.text, t.provider)
        except InputError as e:
            r.error, r.problem = f"line {t.line}: {e}", e
            continue
        r.notes.extend(prep.notes)
        r.provider = prep.provider
        main = len(items)
        items.append((prep.text, prep.provider))
        subs = list(range(len(items), len(items) + len(prep.questions)))
        items += [(q, prep.question_scope) for q in prep.questions]
        plan.append((r, main, subs))
    if not items:
        return results
    answers = _answer_all(bot, items, embedder)
    for r, main, subs in plan:
        bad = [answers[i] for i in (main, *subs) if isinstance(answers[i], Exception)]
        if bad:
            r.error = f"line {r.ticket.line}: could not be answered ({type(bad[0]).__name__}: {str(bad[0])[:160]})"
            r.problem = bad[0]  # type: ignore[assignment]
            continue
        r.answer = answers[main]  # type: ignore[assignment]
        r.questions = [(items[i][0], answers[i]) for i in subs]  # type: ignore[misc]
    return results


def _answer_all(bot, items: list[tuple[str, str | None]], embedder: Any) -> list[Answer | Exception]:
    """One ``answer_many`` call; if it fails, one by one, so one bad ticket cannot sink the chunk."""
    try:
        return list(bot.answer_many(items, check=False, embedder=embedder))
    except Exception:  # noqa: BLE001
        answers: list[Answer | Exception] = []
        for item in items:
            try:
                answers.append(bot.answer_many([item], check=False, embedder=embedder)[0])
            except Exception as e:  # noqa: BLE001
                answers.append(e)
        return answers


# -- output files ------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path.parent), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Sink:
    """The output file: appended to chunk by chunk, each chunk flushed and fsynced."""

    def __init__(self, path: Path, layout: Layout, resume: bool):
        self.path = Path(path)
        self.layout = layout
        self.done: Counter[str] = Counter()  # rows already in the file, by key
        self.previous: list[dict[str, Any]] = []  # their verdict fields (for the summary)
        self.repaired = 0  # bytes of a partial last row dropped on resume
        self.delimiter = "\t" if self.path.suffix.lower() == ".tsv" else ","
        existing = resume and self.path.is_file() and self.path.stat().st_size > 0
        if existing:
            keep = self._read_existing()
            self.f = self.path.open("r+b")
            self.f.truncate(keep)
            self.f.seek(keep)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.f = self.path.open("wb")
            if layout.fmt == "csv":
                self._write(self._csv_lines([layout.header]))
            _fsync_dir(self.path)
        self.lock = threading.Lock()

    @staticmethod
    def key(rid: str | None, line: Any, occurrence: int = 0) -> str:
        return f"id:{rid}#{occurrence}" if rid else f"line:{line}"

    def _read_existing(self) -> int:
        data = self.path.read_bytes()
        keep = 0
        rows: list[dict[str, Any]] = []
        if self.layout.fmt == "csv":
            records = list(csv_records(data, self.delimiter))
            header = self.layout.header
            if not records or list(records[0].fields) != header:
                got = ", ".join(records[0].fields[:12]) if records else "nothing"
                raise InputError(
                    f"cannot resume: {self.path} has other columns than this run writes (found: {got})",
                    hint="resume with the same input and column flags, or write to a new --out",
                )
            keep = records[0].end
            good = [r.error is None and r.complete for r in records]
            for k, r in enumerate(records[1:], 1):
                if not good[k]:
                    if any(good[k + 1 :]):
                        raise InputError(f"cannot resume: {self.path} line {r.line} is damaged ({r.error or 'cut short'})", hint="write to a new --out")
                    break
                rows.append(dict(zip(header, r.fields)))
                keep = r.end
        else:
            records = list(jsonl_records(data))
            for k, r in enumerate(records):
                if r.obj is None or not r.complete:
                    if any(x.obj is not None and x.complete for x in records[k + 1 :]):
                        raise InputError(f"cannot resume: {self.path} line {r.line} is damaged ({r.error or 'cut short'})", hint="write to a new --out")
                    break
                rows.append(r.obj)
                keep = r.end
        self.repaired = len(data) - keep
        seen: Counter[str] = Counter()
        for row in rows:
            rid = str(row.get(self.layout.id_out) or "") or None
            k = self.key(rid, row.get("line"), seen[rid] if rid else 0)
            if rid:
                seen[rid] += 1
            self.done[k] += 1
            self.previous.append(row)
        return keep

    def _csv_lines(self, rows: list[list[str]]) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=self.delimiter, lineterminator="\r\n")
        w.writerows(rows)
        return buf.getvalue().encode("utf-8")

    def encode(self, results: Sequence[Result]) -> bytes:
        if self.layout.fmt == "csv":
            return self._csv_lines([r.csv(self.layout) for r in results])
        return "".join(json.dumps(r.jsonl(self.layout), ensure_ascii=False) + "\n" for r in results).encode("utf-8")

    def _write(self, data: bytes) -> None:
        self.f.write(data)
        self.f.flush()
        os.fsync(self.f.fileno())

    def write(self, data: bytes) -> None:
        with self.lock:
            self._write(data)

    def close(self) -> None:
        self.f.close()


# -- run summary ----------------------------------------------------------------------------------


class Tally:
    def __init__(self, providers: list[str]):
        self.providers = providers
        self.verdicts: Counter[str] = Counter()
        self.by_provider: dict[str, Counter[str]] = {p: Counter() for p in providers}
        self.routes: Counter[str] = Counter()
        self.errors = 0
        self.error_lines: list[str] = []
        self.conflicting = 0

    def add(self, row: dict[str, Any]) -> None:
        """Count one output row, from its verdict fields (as written or as read back). A row
        with an error has a route too (human-review): the counts add up to the file's."""
        if row.get("route"):
            self.routes[row["route"]] += 1
        if row.get("error"):
            self.errors += 1
            if len(self.error_lines) < 20:
                self.error_lines.append(str(row["error"]))
            return
        if row.get("verdict"):
            self.verdicts[row["verdict"]] += 1
        for p in self.providers:
            if v := row.get(f"verdict_{p}"):
                self.by_provider[p][v] += 1
        if "questions, different verdicts" in str(row.get("note") or ""):
            self.conflicting += 1


# -- Ctrl-C ---------------------------------------------------------------------------------------


class _Stopped(BaseException):
    """Raised by the signal handler to drop the chunk in flight (a BaseException, so no
    ``except Exception`` on the way, e.g. the one-by-one retry, can swallow it)."""


class _Stop:
    """What SIGINT/SIGTERM asked for. A chunk being answered is dropped at once (its tickets
    are answered again by ``--resume``); a chunk being written is finished first, so the file
    always ends with a whole row."""

    def __init__(self):
        self.signal: int | None = None
        self.writing = False
        self.pending = False

    @contextmanager
    def holding(self):
        self.writing = True
        try:
            yield
        finally:
            self.writing = False
        if self.pending:
            raise _Stopped

    def handler(self, signum, frame) -> None:
        self.signal = signum
        if self.writing:
            self.pending = True
        else:
            raise _Stopped


@contextmanager
def _stoppable() -> Iterator[_Stop]:
    """SIGINT/SIGTERM stop the run within a model batch (under a second), between writes."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    old = {s: signal.signal(s, stop.handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# -- the run ----------------------------------------------------------------------------------------


def load(infile: Path, *, fmt: str | None = None, id_col: str | None = None, text_cols: str | Sequence[str] | None = None, provider_col: str | None = None) -> TicketFile:
    """Read and check the input (before the model is loaded: a bad mapping fails fast)."""
    return read_tickets(Path(infile), fmt=fmt, id_col=id_col, text_cols=text_cols, provider_col=provider_col)


def classify(
    bot,
    tickets: TicketFile,
    outfile: Path,
    *,
    out_format: str | None = None,
    resume: bool = False,
    chunk: int | None = None,
    on_progress: Progress | None = None,
    say: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> dict[str, Any]:
    """Answer every ticket of ``tickets`` and write one row per ticket to ``outfile``."""
    t0 = time.perf_counter()
    outfile = Path(outfile)
    if outfile.exists() and outfile.resolve() == tickets.path.resolve():
        raise InputError("--out is the input file", hint="write the results to another file")
    fmt = format_of(outfile, out_format) or tickets.format
    layout = Layout(tickets, sorted(bot.providers), fmt)
    sink = Sink(outfile, layout, resume)
    tally = Tally(layout.providers)
    for row in sink.previous:
        tally.add(row)
    todo = _todo(tickets, sink)
    size = max(1, chunk or bot.settings.classify_chunk)
    embedder = LengthSorted(bot.embedder, bot.settings.classify_embed_batch)
    try:
        written, interrupted, signum = _run(bot, embedder, todo, size, sink, tally, on_progress, say)
    finally:
        sink.close()
    seconds = time.perf_counter() - t0 + tickets.seconds
    skipped = len(tickets.tickets) - len(todo)
    return _summary(tickets, outfile, fmt, tally, sink, written, skipped, seconds, interrupted, signum)


def _todo(tickets: TicketFile, sink: Sink) -> list[Ticket]:
    """The tickets not yet in the output (a resumed run skips those already written)."""
    seen: Counter[str] = Counter()
    todo: list[Ticket] = []
    for t in tickets.tickets:
        k = Sink.key(t.id, t.line, seen[t.id] if t.id else 0)
        if t.id:
            seen[t.id] += 1
        if sink.done[k] > 0:
            sink.done[k] -= 1
        else:
            todo.append(t)
    return todo


def _run(bot, embedder, todo: list[Ticket], size: int, sink: Sink, tally: Tally, on_progress: Progress | None, say) -> tuple[int, bool, int | None]:
    """Answer and write ``todo`` chunk by chunk until done or stopped by a signal:
    (rows written, interrupted, the signal that stopped it)."""
    written = 0
    if on_progress:
        on_progress(0, len(todo))
    with _stoppable() as stop:
        try:
            for start in range(0, len(todo), size):
                results = answer_chunk(bot, todo[start : start + size], embedder)
                data = sink.encode(results)
                with stop.holding():  # a signal now waits for the chunk to be on disk
                    sink.write(data)
                    for r in results:
                        tally.add(r.flat())
                    written += len(results)
                if on_progress:
                    on_progress(written, len(todo))
        except _Stopped:
            if written < len(todo):
                say(f"stopped: the {min(size, len(todo) - written):,} tickets being answered were not written (--resume answers them)")
            return written, written < len(todo), stop.signal
    return written, False, None


def _summary(tickets: TicketFile, outfile: Path, fmt: str, tally: Tally, sink: Sink, written: int, skipped: int,
             seconds: float, interrupted: bool, signum: int | None) -> dict[str, Any]:
    """The run's figures, as ``triage classify --json`` prints them."""
    return {
        "input": str(tickets.path),
        "out": str(outfile),
        "format": fmt,
        "tickets": len(tickets.tickets),
        "rows": written,
        "skipped": skipped,
        "total_rows": skipped + written,
        "answered": sum(tally.verdicts.values()),
        "errors": tally.errors,
        "error_lines": tally.error_lines,
        "verdicts": {v: tally.verdicts[v] for v in VERDICT_ORDER if tally.verdicts[v]},
        "by_provider": {p: {v: c[v] for v in VERDICT_ORDER if c[v]} for p, c in tally.by_provider.items()},
        "routes": {r: tally.routes[r] for r in ROUTES if tally.routes[r]},
        "escalations": tally.routes["human-review"] - tally.errors,  # answered, and sent to a human
        "conflicting_questions": tally.conflicting,
        "seconds": round(seconds, 3),
        "tickets_per_s": round(written / seconds, 2) if seconds > 0 else None,
        "interrupted": interrupted,
        "signal": signal.Signals(signum).name if interrupted and signum else None,
        "repaired_bytes": sink.repaired,
    }


# -- terminal display -----------------------------------------------------------------------------


class Reporter:
    """Progress on stderr: a rich bar (count, rate, ETA) on a terminal, else a plain line every
    ``every`` seconds and at the end."""

    def __init__(self, console, every: float = 5.0):
        self.console = console
        self.every = every
        self.bar = None
        self.task = None
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def say(self, msg: str) -> None:
        self.console.print(msg, soft_wrap=True, highlight=False)

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == 0:
            self.t0 = self.last = now
        rate = done / (now - self.t0) if now > self.t0 and done else 0.0
        eta = f"ETA {time.strftime('%H:%M:%S', time.gmtime((total - done) / rate))}" if rate and done < total else ""
        if self.console.is_terminal:
            if self.bar is None:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

                self.bar = Progress(
                    TextColumn("classifying"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                    console=self.console,
                )
                self.bar.start()
                self.task = self.bar.add_task("classify", total=total, rate="", eta="")
            self.bar.update(self.task, completed=done, total=total, rate=f"{rate:,.1f} tickets/s" if rate else "", eta=eta)
            return
        if done in (0, total) or now - self.last >= self.every:
            self.last = now
            self.say(f"classified {done:,}/{total:,} tickets" + (f" ({rate:,.1f}/s{', ' + eta if eta else ''})" if rate else ""))


def render_summary(console, s: dict[str, Any]) -> None:
    """The end-of-run table: verdict × provider counts, routes, escalations, errors, speed."""
    from rich.table import Table

    providers = list(s["by_provider"])
    t = Table(title=f"triage classify → {s['out']}", show_header=True)
    t.add_column("verdict")
    for p in providers:
        t.add_column(p, justify="right")
    t.add_column("tickets", justify="right")
    for v in VERDICT_ORDER:
        cells = [str(s["by_provider"][p].get(v, 0)) if v != "mixed" else "" for p in providers]
        if any(c not in ("", "0") for c in cells) or s["verdicts"].get(v):
            t.add_row(v, *cells, str(s["verdicts"].get(v, 0)))
    t.add_section()
    for r in ROUTES:
        t.add_row(f"route: {r}", *([""] * len(providers)), str(s["routes"].get(r, 0)))
    t.add_section()
    t.add_row("escalations (answered, routed to human-review)", *([""] * len(providers)), str(s["escalations"]))
    t.add_row("questions with different verdicts", *([""] * len(providers)), str(s["conflicting_questions"]))
    t.add_row("rows with errors", *([""] * len(providers)), str(s["errors"]), style="red" if s["errors"] else None)
    rows = f"{s['total_rows']:,} rows ({s['rows']:,} this run" + (f", {s['skipped']:,} already done" if s["skipped"] else "") + ")"
    t.add_row("written", *([""] * len(providers)), rows)
    rate = f"{s['tickets_per_s']:,.1f} tickets/s" if s["tickets_per_s"] else "—"
    t.add_row("speed", *([""] * len(providers)), f"{rate} ({s['seconds']:.1f}s)")
    console.print(t)
    for line in s["error_lines"][:10]:
        console.print(f"  [red]error[/] {line}", soft_wrap=True, highlight=False)
    if s["errors"] > 10:
        console.print(f"  … and {s['errors'] - 10} more: the rows with `error` filled in {s['out']}", soft_wrap=True)
