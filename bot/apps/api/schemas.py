"""Request and response bodies of the HTTP API (pydantic lives here, at the edge), the error
statuses each route documents, and the security schemes in the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ...runtime.auth import WIDGET_HEADER, WIDGET_ROUTES, Access, needs_key
from ...runtime.sanitize import clean_input, fix_surrogates

_PLACEHOLDER = "Is <tool> supported?"


class _In(BaseModel):
    """A request body: unpaired surrogates (``"\\ud800"`` in JSON) in any text become U+FFFD,
    so nothing downstream (SQLite, the JSON encoder) chokes on them."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_surrogates(cls, v):
        return fix_surrogates(v) if isinstance(v, str) else v


def _clean_optional(v: str | None) -> str | None:
    """A provider name or a comment without invisible or control characters; nothing left is None."""
    return (clean_input(v).strip() or None) if isinstance(v, str) else v


class AskIn(_In):
    question: str = Field(..., description="The question or ticket text.", examples=[_PLACEHOLDER])
    provider: str | None = Field(None, description="Scope to one provider: its id or any of its names (GET /v1/providers); all when null.")
    session_id: str | None = Field(
        None, max_length=128, pattern=r"^[\w.:-]+$",
        description="Conversation id: follow-ups ('and on <provider>?', 'what about <tool>?') resolve against "
        "the previous turn of the same session. One is created and returned when null.",
    )
    explain: bool = Field(False, description="Also return `explain`: the extracted ask and, per vendor, the candidates with their ranks, "
                          "the reader's and the rules engine's scores, and why the verdict or abstention was chosen.")

    _provider = field_validator("provider")(_clean_optional)


class TicketIn(_In):
    """One ticket. A ticket that does not fit this shape (no ``id``, no ``text``, not an
    object) is not a 422 for the whole batch: it gets an error in its place."""

    id: str | int = Field(..., description="Your id; echoed back. A ticket without one gets an error in its place (the others are answered).")
    text: str = Field(..., description="The ticket or question text.")
    provider: str | None = Field(None, description="Scope to one provider: its id or any of its names; all when null.")
    _problem: str | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _error_in_place(cls, data: Any, handler):
        try:
            return handler(data)
        except ValidationError as e:
            raw = data.get("id") if isinstance(data, dict) else None
            ticket = cls.model_construct(id=raw if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None, text="")
            ticket._problem = "; ".join(f"{'.'.join(map(str, er['loc'])) or 'ticket'}: {er['msg']}" for er in e.errors()[:3])
            return ticket

    @property
    def problem(self) -> str | None:
        """Why this ticket cannot be answered (it did not validate), else None."""
        return self._problem

    @property
    def echo_id(self) -> str | None:
        return None if self.id is None else str(self.id)

    _provider = field_validator("provider")(_clean_optional)


class ClassifyIn(_In):
    tickets: list[TicketIn] = Field(..., description="At most `max_classify_items` (1000 by default).")


class FeedbackIn(_In):
    answer_id: str = Field(..., max_length=64)
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=4000)

    _comment = field_validator("comment")(_clean_optional)


class CitationOut(BaseModel):
    doc: str
    title: str
    section: str
    quote: str = Field(..., description="Verbatim text of the document at [start:end].")
    url: str
    start: int
    end: int
    score: float
    link: str = Field(..., description="The section's address (`url#anchor`) when the document declares its anchor style, else `url`.")


class FindingOut(BaseModel):
    provider: str
    verdict: Literal["covered", "best-effort", "not-covered", "unknown"]
    confidence: float
    escalate: bool = Field(..., description="A human must check this finding: undecided, or decided below BOT_ESCALATE_BELOW (shown as e.g. \"covered? — check\").")
    reason: str = Field(..., description="Why the verdict follows: the deciding words of the policy (lead-in, matrix label, heading or the passage's own), the passage, and any condition the ticket does not settle.")
    citations: list[CitationOut]


class AnswerOut(BaseModel):
    question: str = Field(..., description="The question as sent, without invisible and control characters.")
    verdict: Literal["covered", "best-effort", "not-covered", "unknown", "mixed"]
    escalate: bool = Field(..., description="True when a human should decide.")
    answer: str = Field(..., description="Markdown-ish text composed only from the documents.")
    findings: list[FindingOut]
    answer_id: str = Field(..., description="Rate it with POST /v1/feedback.")


