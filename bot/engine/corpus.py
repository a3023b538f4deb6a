"""Corpus: load policy documents and cut them into structure-aware chunks and units.

A document is Markdown (``.md``) or the seeds' plain layout (``.txt``), both with YAML front
matter naming the provider. Structure is the signal, so it is kept: heading paths, bullets
with the sentence that introduces their list, notes with the passage they qualify, and
matrix cells ("Responsibility: Total") with their row and column. Every span is an exact
slice of the source file, so citations quote it verbatim with offsets.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import CorpusError
from .text import sentence_spans
from .types import Chunk, Document, Provider, Span, Unit

SUFFIXES = (".md", ".markdown", ".txt")
REQUIRED = ("provider", "vendor", "title", "url")
CHUNKER_VERSION = "3"

_FRONT = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_ADMONITION = re.compile(r"^([ \t]*)>[ \t]*(?:\[!(\w+)\]|\*\*(note|important|warning|tip|caution)\*\*:?)[ \t]*(.*)$", re.I)
_QUOTE = re.compile(r"^([ \t]*)>[ \t]?(.*)$")
_ITEM = re.compile(r"^([ \t]*)(?:[-*+\u2022\u25aa\u25cf]|\d{1,3}[.)])[ \t]+(\S.*)$")
_NOTE_LINE = re.compile(r"^([ \t]*)(note|important|warning|tip|caution):?[ \t]*$", re.I)
_LABEL = re.compile(r"^[A-Z][\w' ]{1,40}:[ \t]+[A-Z][\w-]{1,20}\.?$")


# ---------------------------------------------------------------------------- loading


def _slug(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "doc"


def load_document(path: Path, root: Path) -> Document:
    """Read one file; raise :class:`CorpusError` naming the file and the fix."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{rel}: not UTF-8 text (byte {e.start})", hint="save the file as UTF-8 and re-run `triage index`"
        ) from None
    m = _FRONT.match(text)
    if not m:
        raise CorpusError(
            f"{rel}: no front matter",
            hint="start the file with '---' lines giving provider, vendor, title and url",
        )
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as e:
        raise CorpusError(f"{rel}: front matter is not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise CorpusError(f"{rel}: front matter must be a mapping of keys to values")
    missing = [k for k in REQUIRED if not str(meta.get(k) or "").strip()]
    if missing:
        raise CorpusError(f"{rel}: front matter lacks {', '.join(missing)}", hint="add them and re-run `triage index`")
    provider = str(meta["provider"]).strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", provider):
        raise CorpusError(f"{rel}: provider id {provider!r} must be short lowercase letters/digits/-/_")
    aliases = meta.get("aliases") or []
    if isinstance(aliases, str):
        aliases = [a.strip() for a in aliases.split(",")]
    return Document(
        id=f"{provider}/{_slug(path)}",
        provider=provider,
        vendor=str(meta["vendor"]).strip(),
        product=str(meta.get("product") or meta["vendor"]).strip(),
        title=str(meta["title"]).strip(),
        url=str(meta["url"]).strip(),
        path=rel,
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        aliases=tuple(str(a).strip() for a in aliases if str(a).strip()),
    )


def corpus_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise CorpusError(f"corpus folder {root} does not exist", hint="pass --corpus DIR or set BOT_CORPUS_DIR")
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.lower().startswith("readme")
    )
    if not files:
        raise CorpusError(f"corpus folder {root} has no .md or .txt documents")
    return files


def load_corpus(root: Path) -> list[Document]:
    docs = [load_document(p, root) for p in corpus_files(root)]
    seen: dict[str, str] = {}
    for d in docs:
        if d.id in seen:
            raise CorpusError(f"{d.path} and {seen[d.id]} both give document id {d.id}", hint="rename one file")
        seen[d.id] = d.path
    return docs


def providers_of(docs: list[Document]) -> dict[str, Provider]:
    """Providers discovered from front matter (first document of a provider wins)."""
    out: dict[str, Provider] = {}
    for d in docs:
        if d.provider in out:
            p = out[d.provider]
            out[d.provider] = Provider(p.id, p.vendor, p.product, tuple(dict.fromkeys(p.aliases + d.aliases)))
        else:
            out[d.provider] = Provider(d.provider, d.vendor, d.product, d.aliases)
    return out


# ---------------------------------------------------------------------------- blocks


@dataclass
class Block:
    kind: str  # heading | para | item | note | label
    start: int
    end: int
    indent: int = 0
    level: int = 0  # heading level
    text: str = ""
    synthetic: bool = False  # a heading recovered from a flattened table header (no source span)


