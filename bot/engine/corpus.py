"""Corpus: load policy documents and cut them into structure-aware chunks and units.

A document is Markdown (``.md``) or the seeds' plain layout (``.txt``), both with YAML front
matter naming the provider. Structure is the signal, so it is kept: heading paths, bullets
with the sentence that introduces their list, notes with the passage they qualify, and
matrix cells ("Responsibility: Total") with their row and column. Every span is an exact
slice of the source file, so citations quote it verbatim with offsets.

Why a hand parser and not markdown-it-py (measured with markdown-it-py 4.3, CommonMark preset):
mapping its tokens to blocks gives identical blocks, chunks, units and offsets for the three
Markdown documents we have (corpus/ and the blind vendor doc), but only with this module's own
rules added on top (admonition markers, matrix labels), and offsets must still be computed by
hand: tokens carry line maps, not character offsets. The plain ``.txt`` layout is not Markdown,
so the hand reader stays for it anyway. And on what web-copied policy text holds, the two read
differently: ``•``/``▪`` bullets, ``2)`` items after a line of text and a plain "Note" line
followed by its paragraph are a paragraph to markdown-it; a 4-space indented line is a code
block (its text dropped from the blocks); setext ``===`` headings and ATX headings indented
1-3 spaces are headings to it and text here. On 1,500 random Markdown documents built from
such lines, 1,368 parsed to different blocks. A second parser that agrees only on today's
files is not worth that, so there is one.
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
# Front matter ``anchors: <style>``: how the page at ``url`` names its sections' anchors, so a
# citation can link its section (``url#anchor``). ``github``: the heading lowercased, characters
# other than letters, digits, ``-``, ``_`` and spaces dropped, spaces as ``-``, repeats numbered
# ``-1``, ``-2`` (GitHub and most Markdown site generators and documentation sites). Without it (and for
# the plain ``.txt`` layout, which has no Markdown headings) citations link the page.
ANCHOR_STYLES = ("github",)
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
    text = _decode(raw, rel)  # Step 1: UTF-8 text
    meta = _front_matter(text, rel)  # Step 2: the YAML mapping at the top
    provider = _provider_id(meta, rel)  # Step 3: a short provider id
    aliases = meta.get("aliases") or []
    if isinstance(aliases, str):
        aliases = [a.strip() for a in aliases.split(",")]
    anchors = _anchor_style(meta, rel)  # Step 4: how the page names its sections, if it says
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
        anchors=anchors,
    )


def _decode(raw: bytes, rel: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{rel}: not UTF-8 text (byte {e.start})", hint="save the file as UTF-8 and re-run `triage index`"
        ) from None


def _front_matter(text: str, rel: str) -> dict:
    """The front matter as a mapping that names every key in :data:`REQUIRED`."""
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
    return meta


def _provider_id(meta: dict, rel: str) -> str:
    provider = str(meta["provider"]).strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", provider):
        raise CorpusError(f"{rel}: provider id {provider!r} must be short lowercase letters/digits/-/_")
    return provider


def _anchor_style(meta: dict, rel: str) -> str | None:
    style = str(meta.get("anchors") or "").strip().lower() or None
    if style is None:
        return None
    if style not in ANCHOR_STYLES:
        raise CorpusError(f"{rel}: unknown anchors style {style!r}", hint=f"use one of {', '.join(ANCHOR_STYLES)}, or drop the line to link the page")
    return None if rel.lower().endswith(".txt") else style  # the plain layout has no Markdown headings to link


def github_anchor(heading: str) -> str:
    """The anchor GitHub-style renderers give a heading (before numbering repeats)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) reads as its text
    text = re.sub(r"[*`]", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def section_anchors(text: str, style: str | None) -> tuple[tuple[int, str], ...]:
    """(offset, anchor) of each Markdown heading of a document, in order, for ``style``
    (see :data:`ANCHOR_STYLES`); empty without a style."""
    if style not in ANCHOR_STYLES:
        return ()
    m = _FRONT.match(text)
    seen: dict[str, int] = {}
    out: list[tuple[int, str]] = []
    for pos, line in _lines(text, m.end() if m else 0):
        h = _HEADING.match(line)
        if not h:
            continue
        base = slug = github_anchor(h.group(2))
        while slug in seen:  # a repeated heading: -1, -2, … as the renderer numbers them
            seen[base] += 1
            slug = f"{base}-{seen[base]}"
        seen[slug] = 0
        out.append((pos, slug))
    return tuple(out)


def section_link(url: str, anchors: tuple[tuple[int, str], ...], offset: int) -> str:
    """``url#anchor`` of the section holding ``offset`` (the last heading before it), else ``url``."""
    anchor = next((a for pos, a in reversed(anchors) if pos <= offset), None)
    return f"{url.split('#', 1)[0]}#{anchor}" if anchor else url


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
    reader = _BlockReader(doc_text, markdown)
    for pos, line in _lines(doc_text, body_start):
        reader.feed(pos, line)
    reader.close()
    if not markdown:
        return _recover_plain_headings(reader.blocks)
    return reader.blocks


@dataclass
class _BlockReader:
    """The line-by-line state of :func:`parse_blocks`: each line kind is one step, tried in order."""

    text: str
    markdown: bool
    blocks: list[Block] = field(default_factory=list)
    cur: Block | None = None  # open paragraph / item / note that a next line may continue
    pending_note: int | None = None  # indent of a plain "Note" line waiting for its paragraph
    in_quote_note: bool = False
    blank_before: bool = True

    def close(self) -> None:
        if self.cur is not None:
            self.cur.text = self.text[self.cur.start : self.cur.end]
            self.blocks.append(self.cur)
        self.cur = None

    def feed(self, pos: int, line: str) -> None:
        if not line.strip():
            self.close()
            self.in_quote_note = False
            self.blank_before = True
            return
        ind = _indent(line)
        steps = (self._heading, self._admonition, self._quote, self._note_line, self._item)
        if not any(step(pos, line, ind) for step in steps):
            self._text(pos, line, ind)
        self.blank_before = False

    def _heading(self, pos: int, line: str, ind: int) -> bool:
        if not (self.markdown and (m := _HEADING.match(line))):
            return False
        self.close()
        s = pos + m.start(2)
        self.blocks.append(Block("heading", s, s + len(m.group(2)), level=len(m.group(1)), text=m.group(2)))
        return True

    def _admonition(self, pos: int, line: str, ind: int) -> bool:
        if not (m := _ADMONITION.match(line)):
            return False
        self.close()
        self.in_quote_note = True
        if m.group(4).strip():
            self.cur = Block("note", *_content(pos, line, m.start(4)), indent=ind)
        return True

    def _quote(self, pos: int, line: str, ind: int) -> bool:
        if not ((m := _QUOTE.match(line)) and (self.in_quote_note or self.markdown)):
            return False
        cur = self.cur
        if cur is not None and cur.kind in ("note", "para") and not self.blank_before:
            cur.end = _content(pos, line, m.start(2))[1]
        else:
            self.close()
            kind = "note" if self.in_quote_note else "para"
            self.cur = Block(kind, *_content(pos, line, m.start(2)), indent=ind)
        return True

    def _note_line(self, pos: int, line: str, ind: int) -> bool:
        if not _NOTE_LINE.match(line):
            return False
        self.close()
        self.pending_note = ind
        return True

    def _item(self, pos: int, line: str, ind: int) -> bool:
        if not (m := _ITEM.match(line)):
            return False
        self.close()
        self.cur = Block("item", *_content(pos, line, m.start(2)), indent=ind)
        return True

    def _text(self, pos: int, line: str, ind: int) -> None:
        # Markdown: a line continues the open block if no blank line came between. The plain
        # layout (text copied from a web page) has one paragraph per line.
        if self.cur is not None and not self.blank_before and self.markdown:
            self.cur.end = _content(pos, line, 0)[1]
            return
        self.close()
        kind = "para"
        if self.pending_note is not None:
            kind, ind, self.pending_note = "note", max(ind, self.pending_note), None
        elif _LABEL.match(line.strip()):
            kind = "label"
        self.cur = Block(kind, *_content(pos, line, 0), indent=ind)


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
    rec = _HeadingRecovery()
    for i, b in enumerate(blocks):
        if _looks_like_heading(b):
            rec.heading_like(b, blocks[i + 1 :])
        else:
            rec.content(b)
    return rec.out


@dataclass
class _HeadingRecovery:
    """The state of :func:`_recover_plain_headings` while it walks the blocks."""

    out: list[Block] = field(default_factory=list)
    level: int = 1
    prev_heading: bool = False
    columns: list[str] | None = None  # column names of the table being read
    area_level: int | None = None  # heading level of that table's row areas
    col_i: int = 0

    def heading_like(self, b: Block, rest: list[Block]) -> None:
        """A short line: a table row area, a table header, or a heading."""
        if rest and rest[0].kind == "label" and self.area_level is not None:
            self.out.append(Block("heading", b.start, b.end, level=self.area_level, text=b.text))
            self.col_i = 0
            self.prev_heading = False
            return
        cols = _table_columns(b.text, rest)
        if cols:
            self.columns = cols
            last = self.out[-1] if self.out else None
            self.area_level = (last.level + 1) if last is not None and last.kind == "heading" else self.level + 1
            self.prev_heading = False
            return  # the header line itself is not content
        self._heading(b)

    def _heading(self, b: Block) -> None:
        if not any(o.kind == "heading" for o in self.out):
            self.level = 1
        elif self.prev_heading:
            self.level = self.out[-1].level + 1
        else:
            self.level = max(2, self.level)
        if self.area_level is not None and self.level <= self.area_level:
            self.area_level = None
            self.columns = None
        self.out.append(Block("heading", b.start, b.end, level=self.level, text=b.text))
        self.prev_heading = True

    def content(self, b: Block) -> None:
        """Any other block; a matrix cell inside a table gets its column as a synthetic heading."""
        if b.kind == "label" and self.area_level is not None:
            cols, i = self.columns, self.col_i
            name = cols[i] if cols and i < len(cols) else f"Column {i + 1}"
            self.out.append(Block("heading", b.start, b.start, level=self.area_level + 1, text=name, synthetic=True))
            self.col_i += 1
        self.out.append(b)
        self.prev_heading = False


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
    markdown = not doc.path.lower().endswith(".txt")
    # Step 1: the body as blocks in source order.
    blocks = parse_blocks(doc.text, m.end() if m else 0, markdown)
    # Step 2: each block placed under its headings: paragraph, note, list tree or matrix cell.
    outline = _Outline()
    for b in blocks:
        outline.place(b)
    # Step 3: chunks with their sentence units, kind by kind (the order decides ties below).
    cut = _Cutter(doc)
    cut.paragraphs(outline.paras, outline.items)
    cut.notes(outline.notes)
    cut.bullets(outline.items)
    cut.bare_labels(outline.labels)
    # Step 4: source order.
    cut.chunks.sort(key=lambda c: (c.start, c.end))
    cut.units.sort(key=lambda u: (u.start, u.end, u.role))
    return cut.chunks, cut.units


_Placed = tuple[Block, tuple[str, ...], "str | None", "Block | None"]  # block, headings, label, label block or context


@dataclass
class _Outline:
    """Blocks placed under their headings; which list, lead-in, label or note each belongs to."""

    heads: list[tuple[int, str]] = field(default_factory=list)
    label: str | None = None
    label_block: Block | None = None
    last_para: Block | None = None  # most recent top-level paragraph (lead-in candidate)
    open_items: list[_Item] = field(default_factory=list)
    prev: Block | None = None
    items: list[_Item] = field(default_factory=list)  # top-level bullets (the roots of list trees)
    paras: list[_Placed] = field(default_factory=list)  # (block, headings, label, label block)
    notes: list[_Placed] = field(default_factory=list)  # (block, headings, label, context block)
    labels: list[tuple[Block, tuple[str, ...]]] = field(default_factory=list)

    def place(self, b: Block) -> None:
        path = tuple(t for lvl, t in self.heads if lvl > 1)
        if b.kind == "heading":
            self._heading(b)
        elif b.kind == "label":
            self.label = " ".join(b.text.split())
            self.label_block = b
            self.labels.append((b, path))
        elif b.kind == "item":
            self._item(b, path)
        else:
            self._text(b, path)
        self.prev = b

    def _heading(self, b: Block) -> None:
        while self.heads and self.heads[-1][0] >= b.level:
            self.heads.pop()
        self.heads.append((b.level, b.text.strip()))
        self.label, self.label_block, self.last_para, self.open_items = None, None, None, []

    def _item(self, b: Block, path: tuple[str, ...]) -> None:
        while self.open_items and self.open_items[-1].block.indent >= b.indent:
            self.open_items.pop()
        parent = self.open_items[-1] if self.open_items else None
        lead = None
        if parent is None and self.last_para is not None and self.last_para.text.rstrip().endswith(":"):
            lead = self.last_para
        it = _Item(b, parent, lead, path, self.label, self.label_block)
        (parent.children if parent is not None else self.items).append(it)
        self.open_items.append(it)

    def _text(self, b: Block, path: tuple[str, ...]) -> None:
        """A note or paragraph: inside the deepest open bullet indented less than it, else top level."""
        owner = next((it for it in reversed(self.open_items) if it.block.indent < b.indent), None)
        if b.kind == "note":
            if owner is not None:
                owner.notes.append(b)
            else:
                prev = self.prev
                ctx = prev if prev is not None and prev.kind in ("para", "item", "note") else None
                self.notes.append((b, path, self.label, ctx))
        elif owner is not None:
            owner.extra.append(b)
        else:
            self.open_items = []
            self.paras.append((b, path, self.label, self.label_block))
            self.last_para = b


@dataclass
class _Cutter:
    """Chunks and units of one document, as they are cut."""

    doc: Document
    chunks: list[Chunk] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)

    def paragraphs(self, paras: list[_Placed], items: list[_Item]) -> None:
        doc = self.doc
        lead_ids = {id(it.lead) for it in _walk(items) if it.lead is not None}
        for b, path, lab, lab_block in paras:
            if id(b) in lead_ids:
                continue  # a list lead-in lives in the chunks of its bullets
            if not doc.text[b.start : b.end].strip():
                continue  # an empty block ("> " alone on a line) says nothing
            spans = ([_span(doc, "label", lab_block)] if lab_block is not None else []) + [_span(doc, "body", b)]
            c = self.add_chunk("matrix-row" if lab else "paragraph", path, spans)
            self.add_units(c, b, "body", path, [], lab)

    def notes(self, notes: list[_Placed]) -> None:
        doc = self.doc
        for b, path, lab, ctx in notes:
            if not doc.text[b.start : b.end].strip():
                continue  # an empty note ("> " alone on a line) says nothing
            spans = ([_span(doc, "context", ctx)] if ctx is not None else []) + [_span(doc, "note", b)]
            c = self.add_chunk("note", path, spans)
            qualified = _span(doc, "context", ctx) if ctx is not None else None
            self.add_units(c, b, "note", path, [], lab, qualified=qualified)

    def bullets(self, items: list[_Item]) -> None:
        for it in _walk(items):
            govs = self._governors(it)
            c = self.add_chunk("matrix-row" if it.label else "bullet", it.headings, self._bullet_spans(it))
            self.add_units(c, it.block, "body", it.headings, govs, it.label)
            for x in it.extra:
                self.add_units(c, x, "body", it.headings, govs, it.label)
            for n in it.notes:
                self.add_units(c, n, "note", it.headings, govs, it.label, qualified=_span(self.doc, "body", it.block))

    def _governors(self, it: _Item) -> list[Span]:
        """The sentences a bullet depends on: its ancestors' and its list's lead-in, nearest first."""
        govs: list[Span] = []
        anc = it.parent
        while anc is not None:
            govs.append(_last_sentence(self.doc, anc.block))
            if anc.parent is None and anc.lead is not None:
                govs.append(_last_sentence(self.doc, anc.lead))
            anc = anc.parent
        if it.parent is None and it.lead is not None:
            govs.append(_last_sentence(self.doc, it.lead))
        return govs

    def _bullet_spans(self, it: _Item) -> list[Span]:
        doc = self.doc
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
        return spans

    def bare_labels(self, labels: list[tuple[Block, tuple[str, ...]]]) -> None:
        """Matrix cells with no text besides their label still say who is responsible."""
        for b, path in labels:
            if not any(u.headings == path and u.label for u in self.units):
                c = self.add_chunk("matrix-row", path, [_span(self.doc, "label", b)])
                self.add_units(c, b, "label", path, [], " ".join(b.text.split()))

    def add_chunk(self, kind: str, headings: tuple[str, ...], spans: list[Span]) -> Chunk:
        doc = self.doc
        spans = [s for s in spans if s.end > s.start]
        cid = _hash(doc.id, kind, " > ".join(headings), *[f"{s.role}:{s.text}" for s in spans])
        body = [s for s in spans if s.role in ("body", "note", "label")] or spans
        start, end = min(s.start for s in body), max(s.end for s in body)
        c = Chunk(cid, doc.id, doc.provider, kind, headings, tuple(spans), start, end)  # type: ignore[arg-type]
        self.chunks.append(c)
        return c

    def add_units(self, chunk: Chunk, b: Block, role: str, headings, governors, label, qualified=None) -> None:
        """One unit per sentence of ``b``."""
        doc = self.doc
        for s, e in _sentences(doc, b):
            self.units.append(
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
