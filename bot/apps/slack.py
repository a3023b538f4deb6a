"""Slack front end: ``/triage``, @-mentions in channels and direct messages, in Block Kit.

A thin adapter like the CLI and the HTTP API: parse what Slack sends, call
:meth:`bot.service.Bot.ask`, format. Verdicts come only from the core.

* HTTP mode: :func:`mount` adds ``POST /slack/events`` to the FastAPI app of ``triage serve``
  (``create_app`` calls it when the signing secret and the bot token are set). Bolt's request
  verification answers 401 to unsigned, mis-signed or stale requests before any listener runs.
  Socket Mode (:func:`socket_mode`) feeds the same Bolt app from a connection the bot opens.
* Slack gives up on a request after 3 seconds, so every listener acknowledges first and works
  after: ``process_before_response=False`` runs listeners in Bolt's thread pool and returns the
  HTTP response as soon as ``ack()`` is called. A slash command is then answered through its
  response URL, an event with ``chat.postMessage``.
* One conversation per thread (``slack:<channel>:<thread ts>``): a follow-up in the thread of an
  earlier question ("and on <provider>?") is resolved against it by the core.
* Slack re-sends an event it believes lost (``X-Slack-Retry-Num``) and may deliver one message
  both as a mention and as a DM: each event id and each user message is answered once.
* A failure inside a listener reaches the user as a short apology with an error id, logged
  with its traceback; a :class:`~bot.errors.BotError` is shown as its own message and hint.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from typing import Any, Callable, Hashable

from cachetools import TTLCache
from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from starlette.responses import JSONResponse
from starlette.requests import Request  # module level: FastAPI resolves the route's annotation here

from ..engine.answer import LABEL, label
from ..runtime.config import Settings
from ..engine.errors import BotError, InputError
from ..runtime.feedback import AnswerRecord, FeedbackStore
from ..runtime.sanitize import clean_question
from ..engine.types import Answer, Provider

log = logging.getLogger("bot.slack")

COMMAND = "/triage"
EVENTS_PATH = "/slack/events"
EVENTS = ("app_mention", "message")  # message: only direct messages are answered
USAGE = f"Ask whether something is supported, e.g. `{COMMAND} Is <tool> supported?` (add `--share` to answer in the channel)."
WORKING = "🔎 Looking into it…"

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
    """``/triage [--share] question`` → (question, share)."""
    share = bool(_SHARE.search(text or ""))
    return clean(_SHARE.sub(" ", text or "")), share


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


def responder(respond, **defaults) -> Callable[..., None]:
    """Bolt's ``respond`` (a post to the response URL) as a new ephemeral message by default,
    raising when Slack refuses it (``respond`` only returns the status) so the guard can still
    tell the user."""
    defaults = {"response_type": "ephemeral", "replace_original": False, **defaults}

    def send(**msg) -> None:
        r = respond(**{**defaults, **msg})
        if r.status_code != 200:
            raise RuntimeError(f"the response URL answered {r.status_code}: {str(r.body)[:200]}")

    return send


class SlackFrontEnd:
    """The listeners, the state they share (dedup, shareable answers) and the error guard."""

    def __init__(self, get_bot: GetBot, store: FeedbackStore, settings: Settings):
        self.get_bot, self.store, self.settings = get_bot, store, settings
        self.seen = Recent(20_000, 3600.0)  # event ids, and (channel, ts) of the messages answered
        self.answers = Recent(2_000, 6 * 3600.0)  # answer id -> (asked, Answer), for "Share in channel"

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
        """A Slack retry of an event already taken is acknowledged and dropped."""
        eid = body.get("event_id")
        if eid and not self.seen.add(("event", eid)):
            log.info("dropped a repeated delivery of event %s (retry %s)", eid, request.headers.get("x-slack-retry-num", ["-"])[0])
            return BoltResponse(status=200, body="")
        return next()

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

    def on_command(self, ack, command: dict, respond) -> None:
        question, share = parse_command(command.get("text", ""))
        if not question or question.lower() in ("help", "?"):
            ack(text=USAGE)
            return
        ack(text=WORKING)
        channel, user = command.get("channel_id", ""), command.get("user_id", "")
        reply = responder(respond, response_type="in_channel" if share else "ephemeral")
        session = f"slack:{channel}:user:{user}"  # a command has no thread: one conversation per user and channel
        self.guarded(reply, lambda: self.answer(question, channel, session, share_button=not share), "command")

    # -- mentions and direct messages --------------------------------------------------------

    def on_mention(self, event: dict, client: WebClient) -> None:
        self.on_user_message(event, client, thread=event.get("thread_ts") or event.get("ts"))

    def on_message(self, event: dict, client: WebClient) -> None:
        """Direct messages from people only: not channel chatter, edits, or any bot (itself)."""
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        self.on_user_message(event, client, thread=event.get("thread_ts"))

    def on_user_message(self, event: dict, client: WebClient, thread: str | None) -> None:
        channel = event.get("channel", "")
        if not self.seen.add(("message", channel, event.get("ts"))):
            return  # already answered (a DM mention arrives both as app_mention and as message)

        def reply(**msg):
            client.chat_postMessage(channel=channel, thread_ts=thread, **msg)

        question = clean(event.get("text", ""))
        if not question:
            self.guarded(reply, lambda: {"text": USAGE}, "usage")
            return
        session = f"slack:{channel}:{thread or 'dm'}"  # a DM outside threads is one conversation
        self.guarded(reply, lambda: self.answer(question, channel, session), "message")

    # -- buttons ---------------------------------------------------------------------------

    def on_feedback(self, ack, action: dict, body: dict, respond) -> None:
        ack()
        rating = "up" if action["action_id"] == "feedback_up" else "down"
        rater = (body.get("user") or {}).get("id")  # a shared answer has many raters; each re-rates their own

        def rate() -> dict:
            self.store.rate(action.get("value", ""), rating, rater=rater)
            return {"text": f"Thanks for the {'👍' if rating == 'up' else '👎'}: it is recorded with the answer."}

        self.guarded(responder(respond), rate, "feedback")

    def on_share(self, ack, action: dict, body: dict, respond) -> None:
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

        reply = responder(respond)
        self.guarded(reply, share, "share")

    def on_error(self, error: Exception, body: dict) -> None:
        """Last resort for what escapes a listener (the guard catches what it can)."""
        log.error("slack listener error on %s: %r", body.get("type") or body.get("command"), error, exc_info=error)


# ------------------------------------------------------------------------------ wiring


def check(settings: Settings, *, socket: bool = False) -> None:
    """Raise an InputError naming the missing settings."""
    need = {"BOT_SLACK_BOT_TOKEN": settings.slack_bot_token}
    need["BOT_SLACK_APP_TOKEN" if socket else "BOT_SLACK_SIGNING_SECRET"] = settings.slack_app_token if socket else settings.slack_signing_secret
    missing = [k for k, v in need.items() if not v]
    if missing:
        raise InputError(f"Slack is not configured: {' and '.join(missing)} not set", hint="see the Slack section of README.md")


def build_app(get_bot: GetBot, store: FeedbackStore, settings: Settings, *, socket: bool = False) -> App:
    """The Bolt app. ``authorize`` hands Bolt the configured token: no ``auth.test`` call at
    start-up or per request (the own-message check uses the events' ``bot_id`` instead)."""
    check(settings, socket=socket)
    token = settings.slack_bot_token.get_secret_value()
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None

    def authorize(enterprise_id=None, team_id=None):
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(
        name="triage",
        signing_secret=secret or "",  # Socket Mode frames are not signed (Bolt skips the check); HTTP needs it
        authorize=authorize,
        client=WebClient(base_url=settings.slack_api_url),
        process_before_response=False,
        logger=logging.getLogger("bot.slack.bolt"),
    )
    SlackFrontEnd(get_bot, store, settings).register(app)
    return app


def mount(api, get_bot: GetBot, store: FeedbackStore, settings: Settings) -> App:
    """``POST /slack/events`` on the FastAPI app (events, commands and button clicks alike)."""
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
    from starlette.concurrency import run_in_threadpool

    bolt = build_app(get_bot, store, settings)

    @api.post(EVENTS_PATH, include_in_schema=False)
    async def slack_events(request: Request):
        try:
            req = to_bolt_request(request, await request.body())
        except ValueError:  # not JSON / a form: Bolt could neither read nor verify it
            return JSONResponse({"error": {"code": "bad_input", "message": "not a Slack request body"}}, status_code=400)
        # dispatch() blocks until the listener acks (up to 3 s): off the event loop
        return to_starlette_response(await run_in_threadpool(bolt.dispatch, req))

    return bolt


def socket_mode(bot, settings: Settings, store: FeedbackStore | None = None):
    """A Socket Mode handler for a loaded bot (``.connect()``, or ``.start()`` to block)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    check(settings, socket=True)
    app = build_app(lambda: bot, store or FeedbackStore(settings.data_dir), settings, socket=True)
    return SocketModeHandler(app, settings.slack_app_token.get_secret_value())