def _lines(text: str, offset: int):
    pos = offset
    for line in text[offset:].splitlines(keepends=True):
        body = line.rstrip("\r\n")
        yield pos, body
        pos += len(line)


def _content(pos: int, line: str, col: int) -> tuple[int, int]:
    """Span of ``line[col:]`` stripped of surrounding blanks, in file offsets."""
    seg = line[col:]
    lead = len(seg) - len(seg.lstrip())
    return pos + col + lead, pos + len(line.rstrip())


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def parse_blocks(doc_text: str, body_start: int, markdown: bool) -> list[Block]:
    """Flat list of blocks in source order (lists are nested later)."""
    blocks: list[Block] = []
    cur: Block | None = None  # open paragraph / item / note that a next line may continue
    pending_note: int | None = None  # indent of a plain "Note" line waiting for its paragraph
    in_quote_note = False
    blank_before = True

    def close():
        nonlocal cur
        if cur is not None:
            cur.text = doc_text[cur.start : cur.end]
            blocks.append(cur)
        cur = None

    for pos, line in _lines(doc_text, body_start):
        if not line.strip():
            close()
            in_quote_note = False
            blank_before = True
            continue
        ind = _indent(line)
        if markdown and (m := _HEADING.match(line)):
            close()
            s = pos + m.start(2)
            blocks.append(Block("heading", s, s + len(m.group(2)), level=len(m.group(1)), text=m.group(2)))
            blank_before = False
            continue
        if m := _ADMONITION.match(line):
            close()
            in_quote_note = True
            if m.group(4).strip():
                cur = Block("note", *_content(pos, line, m.start(4)), indent=ind)
            blank_before = False
            continue
        if (m := _QUOTE.match(line)) and (in_quote_note or markdown):
            if cur is not None and cur.kind in ("note", "para") and not blank_before:
                cur.end = _content(pos, line, m.start(2))[1]
            else:
                close()
                cur = Block("note" if in_quote_note else "para", *_content(pos, line, m.start(2)), indent=ind)
            blank_before = False
            continue
        if m := _NOTE_LINE.match(line):
            close()
            pending_note = ind
            blank_before = False
            continue
        if m := _ITEM.match(line):
            close()
            cur = Block("item", *_content(pos, line, m.start(2)), indent=ind)
            blank_before = False
            continue
        # Markdown: a line continues the open block if no blank line came between. The plain
        # layout (text copied from a web page) has one paragraph per line.
        if cur is not None and not blank_before and markdown:
            cur.end = _content(pos, line, 0)[1]
            continue
        close()
        kind = "para"
        if pending_note is not None:
            kind, ind, pending_note = "note", max(ind, pending_note), None
        elif _LABEL.match(line.strip()):
            kind = "label"
        cur = Block(kind, *_content(pos, line, 0), indent=ind)
        blank_before = False
    close()
    if not markdown:
        blocks = _recover_plain_headings(blocks)
    return blocks


def _looks_like_heading(b: Block) -> bool:
    t = b.text.strip()
    return (
        b.kind == "para"
        and b.indent == 0
        and "\n" not in t
        and 0 < len(t) <= 90
        and len(t.split()) <= 12
        and t[-1] not in ".:;,?!"
        and (t[0].isupper() or t[0].isdigit())
    )


def _recover_plain_headings(blocks: list[Block]) -> list[Block]:
    """Plain text has no heading markers: short lines of their own become headings.

    Levels: the first is the title (1); a heading right after a heading is its child; later
    headings are siblings of the last one. A flattened table header ("Area <col> <col>") is
    turned into column sub-headings of the areas that follow it.
    """
    out: list[Block] = []
    level = 1
    prev_heading = False
    columns: list[str] | None = None
    area_level: int | None = None
    col_i = 0
    for i, b in enumerate(blocks):
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if _looks_like_heading(b):
            if nxt is not None and nxt.kind == "label" and area_level is not None:
                out.append(Block("heading", b.start, b.end, level=area_level, text=b.text))
                col_i = 0
                prev_heading = False
                continue
            cols = _table_columns(b.text, blocks[i + 1 :])
            if cols:
                columns = cols
                area_level = (out[-1].level + 1) if out and out[-1].kind == "heading" else level + 1
                prev_heading = False
                continue  # the header line itself is not content
            if not any(o.kind == "heading" for o in out):
                level = 1
            elif prev_heading:
                level = out[-1].level + 1
            else:
                level = max(2, level)
            if area_level is not None and level <= area_level:
                area_level = None
                columns = None
            out.append(Block("heading", b.start, b.end, level=level, text=b.text))
            prev_heading = True
            continue
        if b.kind == "label" and area_level is not None:
            name = (columns[col_i] if columns and col_i < len(columns) else f"Column {col_i + 1}")
            out.append(Block("heading", b.start, b.start, level=area_level + 1, text=name, synthetic=True))
            col_i += 1
        out.append(b)
        prev_heading = False
    return out


