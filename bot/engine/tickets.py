"""Ticket files: read CSV or JSONL exports row by row, map columns, find the questions.

Nothing here raises for a bad row: a row that cannot be used (broken CSV quoting, a wrong
number of fields, bytes that are not UTF-8, a NUL byte, invalid JSON, no id, no text) becomes a
:class:`Ticket` with ``error`` set and its line number, so a batch run can report it in place
and go on. Only problems with the whole file (missing, empty, unknown columns) raise
:class:`~bot.errors.InputError`.
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .claims import drop_claims
from .errors import InputError
from .providers import ProviderNames
from .query import strip_noise

FORMATS = ("csv", "jsonl")
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
DEFAULT_ID = "id"
DEFAULT_PROVIDER = "provider"
AUTO_TEXT = ("question", "text")  # else subject + body
SUBJECT_BODY = ("subject", "body")


def format_of(path: Path, explicit: str | None = None) -> str | None:
    """``csv`` or ``jsonl``: the explicit choice, else the file extension (None if unknown)."""
    if explicit:
        f = explicit.strip().lower().lstrip(".")
        f = {"ndjson": "jsonl", "json": "jsonl", "tsv": "csv"}.get(f, f)
        if f not in FORMATS:
            raise InputError(f"unknown format {explicit!r}", hint="use csv or jsonl")
        return f
    return EXTENSIONS.get(Path(path).suffix.lower())


def delimiter_for(path: Path, header_line: str = "") -> str:
    """Tab for .tsv; otherwise whichever of , ; or tab the header line uses most (default ,).

    Not ``csv.Sniffer``: it agrees on the test files and evals/tickets.csv, but on a one-line
    sample its preference order decides, so a semicolon header with one comma in a column
    name (``Id;Subject;Body, text``) comes out as comma-separated; counting does not."""
    if Path(path).suffix.lower() == ".tsv":
        return "\t"
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# -- CSV records, robust to broken rows ----------------------------------------------------


@dataclass(frozen=True)
class CsvRecord:
    line: int  # 1-based physical line where the record starts
    end: int  # byte offset just past the record
    fields: tuple[str, ...]
    error: str | None
    complete: bool  # ends with a line break (a row cut short by a crash does not)


def _physical_lines(data: bytes) -> tuple[list[str], list[int]]:
    """Lines with their endings, decoded keeping undecodable bytes as surrogates; offsets[i]
    is where line i starts (offsets[-1] is the end)."""
    lines: list[str] = []
    offsets = [0]
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        lines.append(data[pos:end].decode("utf-8", "surrogateescape"))
        offsets.append(end)
        pos = end
    return lines, offsets


def _parse_at(lines: list[str], i: int, delimiter: str) -> tuple[list[str], int, str | None]:
    """One record starting at line ``i``: (fields, index of the next line, error)."""
    reader = csv.reader((lines[k] for k in range(i, len(lines))), delimiter=delimiter, strict=True)
    try:
        return next(reader), i + reader.line_num, None
    except csv.Error as e:
        msg = "a quoted field is never closed" if "unexpected end of data" in str(e) else f"bad CSV quoting ({e})"
        return [], i + max(1, reader.line_num), msg
    except StopIteration:
        return [], len(lines), None


def csv_records(data: bytes, delimiter: str = ",") -> Iterator[CsvRecord]:
    """Records of a CSV file. A record with broken quoting is reported as one error and reading
    starts again at the next line that begins a well-formed record, so one bad row never
    swallows the rows after it (a line that is a row of its own is never counted into the bad
    one). The first record (the header) sets the expected width."""
    lines, offsets = _physical_lines(data)
    width: int | None = None
    i = 0
    while i < len(lines):
        if not lines[i].strip("\r\n"):
            i += 1
            continue
        fields, j, err = _parse_at(lines, i, delimiter)
        if err is not None:
            j = _resync(lines, i + 1, delimiter)
            fields = next(csv.reader([lines[i]], delimiter=delimiter), [])  # leniently, to name the row
        elif width is None:
            width = len(fields)
        elif len(fields) != width:
            err = f"{len(fields)} fields where the header has {width}"
        yield CsvRecord(i + 1, offsets[j], tuple(fields), err, lines[j - 1].endswith("\n"))
        i = j


def _resync(lines: list[str], k: int, delimiter: str) -> int:
    while k < len(lines):
        if lines[k].strip("\r\n") and _parse_at(lines, k, delimiter)[2] is None:
            return k
        k += 1
    return len(lines)


# -- JSONL records --------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonRecord:
    line: int
    end: int
    obj: dict | None
    error: str | None
    complete: bool


def jsonl_records(data: bytes) -> Iterator[JsonRecord]:
    pos = 0
    n = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        raw = data[pos:end]
        n += 1
        pos = end
        if not raw.strip():
            continue
        obj, err = None, None
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            err = f"bytes that are not UTF-8 (at byte {e.start})"
        except ValueError as e:
            err = f"invalid JSON ({str(e)[:120]})"
        if err is None and not isinstance(obj, dict):
            obj, err = None, f"a JSON {type(obj).__name__}, not an object"
        yield JsonRecord(n, end, obj, err, raw.endswith(b"\n"))


# -- tickets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    line: int
    id: str | None
    fields: dict[str, Any]  # the input columns, as read (for the output row)
    text: str  # the text columns joined
    provider: str | None  # the raw value of the provider column
    error: str | None = None


@dataclass
class TicketFile:
    path: Path
    format: str
    columns: list[str]  # input columns in order (CSV header; JSONL keys by first appearance)
    id_col: str
    text_cols: tuple[str, ...] | None  # None: the first of question, text, subject+body per row
    provider_col: str | None
    tickets: list[Ticket] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(1 for t in self.tickets if t.error)


_SURROGATE = re.compile("[\udc80-\udcff]")


def _clean_cell(v: str) -> str:
    """A cell with undecodable bytes and NULs shown as U+FFFD (so it can be written back)."""
    if _SURROGATE.search(v):
        v = v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return v.replace("\x00", "\ufffd")


def _cell_problem(fields: dict[str, Any]) -> str | None:
    for k, v in fields.items():
        if isinstance(v, str) and _SURROGATE.search(v):
            return f"bytes that are not UTF-8 in column {k!r}"
        if isinstance(v, str) and "\x00" in v:
            return f"a NUL byte in column {k!r}"
    return None


def _str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float, bool)):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def ticket_text(fields: dict[str, Any], text_cols: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    """The ticket text and the columns it came from: the given columns joined by a blank line,
    or by default the first non-empty of ``question``, ``text``, ``subject``+``body``."""
    if text_cols:
        cols = tuple(text_cols)
    else:
        cols = next(((c,) for c in AUTO_TEXT if _str(fields.get(c)).strip()), SUBJECT_BODY)
        if cols == SUBJECT_BODY and not any(_str(fields.get(c)).strip() for c in SUBJECT_BODY):
            cols = tuple(c for c in (*AUTO_TEXT, *SUBJECT_BODY) if c in fields) or AUTO_TEXT[:1]
    parts = [_str(fields.get(c)).strip() for c in cols]
    return "\n\n".join(p for p in parts if p), cols


def _split_cols(text_cols: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if text_cols is None:
        return None
    cols = tuple(c.strip() for c in (text_cols.split(",") if isinstance(text_cols, str) else text_cols) if c.strip())
    if not cols:
        raise InputError("--text-cols names no column", hint="e.g. --text-cols subject,body")
    return cols


def read_tickets(
    path: Path,
    *,
    fmt: str | None = None,
    id_col: str | None = None,
    text_cols: str | Sequence[str] | None = None,
    provider_col: str | None = None,
) -> TicketFile:
    """Read a whole ticket file. Bad rows become tickets with ``error``; a file that cannot be
    used at all (missing, empty, a column mapping that names no column) raises InputError."""
    t0 = time.perf_counter()
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"input file {path} not found") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a ticket file") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    fmt = format_of(path, fmt) or ("jsonl" if data.lstrip()[:1] == b"{" else "csv")
    cols = _split_cols(text_cols)
    if not data.strip():
        raise InputError(f"input file {path} is empty")
    if fmt == "csv":
        columns, raw = _csv_rows(path, data)
    else:
        columns, raw = _jsonl_rows(data)
    tf = TicketFile(path, fmt, columns, id_col or DEFAULT_ID, cols, provider_col or DEFAULT_PROVIDER)
    _check_mapping(tf, id_col is not None, provider_col is not None)
    if tf.provider_col not in columns:
        tf.provider_col = None
    for line, fields, problem in raw:
        tf.tickets.append(_ticket(tf, line, fields, problem))
    tf.seconds = time.perf_counter() - t0
    return tf


def _csv_rows(path: Path, data: bytes) -> tuple[list[str], list[tuple[int, dict, str | None]]]:
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    records = csv_records(data, delimiter_for(path, first))
    header = next(records)
    if header.error:
        raise InputError(f"{path}: the header row (line {header.line}) is broken: {header.error}")
    columns: list[str] = []
    for n, name in enumerate(header.fields, 1):
        name = _clean_cell(name).strip() or f"column{n}"
        if name in columns:
            raise InputError(f"{path}: column {name!r} appears twice in the header")
        columns.append(name)
    rows = []
    for r in records:
        fields = {c: _clean_cell(v) for c, v in zip(columns, r.fields)} if r.fields else {}
        problem = r.error or _cell_problem(dict(zip(columns, r.fields)))
        if r.error and len(r.fields) != len(columns):  # shifted or partial: keep what names the row
            fields = {columns[0]: fields[columns[0]]} if fields else {}
        rows.append((r.line, fields, problem))
    return columns, rows


def _jsonl_rows(data: bytes) -> tuple[list[str], list[tuple[int, dict, str | None]]]:
    columns: dict[str, None] = {}
    rows = []
    for r in jsonl_records(data):
        if r.obj is not None:
            columns.update(dict.fromkeys(r.obj))
        rows.append((r.line, r.obj or {}, r.error or (_cell_problem(r.obj) if r.obj else None)))
    return list(columns), rows


def _check_mapping(tf: TicketFile, id_given: bool, provider_given: bool) -> None:
    have = set(tf.columns)
    listed = ", ".join(tf.columns[:20]) or "none"
    if tf.id_col not in have:
        raise InputError(
            f"{tf.path}: no column {tf.id_col!r} for the ticket id (columns: {listed})",
            hint="name the id column with --id-col" if not id_given else "check --id-col",
        )
    if tf.text_cols:
        missing = [c for c in tf.text_cols if c not in have]
        if missing:
            raise InputError(f"{tf.path}: no column {missing[0]!r} for the text (columns: {listed})", hint="check --text-cols")
    elif not have & {*AUTO_TEXT, *SUBJECT_BODY}:
        raise InputError(
            f"{tf.path}: no text column: none of question, text, subject, body (columns: {listed})",
            hint="name the text columns with --text-cols, e.g. --text-cols title,description",
        )
    if provider_given and tf.provider_col not in have:
        raise InputError(f"{tf.path}: no column {tf.provider_col!r} for the provider (columns: {listed})", hint="check --provider-col")


def _ticket(tf: TicketFile, line: int, fields: dict, problem: str | None) -> Ticket:
    rid = _str(fields.get(tf.id_col)).strip() or None
    provider = _str(fields.get(tf.provider_col)).strip() or None if tf.provider_col else None
    if problem:
        return Ticket(line, rid, fields, "", provider, f"line {line}: {problem}")
    if rid is None:
        return Ticket(line, None, fields, "", provider, f"line {line}: missing id (column {tf.id_col!r})")
    text, cols = ticket_text(fields, tf.text_cols)
    if not text.strip():
        return Ticket(line, rid, fields, "", provider, f"line {line}: empty text (column{'s' if len(cols) > 1 else ''} {', '.join(cols)})")
    return Ticket(line, rid, fields, text, provider)


# -- the questions inside a ticket -------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.?!])\s+")
_REQUEST = re.compile(
    r"(?i)^(?:please|pls|kindly|can you|could you)?\s*(?:confirm|clarify|advise|let (?:us|me) know)\b"
    r"|^(?:we|i) (?:need|want|would like|'d like) to know\b|^i'd like to know\b"
)
_LEAD_IN = re.compile(
    r"(?i)^(?:(?:and|also|plus|p\.?s\.?)[:,]?\s+|(?:and\s+)?(?:a\s+|one\s+)?(?:second|another|last|final|other|follow[- ]up|more)\s+"
    r"(?:question|thing)[:,.-]\s*)+"
)
_POINTS_BACK = re.compile(r"(?i)^(?:is|are|was|does|do|can|could|will|would|should)\s+(?:that|this|it|these|those|such)\b")
_SOCIAL = re.compile(
    r"(?i)^(?:any (?:update|news|progress|ideas?|thoughts)|how are you|hope you|does (?:that|this) make sense|"
    r"is (?:that|this) (?:ok|okay|clear|correct)|can (?:you|we) (?:close|schedule|have a call|jump on|get on)|"
    r"(?:can|could) (?:you|someone) (?:please )?(?:help|take a look|look into (?:it|this)|get back to)(?: (?:us|me))?(?: (?:please|asap|urgently))?[?.!]*$)"
)


def _asks(sentence: str) -> bool:
    return "?" in sentence or bool(_REQUEST.match(sentence))


def extract_questions(cleaned: str, has_subject: Callable[[str], bool] = lambda q: True, limit: int = 5) -> list[str]:
    """The support questions a (noise-stripped) ticket asks, in order: sentences with a question
    mark or an explicit request ("please confirm whether …"), without lead-ins like "Also:",
    a question that points back ("Is that supported?") joined to the sentence before it,
    social questions ("Any update?") and questions without a subject dropped, duplicates
    dropped. At most ``limit``."""
    sents = [s.strip() for s in _SENTENCE.split(cleaned) if s.strip()]
    out: list[str] = []
    seen: set[str] = set()
    for i, s in enumerate(sents):
        if not _asks(s):
            continue
        q = _LEAD_IN.sub("", s, count=1).strip() or s
        if _SOCIAL.match(q):
            continue
        if i > 0 and (_POINTS_BACK.match(q) or not has_subject(q)) and not _asks(sents[i - 1]):
            q = f"{sents[i - 1]} {q}"
        if not has_subject(q):
            continue
        key = " ".join(re.findall(r"[a-z0-9]+", q.lower()))
        if key in seen:
            continue
        seen.add(key)
        out.append(q)
        if len(out) >= limit:
            break
    return out


# -- one ticket, ready to answer ---------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A ticket as the engine answers it: every front end (API, batch, chat) gets it from
    :func:`prepare`, so trimming, provider names and question splitting mean the same
    everywhere."""

    text: str  # the ticket text, trimmed at the ticket limit
    provider: str | None  # the caller's provider, resolved to an id (None: all it names, else all)
    mentioned: tuple[str, ...] = ()  # provider ids the text names
    questions: tuple[str, ...] = ()  # its separate questions, when it asks more than one
    question_scope: str | None = None  # the provider the separate questions are scoped to
    notes: tuple[str, ...] = ()  # what was done to the text (trimmed)


