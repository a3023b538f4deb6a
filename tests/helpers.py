"""Helpers shared by test modules in different folders: a uvicorn server on a free loopback
socket, the browser fixtures (Debian chromium through Playwright), a real tmpfs mount, and
assertions on the API's error shape. Test modules import what they use from here."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FORBIDDEN = re.compile(r"\b(istio|helm|kured|envoy|linkerd|oracle|microsoft|azure|aks|oke)\b", re.I)


def _free_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


class UvicornThread:
    """`uvicorn.Server` on an already bound loopback socket (no port race), in a thread, with
    the limits `triage serve` sets from the app's settings (``settings`` overrides them)."""

    def __init__(self, app, settings=None, **config):
        import uvicorn

        from bot.apps.api.server import uvicorn_config

        self.sock = _free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        settings = settings or app.state.triage.settings
        self.server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning", lifespan="on", **config))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(400):
            if self.server.started:
                return self
            threading.Event().wait(0.025)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def host_site(tmp_path_factory):
    """Another origin: a plain static server whose page embeds the widget with one tag."""
    root = tmp_path_factory.mktemp("host-site")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("BOT_SKIP_BROWSER") == "1":
        pytest.skip("BOT_SKIP_BROWSER=1")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make test` (installs it) or "
            "`apt-get install -y --no-install-recommends chromium`; set BOT_SKIP_BROWSER=1 to skip browser tests"
        )
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    p = ctx.new_page()
    p.dialogs = []  # type: ignore[attr-defined]
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    yield p
    ctx.close()


def open_widget(page):
    page.get_by_role("button", name="Open support chat").click()
    box = page.get_by_role("textbox", name="Your question")
    box.wait_for()
    return box


def ask(page, question: str, *, answers_before: int | None = None):
    """Type a question, press Enter, wait for the reply (an answer or an error) to appear."""
    replies = page.locator(".msg.answer, .msg.error")
    n = replies.count() if answers_before is None else answers_before
    page.get_by_role("textbox", name="Your question").fill(question)
    page.keyboard.press("Enter")
    replies.nth(n).wait_for(timeout=30_000)
    return replies.nth(n)


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False):
    """A real tmpfs of ``size`` at ``path`` (optionally read-only), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({p.stderr.strip() or p.returncode}); needs CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code and err["message"] and err["request_id"] == resp.headers["x-request-id"]
    return err


def verdicts(body: dict) -> dict[str, str]:
    return {f["provider"]: f["verdict"] for f in body["findings"]}


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` (created, and kept as it is) made read-only for this process. As root chmod does
    not stop writes, so it becomes a real read-only bind mount of itself; otherwise chmod a-w
    on everything in it. Undone afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        items = [path, *path.rglob("*")]
        modes = {p: p.stat().st_mode for p in items}
        for p in items:
            p.chmod(modes[p] & ~0o222)
        try:
            yield path
        finally:
            for p in items:
                p.chmod(modes[p])
        return
    for args in (["--bind", str(path), str(path)], ["-o", "remount,bind,ro", str(path)]):
        p = subprocess.run(["mount", *args], capture_output=True, text=True)
        if p.returncode != 0:
            subprocess.run(["umount", str(path)], check=False, capture_output=True)
            pytest.skip(f"cannot make a read-only bind mount here ({p.stderr.strip() or p.returncode}); needs CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