def _table_columns(text: str, rest: list[Block]) -> list[str] | None:
    """Column names of a flattened table header, if the blocks after it are matrix cells."""
    upcoming = rest[:4]
    if not any(b.kind == "label" for b in upcoming):
        return None
    labels = [b.text.split(":")[0].strip() for b in rest[:6] if b.kind == "label"]
    key = labels[0].split()[-1] if labels else ""
    if not key:
        return None
    parts = re.findall(rf"(.+?\b{re.escape(key)})(?=\s|$)", text.split(" ", 1)[-1])
    cols = [p.strip() for p in parts if p.strip()]
    return cols if len(cols) >= 2 else None


# ---------------------------------------------------------------------------- chunks and units


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def _span(doc: Document, role: str, b: Block) -> Span:
    return Span(role, b.start, b.end, doc.text[b.start : b.end])  # type: ignore[arg-type]


def _last_sentence(doc: Document, b: Block) -> Span:
    spans = sentence_spans(doc.text[b.start : b.end])
    s, e = spans[-1] if spans else (0, b.end - b.start)
    return Span("lead", b.start + s, b.start + e, doc.text[b.start + s : b.start + e])


def _sentences(doc: Document, b: Block) -> list[tuple[int, int]]:
    return [(b.start + s, b.start + e) for s, e in sentence_spans(doc.text[b.start : b.end])]


@dataclass
class _Item:
    block: Block
    parent: "_Item | None"
    lead: Block | None  # the paragraph that introduces the list
    headings: tuple[str, ...]
    label: str | None
    label_block: Block | None = None
    children: list["_Item"] = field(default_factory=list)
    notes: list[Block] = field(default_factory=list)
    extra: list[Block] = field(default_factory=list)  # continuation paragraphs


