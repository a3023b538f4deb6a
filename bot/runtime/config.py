"""Settings of a running service: the engine's settings plus the server's, each overridable by ``BOT_<NAME>``."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from ..engine.config import ROOT, EngineSettings

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.1``, ``::1``, ``[::1]``)."""
    bare = host.strip("[]").lower()
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


class Settings(EngineSettings):
    """Everything `triage` reads from ``BOT_*``: :class:`EngineSettings` plus the HTTP API, keys,
    limits, logs and Slack."""

    # -- HTTP API and widget (``triage serve``) ---------------------------------------------
    host: str = Field("127.0.0.1", description="Address `triage serve` listens on.")
    port: int = Field(8000, description="Port `triage serve` listens on.")
    data_dir: Path = Field(ROOT / "data", description="Writable folder for the feedback database (answers and ratings).")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser (comma-separated in BOT_CORS_ORIGINS)."
    )
    max_classify_items: int = Field(1000, description="Tickets per POST /v1/classify request (and per classify job).")
    # -- batch work (/v1/classify and its jobs): its own pool, so chat answers keep their latency
    classify_workers: int = Field(1, ge=1, description="Threads answering /v1/classify requests and jobs (chat answers have their own).")
    classify_queue: int = Field(8, ge=1, description="Classify requests and jobs waiting or running at once; more is a 429.")
    classify_tickets_per_minute: int = Field(
        3000, ge=0, description="Tickets a minute per API key (or client address) through /v1/classify and its jobs (0 = no limit)."
    )
    classify_chars_per_minute: int = Field(
        6_000_000, ge=0, description="Ticket characters a minute per API key (or client address), likewise (0 = no limit)."
    )
    classify_job_ttl_seconds: float = Field(900.0, gt=0, description="How long a finished classify job's result is kept.")
    classify_max_jobs: int = Field(32, ge=1, description="Classify jobs kept at once; beyond it the oldest finished one goes first.")
    max_request_bytes: int = Field(
        2_000_000, description="Larger request bodies are refused with 413 (declared ones before they are read, chunked ones as they stream)."
    )
    shutdown_grace_seconds: float = Field(
        10.0, ge=0, description="On SIGTERM `triage serve` stops accepting and lets requests in flight finish for at most this long."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, v):
        """``a,b`` in the environment; a list when passed in code."""
        if isinstance(v, str):
            return [o.strip().rstrip("/") for o in v.split(",") if o.strip()]
        return v

    # -- access, limits, logs (``triage serve``) ------------------------------------------
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys for `Authorization: Bearer <key>` on /v1/*: comma-separated, and/or `@/path/file` (one key a line, # comments).",
    )
    widget_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Public widget keys (X-Widget-Key, the script tag's data-key): POST /v1/ask and /v1/feedback, GET /v1/providers, "
        "only from an origin in BOT_CORS_ORIGINS or the server's own pages. Same syntax as BOT_API_KEYS.",
    )
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer keys that may also call /v1/admin/* (reload the index). Same syntax as BOT_API_KEYS."
    )
    rate_limit_per_minute: int = Field(120, ge=0, description="Requests a minute per API key (token bucket; 0 = no limit).")
    ip_rate_limit_per_minute: int = Field(
        120, ge=0, description="Requests a minute per client address for widget and keyless requests (0 = no limit)."
    )
    index_watch_seconds: float = Field(0.0, ge=0, description="`triage serve` polls the index for a new build this often and swaps it in (0 = off).")
    log_format: Literal["json", "text"] = Field("json", description="`triage serve` logs: one JSON object a line on stderr, or plain text.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level `triage serve` logs.")

    @field_validator("api_keys", "widget_keys", "admin_keys", mode="before")
    @classmethod
    def _read_keys(cls, v, info):
        """``k1,k2`` and/or ``@/path/file`` items in the environment; a list when passed in code."""
        return read_keys(v, f"BOT_{info.field_name.upper()}") if isinstance(v, str) else v

    @property
    def auth_enabled(self) -> bool:
        """Any key configured: every /v1/* request then needs one (else the server is loopback-only)."""
        return bool(self.api_keys or self.widget_keys or self.admin_keys)

    # -- the HTTP server's own limits and whom it trusts (``triage serve``) -----------------
    max_question_bytes: int = Field(
        12_000, ge=1, description="A question larger than this in UTF-8 as sent (before cleaning) is refused with 413; "
        "its characters as sent count against BOT_MAX_QUESTION_CHARS too.",
    )
    max_header_bytes: int = Field(16_384, ge=1024, description="Request line and headers together; a larger request head is refused (400).")
    max_connections: int = Field(512, ge=1, description="Open connections at once; beyond it a request is answered 503.")
    keep_alive_seconds: int = Field(5, ge=1, description="An idle keep-alive connection is closed after this long.")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="A connection that has not sent a whole request head this long after it opened "
        "(or after its first byte of a later request) is closed.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host header names served (comma-separated; `*` for any); others get 400. Default: the loopback names "
        "when listening on loopback, else the listening address (none for 0.0.0.0 / ::, which then needs this set).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed "
        "(comma-separated; default none: the peer's own address is the client).",
    )

    @field_validator("allowed_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, v):
        """``a,b`` in the environment; a list when passed in code."""
        if isinstance(v, str):
            return [x.strip().lower() for x in v.split(",") if x.strip()]
        return v

    @property
    def host_names(self) -> list[str]:
        """The Host names served: ``allowed_hosts`` if set, else derived from where it listens."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        if is_loopback(self.host):
            return list(LOOPBACK_NAMES)
        bare = self.host.strip("[]")
        if bare in ("", "0.0.0.0", "::"):  # every address: no name to derive
            return []
        return [f"[{bare}]" if ":" in bare else bare.lower()]

    # -- Slack (``POST /slack/events`` in ``triage serve``; ``triage slack --socket``) ------
    slack_signing_secret: SecretStr | None = Field(
        None, description="Signing secret of the Slack app; with the bot token it enables POST /slack/events."
    )
    slack_bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-…) the replies are posted with.")
    slack_app_token: SecretStr | None = Field(None, description="App-level token (xapp-…) for `triage slack --socket` (Socket Mode).")
    slack_api_url: str = Field("https://slack.com/api/", description="Base URL of Slack's Web API (a stand-in in tests).")
    slack_channel_providers: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Default provider per channel, `C0123:<provider>,C0456:<provider>`; used when a question names none.",
    )
    slack_workers: int = Field(4, ge=1, description="Threads that answer Slack questions and post the answers (acks never wait for them).")
    slack_queue_size: int = Field(
        100,
        ge=1,
        description="Slack questions waiting for a worker; beyond it a command is acked 'busy, try again' "
        "and an event gets 503 (Slack re-sends it).",
    )
    slack_api_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of every call to Slack's Web API and response URLs.")
    slack_signature_failures_per_minute: int = Field(
        20, ge=0, description="Failed signature checks a minute per client address on /slack/events before it gets 429 (0 = no limit)."
    )

    @property
    def slack_enabled(self) -> bool:
        """HTTP mode needs both: the secret to verify Slack's requests, the token to reply."""
        return bool(self.slack_signing_secret and self.slack_bot_token)

    @field_validator("slack_channel_providers", mode="before")
    @classmethod
    def _split_channel_providers(cls, v):
        """``C0123:<provider>,C0456:<provider>`` in the environment; a dict when passed in code."""
        if not isinstance(v, str):
            return v
        pairs = [p.strip() for p in v.split(",") if p.strip()]
        bad = [p for p in pairs if p.count(":") != 1 or not all(s.strip() for s in p.split(":"))]
        if bad:
            raise ValueError(f"expected CHANNEL:PROVIDER pairs separated by commas, got {', '.join(bad)}")
        return {c.strip(): p.strip().lower() for c, p in (pair.split(":") for pair in pairs)}


MIN_KEY_CHARS = 16


def read_keys(value: str, name: str) -> list[str]:
    """Keys from ``k1,k2`` and/or ``@/path/file`` items (a file: one key a line, blank lines and
    ``#`` comments skipped). Errors name the variable and the file, never a key."""
    keys: list[str] = []
    for item in (i.strip() for i in value.split(",")):
        if not item:
            continue
        if item.startswith("@"):
            path = Path(item[1:]).expanduser()
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise ValueError(f"{name}: cannot read the key file {path} ({type(e).__name__})") from None
            found = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
            where = f"{name} file {path}"
        else:
            found, where = [item], name
        for k in found:
            if len(k) < MIN_KEY_CHARS:
                raise ValueError(f"{where}: a key has {len(k)} characters; keys need at least {MIN_KEY_CHARS}")
            if any(c.isspace() for c in k):
                raise ValueError(f"{where}: a key contains whitespace")
        keys.extend(found)
    return keys
