"""Slack front end: ``/triage``, @-mentions in channels and direct messages, in Block Kit.

A thin adapter like the CLI and the HTTP API: parse what Slack sends, call
:meth:`bot.service.Bot.ask`, format. Verdicts come only from the core.

* HTTP mode: :func:`mount` adds ``POST /slack/events`` to the FastAPI app of ``triage serve``
  (``create_app`` calls it when the signing secret and the bot token are set). Bolt's request
  verification answers 401 to unsigned, mis-signed or stale requests before any listener runs.
  Socket Mode (:func:`socket_mode`) feeds the same Bolt app from a connection the bot opens.
* Slack gives up on a request after 3 seconds, so acknowledging never waits on answering: a
  listener only parses, acks and puts the work on a bounded queue with worker threads of its
  own (:class:`WorkQueue`); when the queue is full a command is acked with "busy, try again" and
  an event gets a 503 that Slack re-sends later. Bolt runs the listeners inline
  (``process_before_response=True``) in the endpoint's own small thread pool, apart from the
  server's worker threads that /v1/* fills, so no model work can hold an ack up. A slash command
  is answered through its response URL, an event with ``chat.postMessage``; every call to Slack
  has a timeout (``BOT_SLACK_API_TIMEOUT_SECONDS``).
* Before Bolt sees a request, ``/slack/events`` refuses a timestamp that is not a number (401)
  and any request from an address whose signature checks failed too often (429,
  ``BOT_SLACK_SIGNATURE_FAILURES_PER_MINUTE``). Request bodies are never logged: Bolt's loggers
  log warnings and up only, each message cut before any body it carries.
* One conversation per thread (``slack:<channel>:<thread ts>``): a follow-up in the thread of an
  earlier question ("and on <provider>?") is resolved against it by the core.
* Slack re-sends an event it believes lost (``X-Slack-Retry-Num``) and may deliver one message
  both as a mention and as a DM: each event id, each command or click (its ``trigger_id``) and
  each user message is answered once.
* A failure inside a listener reaches the user as a short apology with an error id, logged
  with its traceback; a :class:`~bot.errors.BotError` is shown as its own message and hint.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Hashable

from cachetools import TTLCache
from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from starlette.responses import JSONResponse
from starlette.requests import Request  # module level: FastAPI resolves the route's annotation here

from ..engine.answer import LABEL, label
from ..runtime.config import Settings
from ..engine.errors import AuthError, BotError, InputError, RateLimitedError
from ..runtime.feedback import AnswerRecord, FeedbackStore
from ..runtime.ratelimit import RateLimiter
from ..runtime.sanitize import clean_question
from ..engine.types import Answer, Provider

log = logging.getLogger("bot.slack")

COMMAND = "/triage"
EVENTS_PATH = "/slack/events"
EVENTS = ("app_mention", "message")  # message: only direct messages are answered
USAGE = f"Ask whether something is supported, e.g. `{COMMAND} Is <tool> supported?` (add `--share` to answer in the channel)."
WORKING = "🔎 Looking into it…"
BUSY = "⏳ Sorry, I'm busy answering other questions right now. Please try again in a minute."
ACK_THREADS = 8  # the endpoint's own threads: Bolt's checks and the listeners, which only ack and enqueue

EMOJI = {"covered": "✅", "best-effort": "🟡", "not-covered": "⛔", "unknown": "❓"}
CHECK_EMOJI = "⚠️"  # a decided verdict a human must check: not the verdict's own emoji
MAX_BLOCKS, MAX_TEXT, MAX_QUOTE, MAX_QUESTION = 50, 3000, 300, 280  # Slack: ≤ 50 blocks, ≤ 3000 chars a text
CITATIONS = 3

GetBot = Callable[[], Any]  # returns a loaded bot.service.Bot or raises NotReadyError


# ------------------------------------------------------------------------------ small parts


class Recent:
    """What was seen lately, with a value each: bounded (least recently used go first) and
    expiring (a :class:`cachetools.TTLCache` behind a lock).

    In memory on purpose: it only has to outlive Slack's retries (minutes) and the life of an
    ephemeral answer someone may still share; a restart forgets it harmlessly."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.size, self.ttl = size, ttl
        self._items: TTLCache[Hashable, Any] = TTLCache(size, ttl, timer=clock)
        self._lock = threading.Lock()

    def add(self, key: Hashable, value: Any = True) -> bool:
        """Remember ``key``; False (and nothing changes) when it is already remembered."""
        with self._lock:
            if key in self._items:
                return False
            self._items[key] = value
            return True

    def get(self, key: Hashable) -> Any:
        with self._lock:
            return self._items.get(key)

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` (a delivery refused as busy may come again and be taken then)."""
        with self._lock:
            self._items.pop(key, None)


class WorkQueue:
    """Jobs waiting for worker threads of their own: at most ``size`` wait, and :meth:`submit`
    says at once when there is no room (an ack must never wait for a place in line).

    The workers only run jobs; a job that raises is logged and the worker goes on."""

    def __init__(self, workers: int, size: int, name: str = "slack-answer"):
        self.size = size
        self._jobs: queue.Queue[Callable[[], Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, job: Callable[[], Any]) -> bool:
        """Queue ``job``; False (nothing queued) when ``size`` jobs already wait or after close."""
        with self._lock:
            if self._closed or self._jobs.qsize() >= self.size:
                return False
            self._jobs.put(job)
            return True

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("a queued Slack job failed")

    def close(self, wait: float = 0.0) -> int:
        """Drop what waits, let the workers finish their job in hand for at most ``wait``
        seconds in all; the number of jobs dropped."""
        with self._lock:
            self._closed = True
            dropped = 0
            while not self._jobs.empty():
                dropped += self._jobs.get_nowait() is not None
            for _ in self._threads:
                self._jobs.put(None)
        deadline = time.monotonic() + wait
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return dropped


_SHARE = re.compile(r"(?:^|\s)(?:--|[—–])share(?=\s|$)", re.I)  # Slack may turn "--" into a dash
_USER = re.compile(r"<[@!][^>]*>")  # <@U123>, <@U123|name>, <!here>
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")  # <https://x|label>, <#C123|general>


def clean(text: str) -> str:
    """What the user typed, from Slack's wire format: mentions dropped, links as their label,
    invisible and control characters and instructions aimed at the bot out (bot.sanitize)."""
    text = _USER.sub(" ", clean_question(text or ""))
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def parse_command(text: str) -> tuple[str, bool]:
    """``/triage [--share] question`` → (question, share); the flag is looked for in the cleaned
    text, so an invisible character inside it does not hide it."""
    text = clean_question(text or "")
    share = bool(_SHARE.search(text))
    return clean(_SHARE.sub(" ", text)), share


# ------------------------------------------------------------------------------ Block Kit


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def trim(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word and ended with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut).rstrip(" ,;:") + "…"


def mrkdwn(markdown: str) -> str:
    """The core's Markdown-ish answer text as Slack mrkdwn: ``**b**`` → ``*b*``, links."""
    text = escape(markdown)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", lambda m: f"<{m.group(2)}|{m.group(1).replace('|', '¦')}>", text)


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_TEXT]}}


def _context(*texts: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t[:MAX_TEXT]} for t in texts]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    b = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id, "value": value}
    return {**b, "style": style} if style else b


def _paragraphs(ans: Answer) -> tuple[list[str] | None, str | None]:
    """The answer text split as the core composes it: one paragraph per finding (without its
    bold "<vendor product>: <label>." lead, which the header line says), then the "needs a
    human" line when escalating. (None, None) when the text has another shape."""
    parts, n = ans.answer.split("\n\n"), len(ans.findings)
    if not n or len(parts) not in (n, n + 1):
        return None, None
    head = re.compile(r"^\*\*[^*\n]+\*\*\s*")
    return [head.sub("", p, count=1) for p in parts[:n]], (parts[n] if len(parts) > n else None)


def _header(f, name: str) -> str:
    """A finding's header line: emoji and label, "Covered? — check" when a human must check it."""
    text = label(f)
    return f"{CHECK_EMOJI if f.escalate and f.verdict != 'unknown' else EMOJI[f.verdict]} *{name}* — *{text[0].upper() + text[1:]}*"


def answer_blocks(
    ans: Answer, providers: dict[str, Provider], answer_id: str, *, asked: str, share: bool = False, shared_by: str | None = None
) -> list[dict]:
    """The Block Kit message for an answer: per vendor a header line (verdict emoji and label)
    with its part of the answer text and up to three quoted citations (section path, link);
    the "needs a human" line when escalating; 👍/👎 (and "Share in channel" when ephemeral)."""
    q = f"*Q:* {escape(trim(asked, MAX_QUESTION))}"
    if " ".join(ans.question.split()) != " ".join(asked.split()):
        q += f"  ·  _answered as_ “{escape(trim(ans.question, MAX_QUESTION))}”"
    if shared_by:
        q += f"  ·  shared by <@{shared_by}>"
    blocks = [_context(q)]
    texts, human = _paragraphs(ans)
    room = MAX_BLOCKS - (3 if ans.escalate else 2)  # question, [needs a human], buttons
    shown = ans.findings[: max(0, room - 1)] if len(ans.findings) > room else ans.findings
    per = min(CITATIONS, (room - len(shown) - (len(shown) < len(ans.findings))) // max(1, len(shown)))
    for i, f in enumerate(shown):
        p = providers.get(f.provider)
        name = escape(f"{p.vendor} {p.product}" if p else f.provider)
        blocks.append(_section(f"{_header(f, name)}\n{mrkdwn(texts[i]) if texts else escape(f.reason)}"))
        for c in f.citations[:per]:
            where = escape(f"{c.title} › {c.section}" if c.section else c.title).replace("|", "¦")
            blocks.append(_context(f"“{escape(trim(c.quote, MAX_QUOTE))}”", f"<{c.link or c.url}|{where}>"))
    if len(shown) < len(ans.findings):
        blocks.append(_context(f"…and {len(ans.findings) - len(shown)} more vendors (too many for one Slack message)."))
    if ans.escalate:
        line = mrkdwn(human.strip("_ ")) if human else "Needs a human: the policies do not clearly decide this."
        blocks.append(_section(f"🙋 *{line}*"))
    buttons = [_button("👍 Helpful", "feedback_up", answer_id), _button("👎 Not helpful", "feedback_down", answer_id)]
    if share:
        buttons.append(_button("Share in channel", "share", answer_id, "primary"))
    blocks.append({"type": "actions", "block_id": "feedback", "elements": buttons})
    return blocks


def fallback_text(ans: Answer, providers: dict[str, Provider]) -> str:
    """Notification / screen-reader text of an answer message."""
    parts = [f"{providers[f.provider].vendor if f.provider in providers else f.provider}: {label(f)}" for f in ans.findings]
    return trim(f"{ans.question} — {'; '.join(parts) or LABEL['unknown']}", MAX_TEXT)


# ------------------------------------------------------------------------------ listeners


def responder(response_url: str | None, timeout: float, **defaults) -> Callable[..., None]:
    """A post to the response URL (what Bolt's ``respond`` does, with a timeout), as a new
    ephemeral message by default, raising when Slack refuses it (the post only returns the
    status) so the guard can still tell the user."""
    defaults = {"response_type": "ephemeral", "replace_original": False, **defaults}

    def send(**msg) -> None:
        if not response_url:
            raise RuntimeError("the request carried no response URL")
        r = WebhookClient(response_url, timeout=timeout).send(**{**defaults, **msg})
        if r.status_code != 200:
            raise RuntimeError(f"the response URL answered {r.status_code}: {str(r.body)[:200]}")

    return send


class SlackFrontEnd:
    """The listeners, the state they share (dedup, shareable answers) and the error guard."""

    def __init__(self, get_bot: GetBot, store: FeedbackStore, settings: Settings):
        self.get_bot, self.store, self.settings = get_bot, store, settings
        self.seen = Recent(20_000, 3600.0)  # event and trigger ids, and (channel, ts) of the messages answered
        self.answers = Recent(2_000, 6 * 3600.0)  # answer id -> (asked, Answer), for "Share in channel"
        self.work = WorkQueue(settings.slack_workers, settings.slack_queue_size)

    def register(self, app: App) -> None:
        app.use(self.drop_repeats)
        app.command(COMMAND)(self.on_command)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.action(re.compile(r"^feedback_(up|down)$"))(self.on_feedback)
        app.action("share")(self.on_share)
        app.error(self.on_error)

    # -- the shared steps ------------------------------------------------------------------

    def drop_repeats(self, body: dict, request, next):
        """A Slack retry of an event, a command or a click already taken is acknowledged and dropped."""
        key = delivery_key(body)
        if key and not self.seen.add(key):
            log.info("dropped a repeated delivery of %s %s (retry %s)", *key, request.headers.get("x-slack-retry-num", ["-"])[0])
            return BoltResponse(status=200, body="")
        return next()

    def later(self, job: Callable[[], None], body: dict, *also_seen: Hashable) -> bool:
        """Queue ``job``; when the queue is full, forget this delivery (``body``'s and
        ``also_seen`` keys) so that Slack's re-send of it is taken, and say False."""
        if self.work.submit(job):
            return True
        for key in (delivery_key(body), *also_seen):
            self.seen.discard(key)
        log.warning("slack: %d questions waiting already; refused %s as busy", self.work.size, delivery_key(body) or "a request")
        return False

    def reply_timeout(self) -> float:
        return self.settings.slack_api_timeout_seconds

    def answer(self, question: str, channel: str, session_id: str, *, share_button: bool = False) -> dict:
        """Ask the core within the thread's session; record the answer for 👍/👎; the message."""
        bot = self.get_bot()
        ans, res = bot.ask(question, self.channel_scope(bot, question, channel), session_id)
        aid = uuid.uuid4().hex
        self.store.record([AnswerRecord(aid, question, res.question, ans, res.provider, session_id)])
        self.answers.add(aid, (question, ans))
        return {"text": fallback_text(ans, bot.providers), "blocks": answer_blocks(ans, bot.providers, aid, asked=question, share=share_button)}

    def channel_scope(self, bot, question: str, channel: str) -> str | None:
        """The channel's default provider, unless the question names one (then it decides)."""
        default = self.settings.slack_channel_providers.get(channel)
        if not default or not question.strip():
            return None
        return None if bot.prepare(question, split=False).mentioned else default

    def guarded(self, reply: Callable[..., Any], work: Callable[[], dict], what: str) -> None:
        """``reply(**work())``; on failure the user still hears back (never left hanging)."""
        try:
            try:
                reply(**work())
            except BotError as e:
                reply(text=f"⚠️ {escape(e.message)}" + (f"\n_{escape(e.hint)}_" if e.hint else ""))
        except Exception:
            eid = uuid.uuid4().hex[:12]
            log.exception("slack %s failed: error id %s", what, eid)
            try:
                reply(text=f"😞 Sorry, something went wrong (error id `{eid}`). Please try again; if it persists, report the id.")
            except Exception:
                log.exception("could not tell the user about error %s", eid)

    # -- /triage ---------------------------------------------------------------------------

    def on_command(self, ack, command: dict) -> None:
        question, share = parse_command(command.get("text", ""))
        if not question or question.lower() in ("help", "?"):
            ack(text=USAGE)
            return
        channel, user = command.get("channel_id", ""), command.get("user_id", "")
        reply = responder(command.get("response_url"), self.reply_timeout(), response_type="in_channel" if share else "ephemeral")
        session = f"slack:{channel}:user:{user}"  # a command has no thread: one conversation per user and channel
        job = lambda: self.guarded(reply, lambda: self.answer(question, channel, session, share_button=not share), "command")  # noqa: E731
        ack(text=WORKING if self.later(job, command) else BUSY)

    # -- mentions and direct messages --------------------------------------------------------

    def on_mention(self, event: dict, body: dict, client: WebClient) -> BoltResponse | None:
        return self.on_user_message(event, body, client, thread=event.get("thread_ts") or event.get("ts"))

    def on_message(self, event: dict, body: dict, client: WebClient) -> BoltResponse | None:
        """Direct messages from people only: not channel chatter, edits, or any bot (itself)."""
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return None
        return self.on_user_message(event, body, client, thread=event.get("thread_ts"))

    def on_user_message(self, event: dict, body: dict, client: WebClient, thread: str | None) -> BoltResponse | None:
        """Queue the answer; a 503 when the queue is full (Slack re-sends the event later)."""
        channel = event.get("channel", "")
        message = ("message", channel, event.get("ts"))
        if not self.seen.add(message):
            return None  # already answered (a DM mention arrives both as app_mention and as message)

        def reply(**msg):
            client.chat_postMessage(channel=channel, thread_ts=thread, **msg)

        question = clean(event.get("text", ""))
        session = f"slack:{channel}:{thread or 'dm'}"  # a DM outside threads is one conversation
        if question:
            job = lambda: self.guarded(reply, lambda: self.answer(question, channel, session), "message")  # noqa: E731
        else:
            job = lambda: self.guarded(reply, lambda: {"text": USAGE}, "usage")  # noqa: E731
        return None if self.later(job, body, message) else BoltResponse(status=503, body="busy")

    # -- buttons ---------------------------------------------------------------------------

    def on_feedback(self, ack, action: dict, body: dict) -> None:
        ack()
        rating = "up" if action["action_id"] == "feedback_up" else "down"
        rater = (body.get("user") or {}).get("id")  # a shared answer has many raters; each re-rates their own

        def rate() -> dict:
            self.store.rate(action.get("value", ""), rating, rater=rater)
            return {"text": f"Thanks for the {'👍' if rating == 'up' else '👎'}: it is recorded with the answer."}

        self.later(lambda: self.guarded(responder(body.get("response_url"), self.reply_timeout()), rate, "feedback"), body)

    def on_share(self, ack, action: dict, body: dict) -> None:
        ack()
        aid = action.get("value", "")

        def share() -> dict:
            kept = self.answers.get(aid)
            if kept is None:
                raise InputError("that answer is no longer at hand to share", hint=f"ask again with `{COMMAND} --share …`")
            asked, ans = kept
            providers = self.get_bot().providers
            blocks = answer_blocks(ans, providers, aid, asked=asked, shared_by=body.get("user", {}).get("id"))
            reply(response_type="in_channel", text=fallback_text(ans, providers), blocks=blocks)
            return {"delete_original": True, "response_type": None, "replace_original": None}  # the private copy goes

        reply = responder(body.get("response_url"), self.reply_timeout())
        self.later(lambda: self.guarded(reply, share, "share"), body)

    def on_error(self, error: Exception, body: dict) -> None:
        """Last resort for what escapes a listener (the guard catches what it can)."""
        log.error("slack listener error on %s: %r", body.get("type") or body.get("command"), error, exc_info=error)


# ------------------------------------------------------------------------------ wiring


def delivery_key(body: dict) -> tuple[str, str] | None:
    """What identifies one delivery across Slack's re-sends: an event's id, else the
    ``trigger_id`` of a command or a click (Slack makes a new one for each)."""
    if body.get("event_id"):
        return ("event", body["event_id"])
    return ("trigger", body["trigger_id"]) if body.get("trigger_id") else None


class _NoBodies(logging.Filter):
    """Cuts a Bolt log message before the request or response body it carries ("… body: …",
    "… for the request ({…})"): bodies come from anyone and can be megabytes."""

    _BODY = re.compile(r"(?is)(\bbody\b|for the request \().*")

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        cut = self._BODY.sub(lambda m: m.group(1) + " [not logged]", msg)[:500]
        if cut != msg:
            record.msg, record.args = cut, None
        return True


def bolt_logger() -> logging.Logger:
    """The base logger Bolt copies its level and filters from: warnings and up only (Bolt logs
    every badly signed body at INFO), no bodies at any level."""
    base = logging.getLogger("bot.slack.bolt")
    base.setLevel(logging.WARNING)
    if not any(isinstance(f, _NoBodies) for f in base.filters):
        base.addFilter(_NoBodies())
    return base


def check(settings: Settings, *, socket: bool = False) -> None:
    """Raise an InputError naming the missing settings."""
    need = {"BOT_SLACK_BOT_TOKEN": settings.slack_bot_token}
    need["BOT_SLACK_APP_TOKEN" if socket else "BOT_SLACK_SIGNING_SECRET"] = settings.slack_app_token if socket else settings.slack_signing_secret
    missing = [k for k, v in need.items() if not v]
    if missing:
        raise InputError(f"Slack is not configured: {' and '.join(missing)} not set", hint="see the Slack section of README.md")


def build_app(get_bot: GetBot, store: FeedbackStore, settings: Settings, *, socket: bool = False) -> App:
    """The Bolt app (its :class:`SlackFrontEnd` as ``front_end``). ``authorize`` hands Bolt the
    configured token: no ``auth.test`` call at start-up or per request (the own-message check
    uses the events' ``bot_id`` instead). Listeners run inline: they only ack and enqueue."""
    check(settings, socket=socket)
    token = settings.slack_bot_token.get_secret_value()
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None

    def authorize(enterprise_id=None, team_id=None):
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(
        name="triage",
        signing_secret=secret or "",  # Socket Mode frames are not signed (Bolt skips the check); HTTP needs it
        authorize=authorize,
        client=WebClient(base_url=settings.slack_api_url, timeout=settings.slack_api_timeout_seconds),  # copied per request
        process_before_response=True,
        logger=bolt_logger(),
    )
    app.front_end = SlackFrontEnd(get_bot, store, settings)
    app.front_end.register(app)
    return app


_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def mount(api, get_bot: GetBot, store: FeedbackStore, settings: Settings) -> Callable[[], None]:
    """``POST /slack/events`` on the FastAPI app (events, commands and button clicks alike);
    returns what stops it (the answer workers and the ack threads) at shutdown."""
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

    from .api.middleware import error_response

    bolt = build_app(get_bot, store, settings)
    acks = ThreadPoolExecutor(ACK_THREADS, thread_name_prefix="slack-ack")
    failures = RateLimiter(settings.slack_signature_failures_per_minute)

    def refused(client: str, why: str) -> JSONResponse:
        failures.take(client)
        log.warning("slack: refused a request from %s: %s", client, why)
        return error_response(AuthError(f"not a request from Slack: {why}", hint="Slack signs its requests with the app's signing secret"))

    @api.post(EVENTS_PATH, include_in_schema=False)
    async def slack_events(request: Request):
        client = request.client.host if request.client else "unknown"
        if wait := failures.take(client, dry_run=True):
            return error_response(RateLimitedError(
                f"too many requests with a bad Slack signature from this address: the limit is {failures.per_minute:,} a minute",
                retry_after=wait, hint=f"retry in {wait} s",
            ))
        stamp = request.headers.get("x-slack-request-timestamp")
        if stamp is not None and not _TIMESTAMP.fullmatch(stamp):
            return refused(client, "X-Slack-Request-Timestamp is not a whole number of seconds")
        try:
            req = to_bolt_request(request, await request.body())
        except ValueError:  # not JSON / a form: Bolt could neither read nor verify it
            return JSONResponse({"error": {"code": "bad_input", "message": "not a Slack request body"}}, status_code=400)
        # verify, ack and enqueue on threads of our own (the server's can be full of model work)
        work = contextvars.copy_context().run
        resp = await asyncio.get_running_loop().run_in_executor(acks, work, bolt.dispatch, req)
        if resp.status == 401:
            return refused(client, "the signature does not match the signing secret, or it is older than five minutes")
        return to_starlette_response(resp)

    def close() -> None:
        dropped = bolt.front_end.work.close(wait=settings.shutdown_grace_seconds)
        if dropped:
            log.warning("slack: shutting down with %d questions unanswered", dropped)
        acks.shutdown(wait=False, cancel_futures=True)

    return close


def socket_mode(bot, settings: Settings, store: FeedbackStore | None = None):
    """A Socket Mode handler for a loaded bot (``.connect()``, or ``.start()`` to block)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    check(settings, socket=True)
    app = build_app(lambda: bot, store or FeedbackStore(settings.data_dir), settings, socket=True)
    return SocketModeHandler(app, settings.slack_app_token.get_secret_value())