def chunk_document(doc: Document) -> tuple[list[Chunk], list[Unit]]:
    """Cut one document into chunks (for retrieval) and units (for the verdict)."""
    m = _FRONT.match(doc.text)
    body_start = m.end() if m else 0
    markdown = not doc.path.lower().endswith(".txt")
    blocks = parse_blocks(doc.text, body_start, markdown)

    heads: list[tuple[int, str]] = []
    label: str | None = None
    label_block: Block | None = None
    last_para: Block | None = None  # most recent top-level paragraph (lead-in candidate)
    items: list[_Item] = []
    open_items: list[_Item] = []
    paras: list[tuple[Block, tuple[str, ...], str | None, Block | None]] = []  # (block, headings, label, label block)
    notes: list[tuple[Block, tuple[str, ...], str | None, Block | None]] = []
    labels: list[tuple[Block, tuple[str, ...]]] = []
    prev: Block | None = None

    for b in blocks:
        path = tuple(t for lvl, t in heads if lvl > 1)
        if b.kind == "heading":
            while heads and heads[-1][0] >= b.level:
                heads.pop()
            heads.append((b.level, b.text.strip()))
            label, label_block, last_para, open_items = None, None, None, []
            prev = b
            continue
        if b.kind == "label":
            label = " ".join(b.text.split())
            label_block = b
            labels.append((b, path))
            prev = b
            continue
        if b.kind == "item":
            while open_items and open_items[-1].block.indent >= b.indent:
                open_items.pop()
            parent = open_items[-1] if open_items else None
            lead = None
            if parent is None and last_para is not None and last_para.text.rstrip().endswith(":"):
                lead = last_para
            it = _Item(b, parent, lead, path, label, label_block)
            if parent is not None:
                parent.children.append(it)
            else:
                items.append(it)
            open_items.append(it)
            prev = b
            continue
        owner = next((it for it in reversed(open_items) if it.block.indent < b.indent), None)
        if b.kind == "note":
            if owner is not None:
                owner.notes.append(b)
            else:
                ctx = prev if prev is not None and prev.kind in ("para", "item", "note") else None
                notes.append((b, path, label, ctx))
            prev = b
            continue
        # paragraph
        if owner is not None:
            owner.extra.append(b)
            prev = b
            continue
        open_items = []
        paras.append((b, path, label, label_block))
        last_para = b
        prev = b

    chunks: list[Chunk] = []
    units: list[Unit] = []

    def add_chunk(kind: str, headings: tuple[str, ...], spans: list[Span]) -> Chunk:
        spans = [s for s in spans if s.end > s.start]
        cid = _hash(doc.id, kind, " > ".join(headings), *[f"{s.role}:{s.text}" for s in spans])
        body = [s for s in spans if s.role in ("body", "note", "label")] or spans
        c = Chunk(cid, doc.id, doc.provider, kind, headings, tuple(spans), min(s.start for s in body), max(s.end for s in body))  # type: ignore[arg-type]
        chunks.append(c)
        return c

    def add_units(chunk: Chunk, b: Block, role: str, headings, governors, label, qualified=None):
        for s, e in _sentences(doc, b):
            units.append(
                Unit(
                    id=_hash(chunk.id, role, str(s), str(e)),
                    doc_id=doc.id,
                    provider=doc.provider,
                    chunk_id=chunk.id,
                    role=role,  # type: ignore[arg-type]
                    headings=headings,
                    text=doc.text[s:e],
                    start=s,
                    end=e,
                    block_start=b.start,
                    block_end=b.end,
                    governors=tuple(governors),
                    label=label,
                    qualified=qualified,
                )
            )

    lead_ids = {id(it.lead) for it in _walk(items) if it.lead is not None}

    for b, path, lab, lab_block in paras:
        if id(b) in lead_ids:
            continue  # a list lead-in lives in the chunks of its bullets
        spans = ([_span(doc, "label", lab_block)] if lab_block is not None else []) + [_span(doc, "body", b)]
        c = add_chunk("matrix-row" if lab else "paragraph", path, spans)
        add_units(c, b, "body", path, [], lab)

    for b, path, lab, ctx in notes:
        spans = ([_span(doc, "context", ctx)] if ctx is not None else []) + [_span(doc, "note", b)]
        c = add_chunk("note", path, spans)
        add_units(c, b, "note", path, [], lab, qualified=_span(doc, "context", ctx) if ctx is not None else None)

    for it in _walk(items):
        govs: list[Span] = []
        anc = it.parent
        while anc is not None:
            govs.append(_last_sentence(doc, anc.block))
            if anc.parent is None and anc.lead is not None:
                govs.append(_last_sentence(doc, anc.lead))
            anc = anc.parent
        if it.parent is None and it.lead is not None:
            govs.append(_last_sentence(doc, it.lead))
        spans: list[Span] = [_span(doc, "label", it.label_block)] if it.label_block is not None else []
        if it.lead is not None and it.parent is None:
            spans.append(_span(doc, "lead", it.lead))
        if it.parent is not None:
            root = it.parent
            while root.parent is not None:
                root = root.parent
            if root.lead is not None:
                spans.append(_span(doc, "lead", root.lead))
            spans.append(_span(doc, "parent", it.parent.block))
        spans.append(_span(doc, "body", it.block))
        spans += [_span(doc, "body", x) for x in it.extra]
        spans += [_span(doc, "body", ch.block) for ch in it.children]
        spans += [_span(doc, "note", n) for n in it.notes]
        c = add_chunk("matrix-row" if it.label else "bullet", it.headings, spans)
        add_units(c, it.block, "body", it.headings, govs, it.label)
        for x in it.extra:
            add_units(c, x, "body", it.headings, govs, it.label)
        for n in it.notes:
            add_units(c, n, "note", it.headings, govs, it.label, qualified=_span(doc, "body", it.block))

    # matrix cells with no text besides their label still say who is responsible
    for b, path in labels:
        if not any(u.headings == path and u.label for u in units):
            c = add_chunk("matrix-row", path, [_span(doc, "label", b)])
            add_units(c, b, "label", path, [], " ".join(b.text.split()))

    chunks.sort(key=lambda c: (c.start, c.end))
    units.sort(key=lambda u: (u.start, u.end, u.role))
    return chunks, units


def _walk(items: list[_Item]):
    for it in items:
        yield it
        yield from _walk(it.children)


def chunk_corpus(docs: list[Document]) -> tuple[list[Chunk], list[Unit]]:
    chunks: list[Chunk] = []
    units: list[Unit] = []
    for d in docs:
        c, u = chunk_document(d)
        chunks += c
        units += u
    return chunks, units
