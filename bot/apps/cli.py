"""Command line: ``triage ask | index | eval | classify | providers | serve | slack``.

A thin adapter: parse arguments, call :class:`bot.service.Bot`, format with rich (or
``--json``). Errors from the engine become one clear line and a non-zero exit code.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperCommand, TyperGroup
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..runtime.config import Settings, is_loopback
from ..engine.errors import BotError

class _FlagsTakeNoValue:
    """Help lists a flag as ``--json``, not ``--json <bool>`` (typer's placeholder suggests a
    value, and ``--json true`` is an error)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)  # type: ignore[misc]
        for p in params:
            if getattr(p, "is_flag", False):
                p.metavar = ""
        return params


class _Command(_FlagsTakeNoValue, TyperCommand):
    pass


class _Group(_FlagsTakeNoValue, TyperGroup):
    pass


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Support-triage bot: is X supported? Per-vendor verdicts quoted from the vendors' support policies.",
    epilog=(
        "Examples:\n\n"
        "  triage ask \"Is our service mesh supported?\"\n\n"
        "  triage ask \"can I ssh into my worker nodes?\" --provider <id> --json\n\n"
        "  cat ticket.txt | triage ask -\n\n"
        "  triage index            # after adding or editing a document in corpus/\n\n"
        "  triage eval evals/dev.jsonl\n\n"
        "Settings come from flags or BOT_* environment variables (BOT_INDEX_DIR, BOT_CORPUS_DIR, ...)."
    ),
)
out = Console()
err = Console(stderr=True)

BADGE = {
    "covered": ("COVERED", "bold white on green"),
    "best-effort": ("BEST EFFORT", "bold black on yellow"),
    "not-covered": ("NOT COVERED", "bold white on red"),
    "unknown": ("NOT DECIDED", "bold white on grey37"),
    "mixed": ("MIXED", "bold black on white"),
}
CHECK_STYLE = "bold black on grey85"  # a decided verdict a human must check: no verdict colour
# advice only a command-line user can follow, added to the engine's plain-words hint
CLI_ADVICE = {"too_large": "for a whole ticket, use `triage classify`"}

IndexOpt = typer.Option(None, "--index", help="Index folder.  \\[env: BOT_INDEX_DIR]", show_default=False)
CorpusOpt = typer.Option(None, "--corpus", help="Corpus folder.  \\[env: BOT_CORPUS_DIR]", show_default=False)
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of a report.")


def _settings(index: Optional[Path], corpus: Optional[Path], **extra) -> Settings:
    """Settings from flags and ``BOT_*``; a bad value is one line per setting and exit 2,
    naming its variable but never echoing the value (it may be a key)."""
    from pydantic import ValidationError

    kw = {k: v for k, v in extra.items() if v is not None}
    if index is not None:
        kw["index_dir"] = index
    if corpus is not None:
        kw["corpus_dir"] = corpus
    try:
        return Settings(**kw)
    except ValidationError as e:
        for er in e.errors():
            field = ".".join(str(x) for x in er["loc"]) or "settings"
            print(f"error: {field} (BOT_{field.upper()}): {' '.join(er['msg'].split())}", file=sys.stderr)
        raise typer.Exit(2)


def _fail(e: BotError, as_json: bool) -> None:
    text = str(e) if e.code not in CLI_ADVICE else f"{e.message} ({'; '.join(filter(None, (e.hint, CLI_ADVICE[e.code])))})"
    if as_json:
        print(json.dumps({"error": {"code": e.code, "message": text}}))
    print(f"error: {' '.join(text.split())}", file=sys.stderr)  # one line, never wrapped
    raise typer.Exit(e.exit_code)