class AskOut(AnswerOut):
    resolved_question: str = Field(..., description="The question answered: a follow-up rewritten from the previous turn.")
    session_id: str
    explain: dict[str, Any] | None = Field(None, description="With `\"explain\": true`: how each verdict was reached (see `triage ask --explain`).")


Route = Literal["vendor-support", "vendor-best-effort", "customer-responsibility", "human-review"]


class QuestionOut(BaseModel):
    question: str
    verdict: Literal["covered", "best-effort", "not-covered", "unknown", "mixed"]
    verdicts: dict[str, str] = Field(..., description="Verdict per provider.")
    route: Route


class ClassifiedOut(AnswerOut):
    """A ticket's answer with what `triage classify` adds (same fields, same code); also
    `verdict_<provider>` for each provider in scope."""

    model_config = ConfigDict(extra="allow")
    id: str
    confidence: float = Field(..., description="The lowest confidence of the findings.")
    route: Route = Field(..., description="Where the ticket goes: all findings covered → vendor-support, best-effort → vendor-best-effort, "
                         "not-covered → customer-responsibility; human-review when it escalates or the verdicts differ.")
    top_citation: str | None = Field(None, description="The strongest deciding passage: “quote” — title › section — link.")
    questions: list[QuestionOut] | None = Field(None, description="When the ticket asks several things: each, with its verdicts and route.")
    note: str | None = Field(None, description="Set when the ticket text was trimmed to `max_ticket_chars` (50,000 by default), "
                             "or its verdict depends on the provider or its questions disagree.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    request_id: str | None = Field(None, description="The request's id (also the X-Request-ID header): the server log has it.")
    id: str | None = Field(None, description="For 500s: quote it when reporting; the log has the details.")


class ErrorOut(BaseModel):
    error: ErrorDetail


class ClassifiedErrorOut(ErrorOut):
    id: str | None = Field(..., description="The ticket's id; null when it had none (the error says so).")
    route: Literal["human-review"] = "human-review"


class ProgressOut(BaseModel):
    done: int = Field(..., description="Tickets answered so far.")
    total: int


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    progress: ProgressOut
    created_at: str
    finished_at: str | None = None
    expires_at: str | None = Field(None, description="When a finished job is forgotten (then 404).")
    answers: list[Union[ClassifiedOut, ClassifiedErrorOut]] | None = Field(None, description="When done: as POST /v1/classify returns them.")
    error: ErrorDetail | None = Field(None, description="When failed: why.")


class ClassifyOut(BaseModel):
    answers: list[Union[ClassifiedOut, ClassifiedErrorOut]] = Field(..., description="One per ticket, in order.")


class FeedbackOut(BaseModel):
    feedback_id: int


class ReloadOut(BaseModel):
    old_build: str | None = Field(None, description="Build id served before.")
    new_build: str | None = Field(None, description="Build id served now.")
    seconds: float = Field(..., description="Time taken to open the new build.")
    changed: bool = Field(..., description="False when CURRENT still named the build already served.")


_STATUS = {
    401: "No or an unknown key", 403: "A key that may not do this (or not from this origin)", 404: "Not found",
    413: "Too large", 422: "Bad input", 429: "Too many requests (see Retry-After)", 500: "Internal error", 503: "Still loading",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorOut, "description": _STATUS[c]} for c in codes}


API_ERRORS = _errors(401, 403, 413, 422, 429, 500, 503)  # every /v1 route: keys and limits apply


def document_security(spec: dict, access: Access) -> dict:
    """Declare the key schemes (so /docs has Authorize) and which ones each operation takes.

    Declared even when this server has no keys, for whoever reads the docs to call a server
    that has them; every operation then also lists ``{}`` (no key needed here)."""
    open_note = "" if access.enabled else " This server has no keys configured: requests need none."
    spec.setdefault("components", {})["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer",
                   "description": "An API key (BOT_API_KEYS) or an admin key (BOT_ADMIN_KEYS); /v1/admin/* and /metrics need an admin key." + open_note},
        "widgetKey": {"type": "apiKey", "in": "header", "name": WIDGET_HEADER,
                      "description": "The widget's public key (BOT_WIDGET_KEYS), from an allowed origin only." + open_note},
    }
    for path, ops in spec.get("paths", {}).items():
        if not needs_key(path):
            continue
        for method, op in ops.items():
            widget = (method.upper(), path) in WIDGET_ROUTES
            op["security"] = [{"apiKey": []}, *([{"widgetKey": []}] if widget else []), *([] if access.enabled else [{}])]
    return spec
