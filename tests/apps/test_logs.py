"""Request ids and the server's logs (bot.logs): one JSON object a line with the request's
fields, ids echoed in X-Request-ID and in error bodies, and no key or token in any line —
captured from the real app in process and from `triage serve` on a loopback port."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import subprocess
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.runtime import logs
from bot.apps.api.app import create_app
from bot.runtime.auth import secrets_of
from conftest import REPO, TRIAGE, clean_env, copy_corpus

KEY = "logs-api-key-0123456789abc"
WIDGET = "logs-widget-key-0123456789"
ADMIN = "logs-admin-key-0123456789abc"
SLACK_TOKEN = "xoxb-1111-2222-logs-bot-token"
SLACK_SECRET = "logs-slack-signing-secret-0123"
SECRETS = [KEY, WIDGET, ADMIN, SLACK_TOKEN, SLACK_SECRET, "guessed-key-0123456789"]
ACCESS_FIELDS = {"ts", "level", "logger", "msg", "request_id", "method", "path", "status", "duration_ms", "client"}


@pytest.fixture
def captured():
    """logs.configure() into a buffer; the root logger and uvicorn's loggers are put back after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
                                               for n in ("uvicorn", "uvicorn.error", "uvicorn.access")})
    buf = io.StringIO()
    yield buf, lambda secrets: logs.configure("json", "debug", secrets, stream=buf)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for n, (handlers, propagate) in saved[2].items():
        logging.getLogger(n).handlers[:] = handlers
        logging.getLogger(n).propagate = propagate


def lines(buf) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]  # every line is one JSON object