def _progress_cb(console: Console):
    """A rich progress bar for index builds on a terminal; plain lines otherwise."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    state: dict = {}

    def cb(stage: str, done: int, total: int) -> None:
        if not console.is_terminal:
            if done in (0, total):
                console.print(f"{stage}: {done}/{total}")
            return
        if "p" not in state:
            state["p"] = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True)
            state["p"].start()
            state["tasks"] = {}
        p = state["p"]
        if stage not in state["tasks"]:
            state["tasks"][stage] = p.add_task(stage, total=total)
        p.update(state["tasks"][stage], completed=done, total=total)
        if all(t.finished for t in p.tasks):
            p.stop()
            del state["p"]

    return cb


def _open_bot(settings: Settings, *, one_shot: bool = False):
    """The bot; a one-shot command (one question, then exit) searches the build's vectors
    exactly instead of opening Chroma (``vector_store`` auto), which saves ~1.1 s of its start."""
    from ..engine.service import Bot

    if one_shot and settings.vector_store == "auto":
        settings = settings.model_copy(update={"vector_store": "exact"})
    return Bot.open(settings, notify=lambda m: err.print(f"[dim]{m}[/]"), on_progress=_progress_cb(err))


def render_explain(console: Console, exp) -> None:
    """The explain trace as tables: the ask, then per vendor the decision and its candidates."""
    d = exp.to_dict()
    ask = d["ask"]
    console.print(Text.assemble(("Ask: ", "bold"), ask["text"][:400]), soft_wrap=True)
    console.print(f"terms: {', '.join(ask['terms'][:12]) or '-'}; tool names: {', '.join(ask['names']) or '-'}; "
                  f"fact request: {ask['fact_request']}; support intent: {ask['support_intent']}", soft_wrap=True)
    for v in d["vendors"]:
        r = v.get("reader")
        head = f"{v['provider']}: {v['verdict']} ({v['confidence']:.2f}) — rules said {v['rules']['verdict']} ({v['rules']['confidence']:.2f})"
        if r:
            head += f"; reader score {r['score']:.2f} vs threshold {r['threshold']:.2f}"
        t = Table(title=head, show_lines=False)
        for col in ("#", "relevance", "covered / best-effort / not-covered", "dense rank", "keyword rank", "passage"):
            t.add_column(col, overflow="fold")
        for n, c in enumerate((r or {}).get("candidates", [])[:6], 1):
            p = c["verdict_probs"]
            t.add_row(str(n), f"{c['relevance']:.2f}", f"{p['covered']:.2f} / {p['best-effort']:.2f} / {p['not-covered']:.2f}",
                      str(c["dense_rank"]), str(c["keyword_rank"]), f"{c['section']}: {c['text'][:140]}")
        console.print(t)
        console.print(f"  why: {v['why']}", soft_wrap=True)
        console.print(f"  rules trace: {' · '.join(v['rules']['trace'])}", soft_wrap=True)


def _badge(f) -> tuple[str, str]:
    """A finding's badge: its verdict, or "COVERED? — CHECK" without the verdict's colour
    when a human must check it (the engine's label, bot.engine.answer.label)."""
    from ..engine.answer import label  # imported when rendering: startup stays light

    if f.escalate and f.verdict != "unknown":
        return f" {label(f).upper()} ", CHECK_STYLE
    text, style = BADGE[f.verdict]
    return f" {text} ", style


def render_answer(console: Console, ans, providers) -> None:
    """Per vendor a panel (badge, reason with its condition, quotes with section and link);
    "needs a human" once, at the end, when the answer escalates."""
    from ..engine.answer import needs_a_human

    overall, style = BADGE[ans.verdict]
    console.print(Text.assemble(("Q: ", "bold"), ans.question if len(ans.question) < 300 else ans.question[:297] + "…"))
    for f in ans.findings:
        p = providers.get(f.provider)
        name = f"{p.vendor} {p.product}" if p else f.provider
        body = Text()
        body.append(f"{f.reason}\n", style="")
        if f.citations and f.verdict == "unknown":
            body.append("\nClosest passages (they do not decide it):", style="bold")
        for i, c in enumerate(f.citations, 1):
            q = " ".join(c.quote.split())
            body.append(f"\n[{i}] ", style="bold cyan")
            body.append(f"“{q if len(q) <= 400 else q[:399] + '…'}”\n", style="italic")
            body.append(f"    {c.title} › {c.section or '—'}\n    {c.link or c.url}\n", style="dim")  # offsets: --json only
        title = Text.assemble(_badge(f), "  ", (name, "bold"), f"  confidence {f.confidence:.2f}")
        console.print(Panel(body, title=title, title_align="left", border_style="dim" if f.escalate else "cyan"))
    if ans.escalate:
        console.print(Text(" NEEDS A HUMAN ", style="bold white on magenta"), needs_a_human(ans.findings, providers))
    else:
        console.print(Text.assemble(("Overall: ", "bold"), (f" {overall} ", style)))


@app.command(cls=_Command)
def ask(
    question: str = typer.Argument(..., help="The question or ticket text; '-' reads standard input."),
    provider: Optional[str] = typer.Option(None, "--provider", "-p", help="Scope to one provider: its id or any of its names (see `triage providers`)."),
    as_json: bool = JsonOpt,
    explain: bool = typer.Option(False, "--explain", help="Also show how each verdict was reached: the extracted ask, the candidates with their ranks, the reader's and the rules' scores."),
    index: Optional[Path] = IndexOpt,
    corpus: Optional[Path] = CorpusOpt,
):
    """Answer one question: a verdict per vendor with quoted evidence.

    A ticket on standard input ('-') is read as `triage classify` reads one: no question-length
    limit, trimmed at BOT_MAX_TICKET_CHARS with a note."""
    notes: tuple[str, ...] = ()
    ticket = question == "-"
    try:
        text = sys.stdin.read() if ticket else question
        bot = _open_bot(_settings(index, corpus), one_shot=True)
        if ticket:
            prep = bot.prepare(text, provider, split=False)
            text, provider, notes = prep.text, prep.provider, prep.notes
        exp = bot.explain(text, provider, check=not ticket) if explain else None
        ans = exp.answer if exp else bot.answer_many([(text, provider)], check=not ticket)[0]
    except BotError as e:
        _fail(e, as_json)
    if as_json:
        extra = {**({"note": "; ".join(notes)} if notes else {}), **({"explain": exp.to_dict()} if exp else {})}
        print(json.dumps({**ans.to_dict(), **extra}, ensure_ascii=False, indent=1))
        return
    for n in notes:
        err.print(f"note: {n}", soft_wrap=True, highlight=False)
    render_answer(out, ans, bot.providers)
    if exp:
        render_explain(out, exp)


@app.command(cls=_Command)
def train(
    data: Path = typer.Option(Path("evals"), "--data", help="Folder with train/, validation/ and vendors/ (see evals/SPEC.md)."),
    out_dir: Path = typer.Option(None, "--out", help="Where the model goes (default: BOT_READER_DIR, models/reader)."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Passes over the training pairs."),
    seed: int = typer.Option(0, "--seed", help="Seed of numpy, torch and the sample order."),
    members: int = typer.Option(5, "--members", min=1, help="Networks in the ensemble (seeds seed … seed+members-1)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes fitting networks at once (0: one per CPU core); the model is the same."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Read only this many tickets per split (a quick check)."),
    no_rules: bool = typer.Option(False, "--no-rule-features", help="Train the reader without the rules engine's reading (ablation)."),
    as_json: bool = JsonOpt,
    corpus: Optional[Path] = CorpusOpt,
):
    """Train the reader from the labelled splits, calibrate its threshold on validation, write it."""
    from ..engine.train import TrainParams, train as run_training

    try:
        settings = _settings(None, corpus)
        params = TrainParams(epochs=epochs, seed=seed, members=members, workers=workers, limit=limit, rule_features=not no_rules)
        notify = (lambda m: None) if as_json else (lambda m: err.print(m, soft_wrap=True))
        rep = run_training(settings, data, out_dir or settings.reader_dir, params, notify=notify)
    except BotError as e:
        _fail(e, as_json)
    if as_json:
        print(json.dumps({"threshold": rep.model.threshold, "threshold_rule": rep.threshold_rule, "figures": rep.figures, "seconds": rep.seconds}, indent=1))
        return
    t = Table(title=f"reader trained in {rep.seconds:.0f}s; threshold {rep.model.threshold:.2f} ({rep.threshold_rule})")
    for col in ("split", "engine", "pairs", "accuracy", "decided precision", "escalated", "evidence hit@3"):
        t.add_column(col, justify="left" if col in ("split", "engine") else "right")
    for split, by in rep.figures.items():
        for engine, f in by.items():
            t.add_row(split, engine, str(f["pairs"]), f"{f['accuracy']:.3f}", f"{f['decided_precision']:.3f}", f"{f['escalated']:.3f}",
                      f"{f['evidence_hit_at_3']:.3f}" if engine == "reader" else "-")
    out.print(t)


@app.command("index", cls=_Command)
def index_cmd(
    force: bool = typer.Option(False, "--force", help="Re-embed everything instead of reusing unchanged chunks."),
    as_json: bool = JsonOpt,
    index: Optional[Path] = IndexOpt,
    corpus: Optional[Path] = CorpusOpt,
):
    """(Re)build the index from the corpus. Unchanged chunks are reused, the swap is atomic."""
    from ..engine.embed import get_embedder
    from ..engine.index import build_index

    try:
        s = _settings(index, corpus)
        emb = get_embedder(s.embedder, s.onnx_dir, lambda m: err.print(f"[dim]{m}[/]"))
        r = build_index(s.corpus_dir, s.index_dir, emb, force=force, batch_size=s.batch_size, on_progress=_progress_cb(err))
    except BotError as e:
        _fail(e, as_json)
    if as_json:
        print(json.dumps(r.to_dict()))
        return
    t = Table(show_header=False, box=None)
    t.add_row("index", str(s.index_dir))
    t.add_row("build", str(r.build_id))
    t.add_row("result", r.message)
    t.add_row("chunks / units", f"{r.chunks} / {r.units}")
    t.add_row("embedded / reused", f"{r.embedded} / {r.reused}")
    if r.changed_files:
        t.add_row("changed files", ", ".join(r.changed_files))
    if r.removed_files:
        t.add_row("removed files", ", ".join(r.removed_files))
    t.add_row("time", f"{r.seconds:.2f}s")
    out.print(Panel(t, title="triage index", title_align="left"))


def _write_traces(bot, items, misses: list[dict], path: Path) -> None:
    """One line per missed item: its id, what was expected, and the whole explain trace."""
    by_id = {it.id: it for it in items}
    missed = list(dict.fromkeys(m["id"] for m in misses))
    with path.open("w", encoding="utf-8") as f:
        for i in missed:
            it = by_id[i]
            exp = bot.explain(it.question, it.provider)
            row = {"id": i, "expected": it.expected, "evidence": it.evidence, "got": {v.provider: v.final.verdict for v in exp.vendors},
                   "explain": exp.to_dict()}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


@app.command("eval", cls=_Command)
def eval_cmd(
    file: Path = typer.Argument(..., help="JSONL eval file (id, question, provider, expected, evidence)."),
    as_json: bool = JsonOpt,
    repeats: int = typer.Option(1, "--repeats", min=1, help="Time each question N times for steadier latency."),
    show_misses: int = typer.Option(30, "--misses", help="How many misses to list."),
    traces: Optional[Path] = typer.Option(None, "--traces", help="Write the explain trace of every miss to this JSONL file."),
    index: Optional[Path] = IndexOpt,
    corpus: Optional[Path] = CorpusOpt,
):
    """Quality and latency report: accuracy, macro-F1, evidence hit@3, unknown P/R, p50/p95 vs floor."""
    from rich.progress import Progress

    from ..engine.evaluate import evaluate, load_items

    try:
        items = load_items(file)
        bot = _open_bot(_settings(index, corpus))
        with Progress(console=err, transient=True, disable=as_json or not err.is_terminal) as prog:
            task = prog.add_task("evaluating", total=len(items))
            rep = evaluate(bot, items, progress=lambda n: prog.advance(task, n), repeats=repeats)
        if traces is not None:
            _write_traces(bot, items, rep["misses"], traces)
    except BotError as e:
        _fail(e, as_json)
    if as_json:
        print(json.dumps(rep, indent=1))
        return
    lat = rep["latency_ms"]
    t = Table(title=f"triage eval {file}", show_header=True)
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("questions / (question, provider) pairs", f"{rep['file_items']} / {rep['pairs']}")
    t.add_row("verdict accuracy", f"{rep['verdict_accuracy']:.3f}")
    t.add_row("macro-F1 (4 labels)", f"{rep['macro_f1']:.3f}")
    t.add_row("evidence hit@3", f"{rep['evidence_hit_at_3']:.3f}  ({rep['evidence_pairs']} pairs)")
    t.add_row("unknown precision / recall", f"{rep['unknown_precision']:.3f} / {rep['unknown_recall']:.3f}")
    t.add_row("answer() p50 / p95", f"{lat['answer_p50']:.1f} / {lat['answer_p95']:.1f} ms")
    t.add_row("floor p50 / p95 (embed + Chroma query)", f"{lat['floor_p50']:.1f} / {lat['floor_p95']:.1f} ms")
    t.add_row("ratio p50 / p95", f"{lat['ratio_p50']:.2f}× / {lat['ratio_p95']:.2f}×")
    out.print(t)
    pl = Table(title="per label", show_header=True)
    for col in ("label", "precision", "recall", "F1", "support"):
        pl.add_column(col, justify="right" if col != "label" else "left")
    for label, m in rep["per_label"].items():
        pl.add_row(label, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}", str(m["support"]))
    out.print(pl)
    if rep["misses"]:
        mt = Table(title=f"misses ({len(rep['misses'])})", show_lines=False)
        for col in ("id", "provider", "expected", "got", "evidence", "question"):
            mt.add_column(col, overflow="fold")
        for m in rep["misses"][:show_misses]:
            ev = "-" if m["evidence_hit"] is None else ("hit" if m["evidence_hit"] else "MISS")
            mt.add_row(m["id"], m["provider"], m["expected"], m["predicted"], ev, " ".join(m["question"].split())[:90])
        out.print(mt)


@app.command(cls=_Command)
def classify(
    infile: Path = typer.Argument(..., help="Tickets: CSV (a header row) or JSONL (one object per line)."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Output file, CSV or JSONL (by extension or --format); written as it goes."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Output format: csv or jsonl (default: from the --out extension, else the input's)."),
    id_col: Optional[str] = typer.Option(None, "--id-col", help="Column with the ticket id.  \\[default: id]", show_default=False),
    text_cols: Optional[str] = typer.Option(None, "--text-cols", help="Column(s) with the text, joined, e.g. subject,body.  \\[default: question, text or subject+body]", show_default=False),
    provider_col: Optional[str] = typer.Option(None, "--provider-col", help="Column whose value scopes a ticket to a provider (optional).  \\[default: provider]", show_default=False),
    resume: bool = typer.Option(False, "--resume", help="Keep the rows already in --out (after a crash or Ctrl-C) and add the rest."),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 2 when any row could not be read or answered."),
    as_json: bool = JsonOpt,
    index: Optional[Path] = IndexOpt,
    corpus: Optional[Path] = CorpusOpt,
):
    """Triage a ticket file: a verdict, a route and the top citation per ticket (batch).

    Bad rows become output rows with `error` filled in; the run goes on. Ctrl-C stops within a
    second and keeps the rows already written (the file ends with a whole row); `--resume`
    carries on from there."""
    from . import batch

    try:
        tickets = batch.load(infile, id_col=id_col, text_cols=text_cols, provider_col=provider_col)
        bot = _open_bot(_settings(index, corpus))
        with batch.Reporter(err) as rep:
            summary = batch.classify(bot, tickets, out_path, out_format=fmt, resume=resume, on_progress=rep, say=rep.say)
    except BotError as e:
        _fail(e, as_json)
    if as_json:
        print(json.dumps(summary))
    else:
        batch.render_summary(out, summary)
    if summary["interrupted"]:
        import shlex

        args = sys.argv[1:] if "classify" in sys.argv[1:] else ["classify", str(infile), "--out", str(out_path)]
        again = shlex.join(["triage", *args, *([] if "--resume" in args else ["--resume"])])  # the same flags
        err.print(f"interrupted: {summary['total_rows']:,} of {summary['tickets']:,} rows are in {out_path}; carry on with: {again}", soft_wrap=True, highlight=False)
        raise typer.Exit(143 if summary["signal"] == "SIGTERM" else 130)
    if strict and summary["errors"]:
        err.print(f"error: {summary['errors']} row(s) could not be classified (--strict)", soft_wrap=True, highlight=False)
        raise typer.Exit(2)


@app.command(cls=_Command)
def providers(as_json: bool = JsonOpt, index: Optional[Path] = IndexOpt, corpus: Optional[Path] = CorpusOpt):
    """List providers and documents in the index."""
    try:
        from ..engine.manifest import catalog  # not the engine: listing loads no numpy, model or Chroma

        info = catalog(_settings(index, corpus), notify=lambda m: err.print(f"[dim]{m}[/]"), on_progress=_progress_cb(err))
    except BotError as e:
        _fail(e, as_json)
    if as_json:
        print(json.dumps(info, indent=1))
        return
    t = Table(title=f"index {info['build_id']} built {info['built_at']} ({info['chunks']} chunks)")
    for col in ("provider", "vendor", "product", "document", "chunks"):
        t.add_column(col)
    for p in info["providers"]:
        for d in p["documents"]:
            t.add_row(p["id"], p["vendor"], p["product"], f"{d['title']}\n{d['url']}", str(d["chunks"]))
    out.print(t)


@app.command(cls=_Command)
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (env BOT_HOST; default 127.0.0.1). "
                                       "Anything but loopback needs keys (BOT_API_KEYS / BOT_WIDGET_KEYS / BOT_ADMIN_KEYS)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (env BOT_PORT; default 8000)."),
    log_format: Optional[str] = typer.Option(None, "--log-format", help="Server logs on stderr: json (one object a line) or text (env BOT_LOG_FORMAT; default json)."),
    index: Optional[Path] = IndexOpt,
    corpus: Optional[Path] = CorpusOpt,
):
    """HTTP API + chat widget (demo page at /, docs at /docs).

    Listens at once; the model and index load in the background (GET /readyz answers 503
    until they are ready)."""
    import uvicorn

    from ..runtime import logs
    from ..runtime.auth import secrets_of
    from .api.app import create_app
    from .api.server import uvicorn_config

    if not isinstance(log_format, str):  # `triage slack` calls serve() as a function
        log_format = None
    settings = _serve_settings(index, corpus, host=host, port=port, log_format=log_format)
    logs.configure(settings.log_format, settings.log_level, secrets_of(settings))
    url = f"http://{settings.host}:{settings.port}"
    _announce(settings, url)
    server = uvicorn.Server(uvicorn_config(create_app(_loader(settings, url), settings), settings))
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:  # e.g. the port is taken (uvicorn logged why)
        raise typer.Exit(3)


def _serve_settings(index: Optional[Path], corpus: Optional[Path], **over):
    """The server's settings (:func:`_settings`), or exit 2 when keys are missing for a
    non-loopback address, or when no host name can be derived (0.0.0.0 without BOT_ALLOWED_HOSTS)."""
    settings = _settings(index, corpus, **over)
    if not settings.auth_enabled and not is_loopback(settings.host):
        print(
            f"error: refusing to listen on {settings.host} without API keys: anyone who can reach it could use the API. "
            "Set BOT_API_KEYS (and BOT_WIDGET_KEYS for the widget), or listen on 127.0.0.1.",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    if not settings.host_names:
        print(
            f"error: refusing to listen on {settings.host} without BOT_ALLOWED_HOSTS: requests are only answered under the "
            "server's own names. Set BOT_ALLOWED_HOSTS to the name clients use (e.g. triage.example.com; * for any).",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    return settings


def _announce(settings, url: str) -> None:
    """Where to point a browser, and who may call (keys and limits, or loopback only)."""
    out.print(f"Open [bold]{url}/[/] (demo page with the chat widget)", soft_wrap=True)
    out.print(f"API docs {url}/docs; {url}/readyz answers 200 once the model and index are loaded.", soft_wrap=True)
    if settings.auth_enabled:
        n = lambda k, what: f"{len(k)} {what}{'s' if len(k) != 1 else ''}"  # noqa: E731
        out.print(
            f"Access: {n(settings.api_keys, 'API key')}, {n(settings.widget_keys, 'widget key')}, {n(settings.admin_keys, 'admin key')}; "
            f"at most {settings.rate_limit_per_minute}/min per key and {settings.ip_rate_limit_per_minute}/min per address (0 = no limit).",
            soft_wrap=True,
        )
    else:
        out.print("No keys configured (BOT_API_KEYS): the API is open and unlimited, so it listens on loopback only.", soft_wrap=True)
    if settings.index_watch_seconds > 0:
        out.print(f"Watching {settings.index_dir} for new builds every {settings.index_watch_seconds:g}s.", soft_wrap=True)


def _loader(settings, url: str):
    """What the server calls in the background to load the model and the index."""
    slog = logging.getLogger("bot.serve")

    def load():
        from ..engine.service import Bot

        t0 = time.perf_counter()
        # JSON logs: index-build messages as log lines too (stderr stays one JSON object a line)
        bot = Bot.open(settings, notify=slog.info) if settings.log_format == "json" else _open_bot(settings)
        slog.info("loaded the model and index in %.1fs: ready at %s/", time.perf_counter() - t0, url)
        return bot

    return load


def _on_sigterm(*_):
    """uvicorn stops accepting on SIGTERM, lets requests in flight finish for up to the
    grace, cancels the rest, then re-raises the signal with the handler found before it:
    this one. Exit 0 — at once when worker threads are still busy with cut-off requests
    (the interpreter would otherwise wait for them to finish)."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    sys.exit(0)


@app.command(cls=_Command)
def slack(
    socket: bool = typer.Option(False, "--socket", help="Socket Mode: connect out to Slack (BOT_SLACK_APP_TOKEN); no public URL needed."),
    host: Optional[str] = typer.Option(None, "--host", help="HTTP mode: address to listen on (env BOT_HOST)."),
    port: Optional[int] = typer.Option(None, "--port", help="HTTP mode: port (env BOT_PORT)."),
    index: Optional[Path] = IndexOpt,
    corpus: Optional[Path] = CorpusOpt,
):
    """The Slack bot (/triage, @mentions, DMs). HTTP mode is `triage serve` with Slack's
    requests at POST /slack/events (BOT_SLACK_SIGNING_SECRET, BOT_SLACK_BOT_TOKEN);
    --socket runs Socket Mode instead (BOT_SLACK_BOT_TOKEN, BOT_SLACK_APP_TOKEN)."""
    from . import slack as slack_app

    settings = _settings(index, corpus, host=host, port=port)
    try:
        slack_app.check(settings, socket=socket)
        if not socket:
            return serve(host=host, port=port, index=index, corpus=corpus)
        bot = _open_bot(settings)
    except BotError as e:
        _fail(e, False)
    err.print("Connecting to Slack (Socket Mode); Ctrl-C stops.", soft_wrap=True)
    slack_app.socket_mode(bot, settings).start()


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