def prepare(
    ticket_text: str,
    provider: str | None = None,
    *,
    limit: int,
    names: ProviderNames,
    has_subject: Callable[[str], bool],
    split: bool = True,
) -> Prepared:
    """Trim ``ticket_text`` at ``limit`` characters (with a note), resolve ``provider`` by id or
    any name (InputError for an unknown one or an empty text) and, with ``split``, find its
    separate questions (:func:`extract_questions`). The separate questions are scoped to the
    ticket's provider, else to the one provider the text names, else to all."""
    if not ticket_text.strip():
        raise InputError("the ticket text is empty", hint="send the ticket's text")
    text, notes = ticket_text, ()
    if len(text) > limit:
        text = text[:limit]
        notes = (f"ticket text trimmed from {len(ticket_text):,} to {limit:,} characters",)
    pid = names.resolve(provider)
    ask = drop_claims(text).text  # what the ticket claims the policy says names no vendor and asks nothing
    mentioned = names.mentioned(ask)
    questions = _questions(ask, has_subject) if split else ()
    scope = pid or (mentioned[0] if len(mentioned) == 1 else None)
    return Prepared(text, pid, mentioned, questions, scope if questions else None, notes)


def _questions(text: str, has_subject: Callable[[str], bool]) -> tuple[str, ...]:
    """The ticket's separate questions; none when it asks one (it is answered whole)."""
    cleaned = strip_noise(text)
    found = extract_questions(cleaned, has_subject) if len(cleaned) > 40 else []
    return tuple(found) if len(found) > 1 else ()