def test_every_request_is_one_json_line_and_no_secret_is_ever_logged(hash_bot, tmp_path, captured, monkeypatch):
    buf, configure = captured
    s = hash_bot.settings.model_copy(update={
        "data_dir": tmp_path, "api_keys": [SecretStr(KEY)], "widget_keys": [SecretStr(WIDGET)], "admin_keys": [SecretStr(ADMIN)],
        "cors_origins": ["https://portal.example"], "slack_bot_token": SecretStr(SLACK_TOKEN),
        "slack_signing_secret": SecretStr(SLACK_SECRET), "slack_api_url": "http://127.0.0.1:9/",
    })
    configure(secrets_of(s))
    with TestClient(create_app(hash_bot, s), raise_server_exceptions=False) as c:
        assert c.post("/v1/ask", json={"question": "Is Istio supported?"}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert c.post("/v1/ask", json={"question": "q"}, headers={"Authorization": "Bearer guessed-key-0123456789"}).status_code == 401
        assert c.post("/v1/ask", json={"question": "q"}, headers={"X-Widget-Key": WIDGET, "Origin": "https://evil.example"}).status_code == 403
        assert c.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
        assert c.post("/slack/events", content=b"token=x&text=hi", headers={"X-Slack-Signature": "v0=abc"}).status_code == 401
        # whoever logs a credential by mistake, the line is scrubbed
        logging.getLogger("bot.test").warning("headers were %s and %s", {"authorization": f"Bearer {KEY}"}, f"token={SLACK_TOKEN}")
        logging.getLogger("bot.test").info("a bearer credential of another shape: Bearer abc.def-ghi and xapp-1-A0B1C2-secret")

        def boom(*a, **k):
            raise RuntimeError(f"failed with key {KEY}")

        monkeypatch.setattr(hash_bot, "ask", boom)
        r = c.post("/v1/ask", json={"question": "Is Istio supported?"}, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 500
    text = buf.getvalue()
    for secret in SECRETS:
        assert secret not in text, secret
    assert "abc.def-ghi" not in text and "xapp-1-A0B1C2-secret" not in text and "[redacted]" in text
    out = lines(buf)
    access = [o for o in out if o["logger"] == "bot.access"]
    assert [(o["method"], o["path"], o["status"]) for o in access] == [
        ("POST", "/v1/ask", 200), ("POST", "/v1/ask", 401), ("POST", "/v1/ask", 403), ("POST", "/v1/admin/reload", 200),
        ("POST", "/slack/events", 401), ("POST", "/v1/ask", 500)]
    for o in access:
        assert ACCESS_FIELDS <= set(o) and o["duration_ms"] >= 0 and o["client"] == "testclient"
    assert [o.get("principal") for o in access] == ["api#1", None, "widget#1", "admin#1", None, "api#1"]
    assert access[-1]["level"] == "error"
    crash = next(o for o in out if o["logger"] == "bot.api")
    assert crash["request_id"] == access[-1]["request_id"] == r.headers["x-request-id"]  # the traceback line carries the id
    assert "RuntimeError" in crash["exc"] and "[redacted]" in crash["exc"]


def test_request_ids_are_echoed_or_made_and_appear_in_error_bodies(hash_bot, tmp_path):
    with TestClient(create_app(hash_bot, hash_bot.settings.model_copy(update={"data_dir": tmp_path}))) as c:
        r = c.post("/v1/ask", json={"question": ""}, headers={"X-Request-ID": "support-ticket-42.a:b"})
        assert r.headers["x-request-id"] == "support-ticket-42.a:b" == r.json()["error"]["request_id"]
        for bad in ["has spaces in it", "x" * 200, "<script>", "-leading-dash"]:
            r = c.get("/healthz", headers={"X-Request-ID": bad})
            assert r.headers["x-request-id"] != bad and len(r.headers["x-request-id"]) == 32
        a, b = c.get("/healthz").headers["x-request-id"], c.get("/healthz").headers["x-request-id"]
        assert a != b
        assert c.get("/v1/nothing").json()["error"]["request_id"]


def test_text_format_and_the_scrubber():
    buf = io.StringIO()
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        logs.configure("text", "info", ["my-configured-secret-0123"], stream=buf)
        logging.getLogger("bot.x").info("key my-configured-secret-0123, Authorization: Bearer zzz, token xoxb-9-9-z")
        logging.getLogger("bot.x").debug("not shown at info")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    line = buf.getvalue()
    assert line.count("\n") == 1 and " INFO bot.x [None] key [redacted], Authorization: Bearer [redacted], token [redacted]" in line


def test_triage_serve_logs_json_lines_on_stderr_and_never_a_key(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = clean_env(BOT_EMBEDDER="hash", BOT_CORPUS_DIR=copy_corpus(tmp_path / "corpus"), BOT_INDEX_DIR=tmp_path / "index",
                    BOT_DATA_DIR=tmp_path / "data", BOT_API_KEYS=KEY, BOT_WIDGET_KEYS=WIDGET, BOT_SLACK_BOT_TOKEN=SLACK_TOKEN,
                    BOT_SLACK_SIGNING_SECRET=SLACK_SECRET)
    proc = subprocess.Popen([str(TRIAGE), "serve", "--port", str(port)], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        r = httpx.post(url + "/v1/ask", json={"question": "Is Istio supported?"}, headers={"Authorization": f"Bearer {KEY}", "X-Request-ID": "serve-1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "serve-1"
        assert httpx.post(url + "/v1/ask", json={"question": "q"}, headers={"Authorization": "Bearer guessed-key-0123456789"}).status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert "1 API key, 1 widget key, 0 admin keys" in out
    records = [json.loads(line) for line in err.splitlines() if line.strip()]  # stderr: JSON lines only
    ours = [o for o in records if o.get("request_id") == "serve-1"]
    assert ours and ours[-1]["status"] == 200 and ours[-1]["principal"] == "api#1" and ACCESS_FIELDS <= set(ours[-1])
    assert any(o["logger"] == "bot.serve" and "ready at" in o["msg"] for o in records)
    for secret in SECRETS:
        assert secret not in out + err, secret


def test_readyz_503_while_loading_is_not_logged_as_an_error(hash_bot, tmp_path, captured):
    """Probes polling a loading server are DEBUG lines; a 503 elsewhere meanwhile is a WARNING;
    the loader says once when it is ready."""
    buf, configure = captured
    configure([])
    release = threading.Event()

    def loader():
        release.wait(30)
        return hash_bot

    with TestClient(create_app(loader, hash_bot.settings.model_copy(update={"data_dir": tmp_path}))) as c:
        assert [c.get("/readyz").status_code for _ in range(3)] == [503] * 3
        assert c.post("/v1/ask", json={"question": "q"}).status_code == 503
        release.set()
        for _ in range(200):
            if c.get("/readyz").status_code == 200:
                break
            threading.Event().wait(0.05)
    access = [o for o in lines(buf) if o["logger"] == "bot.access"]
    assert {o["level"] for o in access if o["path"] == "/readyz"} == {"debug"}
    assert [o["level"] for o in access if o["path"] == "/v1/ask"] == ["warning"]
    assert not [o for o in lines(buf) if o["level"] == "error"]
    assert any(o["logger"] == "bot.api" and o["msg"].startswith("ready in ") for o in lines(buf))


def test_no_request_can_write_a_huge_log_line_and_bodies_are_never_logged(hash_bot, tmp_path, captured):
    """A badly signed 1.9 MB body to /slack/events (Bolt logs the body it refuses), a 1 MB
    message and a 1 MB exception: every line stays a few kilobytes, cut with a marker."""
    buf, configure = captured
    s = hash_bot.settings.model_copy(update={
        "data_dir": tmp_path, "slack_bot_token": SecretStr(SLACK_TOKEN), "slack_signing_secret": SecretStr(SLACK_SECRET),
        "slack_api_url": "http://127.0.0.1:9/"})
    configure(secrets_of(s))
    body = b"token=x&command=%2Ftriage&text=" + b"B" * 1_900_000
    with TestClient(create_app(hash_bot, s), raise_server_exceptions=False) as c:
        r = c.post("/slack/events", content=body, headers={"X-Slack-Signature": "v0=abc", "X-Slack-Request-Timestamp": str(int(time.time())),
                                                           "content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 401
    logging.getLogger("bot.test").info("%s then %s", "A" * 1_000_000, KEY)
    try:
        raise ValueError("C" * 1_000_000)
    except ValueError:
        logging.getLogger("bot.test").exception("failed")
    text = buf.getvalue()
    assert "B" * 100 not in text  # the body is in no line
    assert logs.Scrubber()("Invalid request signature detected (signature: v0=abc, body: token=x&text=BBB)").endswith("body: [not logged])")
    out = lines(buf)
    assert max(len(json.dumps(o)) for o in out) < logs.MAX_MSG_CHARS + logs.MAX_EXC_CHARS + 1_000
    big = next(o for o in out if o["msg"].startswith("AAAA"))
    assert re.search(r"A… \[99\d,\d{3} more characters not logged\]$", big["msg"]) and len(big["msg"]) < logs.MAX_MSG_CHARS + 100
    exc = next(o for o in out if o["msg"] == "failed")["exc"]
    assert "more characters not logged]" in exc and len(exc) < logs.MAX_EXC_CHARS + 100
    assert KEY not in text


def test_a_client_that_hangs_up_mid_body_is_logged_as_a_disconnect_not_an_error(hash_bot, tmp_path, captured):
    """Real uvicorn: a body announced as 1,000 bytes (or sent chunked) and cut off after a few
    is the client's doing: an access line with status 499 at INFO, no error, no traceback."""
    from helpers import UvicornThread

    buf, configure = captured
    configure([])
    app = create_app(hash_bot, hash_bot.settings.model_copy(update={"data_dir": tmp_path}))
    heads = [f"POST {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
             for p in ("/v1/ask", "/v1/classify", "/v1/feedback")]
    heads.append("POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n")
    with UvicornThread(app) as srv:
        for head in heads:
            with socket.create_connection(("127.0.0.1", int(srv.url.rsplit(":", 1)[1])), timeout=5) as s:
                s.sendall(head.encode() + b'{"que')
                time.sleep(0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len([o for o in lines(buf) if o["logger"] == "bot.access"]) < len(heads):
            time.sleep(0.05)
    out = lines(buf)
    access = [o for o in out if o["logger"] == "bot.access"]
    assert [(o["path"], o["status"], o["level"]) for o in access] == [
        ("/v1/ask", 499, "info"), ("/v1/classify", 499, "info"), ("/v1/feedback", 499, "info"), ("/v1/ask", 499, "info")]
    assert [o for o in out if o["level"] in ("error", "critical") or "exc" in o] == []
