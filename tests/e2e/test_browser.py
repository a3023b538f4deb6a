"""The widget in a real browser: Debian chromium driven by Playwright, against a real uvicorn
server on a free loopback port serving the real model and a real Chroma index.

`make test` installs chromium when /usr/bin/chromium is missing. Without it these tests fail
with instructions; they are skipped only when BOT_SKIP_BROWSER=1 says so explicitly.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import socket
import threading
from pathlib import Path

import httpx
import pytest

ISTIO = "Is Istio supported?"
OPEN_SOURCE = "Third-party open-source projects"
XSS = "<img src=x onerror=alert(1)>"

pytestmark = pytest.mark.slow

from helpers import CHROMIUM, UvicornThread, ask, browser, host_site, open_widget, page  # noqa: E402,F401 (fixtures)


@pytest.fixture(scope="module")
def server(real_bot, host_site, tmp_path_factory):
    from bot.apps.api.app import create_app

    _, host_port = host_site
    settings = real_bot.settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("browser-data"), "cors_origins": [f"http://127.0.0.1:{host_port}"]}
    )
    with UvicornThread(create_app(real_bot, settings)) as srv:
        yield srv


def product_names(server) -> dict[str, str]:
    info = httpx.get(server.url + "/v1/providers").json()
    return {p["id"]: p["product"] for p in info["providers"]}


# ------------------------------------------------------------------------------ tests


def test_the_demo_page_and_the_widget_run_under_the_pages_content_security_policy(page, server):
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    resp = page.goto(server.url + "/")
    assert "sha256-" in resp.headers["content-security-policy"] and resp.headers["x-frame-options"] == "DENY"
    page.locator("#scope option").nth(1).wait_for(state="attached")  # the page's inline script ran and called the API
    open_widget(page)
    assert ask(page, ISTIO).locator(".badge").count() == 2
    assert refused == []


def test_istio_shows_not_covered_for_both_vendors_with_the_quoted_passage(page, server, tmp_path):
    page.goto(server.url + "/")
    open_widget(page)
    reply = ask(page, ISTIO)
    badges = reply.locator(".badge")
    assert badges.count() == 2
    names = product_names(server)
    for i in range(2):
        b = badges.nth(i)
        assert b.get_attribute("data-verdict") == "not-covered" and b.get_attribute("data-escalate") is None
        assert "Not covered" in b.inner_text() and "check" not in b.inner_text()  # text, not colour alone
        assert names[b.get_attribute("data-provider")] in b.inner_text()
    # the deciding quote of each vendor is shown inline, not collapsed below the fold
    firsts = reply.locator(".cite.first")
    assert firsts.count() == 2
    for i in range(2):
        assert firsts.nth(i).locator(".quote").is_visible() and OPEN_SOURCE in firsts.nth(i).locator(".quote").inner_text()
        assert firsts.nth(i).locator(".where").inner_text().strip()  # section path shown
    aks = reply.locator('.finding[data-provider="aks"] .cite.first a')
    assert aks.get_attribute("href").endswith("support-policies#aks-support-coverage")  # the section, not the page top
    assert "noopener" in aks.get_attribute("rel")
    more = reply.locator("details.sources")
    assert more.count() >= 1 and not more.first.locator(".quote").first.is_visible()  # the rest stays collapsed
    text = reply.inner_text()
    assert "chars" not in text and not any(f"{n}–" in text for n in range(10))  # no offsets for people
    assert not reply.locator(".human").count()  # escalate is false for this one
    assert page.locator(".typing").is_hidden()

    reply.get_by_role("button", name="Helpful", exact=True).click()
    reply.get_by_text("Thanks for the feedback.").wait_for()
    export = [json.loads(line) for line in httpx.get(server.url + "/v1/feedback/export").text.splitlines()]
    assert any(r["question"] == ISTIO and r["rating"] == "up" for r in export)
    page.screenshot(path=str(tmp_path / "istio.png"), full_page=True)
    assert (tmp_path / "istio.png").stat().st_size > 10_000


def test_an_escalated_finding_looks_undecided_and_needs_a_human_once(page, server):
    """A low-confidence verdict reads "Not covered? — check" in a neutral badge beside a sure
    one, and the panel says "Needs a human" once (badge, box and text used to say it 4×)."""
    page.goto(server.url + "/")
    open_widget(page)
    reply = ask(page, "Are Kubernetes alpha features supported?")
    data = httpx.post(server.url + "/v1/ask", json={"question": "Are Kubernetes alpha features supported?"}).json()
    by = {f["provider"]: f for f in data["findings"]}
    assert any(f["escalate"] and f["verdict"] != "unknown" for f in by.values()), by  # the case under test
    for f in data["findings"]:
        b = reply.locator(f'.badge[data-provider="{f["provider"]}"]')
        checked = f["escalate"] and f["verdict"] != "unknown"
        assert b.inner_text().endswith("? — check") is checked
        assert (b.get_attribute("data-escalate") == "true") is bool(f["escalate"])
        if checked:  # no verdict colour: the neutral, dashed look of an undecided badge
            style = b.evaluate("el => getComputedStyle(el).borderStyle + ' ' + getComputedStyle(el).backgroundColor")
            assert style == "dashed rgb(246, 248, 250)", style
    assert reply.inner_text().lower().count("needs a human") == 1
    assert reply.locator(".human").count() == 1
    page.screenshot(path="/tmp/display-escalated.png", full_page=True)


def test_thumbs_are_drawn_and_a_comment_follows_thumbs_down_replacing_the_rating(page, server):
    page.goto(server.url + "/")
    open_widget(page)
    reply = ask(page, "Is Helm supported?")
    up, down = reply.get_by_role("button", name="Helpful", exact=True), reply.get_by_role("button", name="Not helpful")
    for b in (up, down):  # inline SVG, not an emoji that renders as an empty box without an emoji font
        assert b.locator("svg path").count() == 1 and "👍" not in b.inner_text() and "👎" not in b.inner_text()
        box = b.locator("svg").bounding_box()
        assert box["width"] >= 12 and box["height"] >= 12
    comment = reply.get_by_role("textbox", name="What was wrong? (optional)")
    assert comment.is_hidden()
    up.click()
    reply.get_by_text("Thanks for the feedback.").wait_for()
    down.click()  # a change of mind
    comment.wait_for()
    assert down.get_attribute("aria-pressed") == "true" and up.get_attribute("aria-pressed") == "false"
    comment.fill("It quotes the wrong section.")
    reply.get_by_role("button", name="Send comment").click()
    reply.get_by_text("Thanks — your comment is saved.").wait_for()
    reply.locator(".feedback").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/display-feedback.png")
    rows = [json.loads(line) for line in httpx.get(server.url + "/v1/feedback/export").text.splitlines()]
    mine = [r for r in rows if r["question"] == "Is Helm supported?" and r["comment"] != "not mine"]
    assert [(r["rating"], r["comment"]) for r in mine][-1:] == [("down", "It quotes the wrong section.")]
    assert len({r["answer_id"] for r in mine}) == len(mine)  # one row per answer: re-rating replaced it


def test_a_too_long_question_gets_plain_words(page, server):
    page.goto(server.url + "/")
    open_widget(page)
    reply = ask(page, "Is Helm supported? " * 250)
    text = reply.inner_text()
    assert "error" in reply.get_attribute("class") and "too long" in text and "sentence or two" in text
    assert "triage" not in text and "`" not in text  # no command-line advice for end users


def test_markup_from_the_user_is_shown_as_text_and_never_runs(page, server, tmp_path):
    page.goto(server.url + "/")
    open_widget(page)
    reply = ask(page, XSS)
    user = page.locator(".msg.user").last
    assert user.inner_text() == XSS
    assert page.locator("#triage-widget-host img").count() == 0 and page.locator("img").count() == 0
    reply.wait_for()
    page.wait_for_timeout(300)
    assert page.dialogs == []  # type: ignore[attr-defined]
    page.screenshot(path=str(tmp_path / "xss.png"))


def test_keyboard_enter_sends_escape_closes_and_focus_returns(page, server):
    page.goto(server.url + "/")
    launcher = page.get_by_role("button", name="Open support chat")
    launcher.focus()
    page.keyboard.press("Enter")
    box = page.get_by_role("textbox", name="Your question")
    box.wait_for()
    assert box.evaluate("el => el.getRootNode().activeElement === el")  # focus moved into the panel
    ask(page, "Is Helm supported?")
    page.keyboard.press("Escape")
    page.get_by_role("dialog", name="Support assistant").wait_for(state="hidden")
    focused = page.evaluate("document.querySelector('#triage-widget-host').shadowRoot.activeElement.getAttribute('aria-label')")
    assert focused == "Open support chat"
    assert page.get_by_role("button", name="Open support chat").get_attribute("aria-expanded") == "false"


def test_readable_at_360px_and_followups_use_the_session(browser, server, tmp_path):
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(server.url + "/")
    open_widget(page)
    ask(page, ISTIO)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # the demo page fits too
    reply = ask(page, "and on AKS?")
    assert "Is Istio supported on AKS?" in reply.locator(".resolved").inner_text()
    assert [b.get_attribute("data-provider") for b in reply.locator(".badge").all()] == ["aks"]
    panel = page.get_by_role("dialog", name="Support assistant")
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert panel.evaluate("el => el.querySelector('.log').scrollWidth <= el.querySelector('.log').clientWidth")
    page.reload()  # the session survives a reload of the tab (sessionStorage)
    open_widget(page)
    again = ask(page, "what about Helm?")
    assert "Is Helm supported on AKS?" in again.locator(".resolved").inner_text()
    shot = tmp_path / "widget-360.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    ctx.close()


def test_one_tag_embeds_the_widget_on_another_origin(page, server, host_site):
    root, port = host_site
    (root / "host.html").write_text(
        "<!doctype html><html><body><h1>Someone else's site</h1>"
        f'<script src="{server.url}/widget.js" data-provider="aks" defer></script></body></html>',
        encoding="utf-8",
    )
    page.goto(f"http://127.0.0.1:{port}/host.html")
    open_widget(page)
    reply = ask(page, ISTIO)
    assert [b.get_attribute("data-provider") for b in reply.locator(".badge").all()] == ["aks"]
    assert reply.locator(".badge").first.get_attribute("data-verdict") == "not-covered"


def test_an_origin_not_in_the_allow_list_gets_an_error_in_the_panel(page, server, host_site):
    root, port = host_site
    (root / "other.html").write_text(
        f'<!doctype html><html><body><script src="{server.url}/widget.js" defer></script></body></html>', encoding="utf-8"
    )
    page.goto(f"http://localhost:{port}/other.html")  # same files, an origin the API does not allow
    open_widget(page)
    reply = ask(page, ISTIO)
    assert "error" in reply.get_attribute("class") and reply.get_attribute("role") == "alert"
    assert "Could not reach the assistant" in reply.inner_text()


# ------------------------------------------------------------------------------ API docs, offline

DOCS_KEY = "docs-api-key-0123456789abc"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="module")
def docs_server(hash_bot, tmp_path_factory):
    from pydantic import SecretStr

    from bot.apps.api.app import create_app

    settings = hash_bot.settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("docs-data"), "api_keys": [SecretStr(DOCS_KEY)]})
    with UvicornThread(create_app(hash_bot, settings)) as srv:
        yield srv


@pytest.fixture
def offline_page(browser):
    """A page whose every request to anything but loopback is refused (and noted), as on a
    host without internet."""
    from urllib.parse import urlsplit

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def gate(route):
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    ctx.route("**/*", gate)
    p = ctx.new_page()
    p.blocked = blocked  # type: ignore[attr-defined]
    yield p
    ctx.close()


def test_swagger_ui_renders_offline_and_authorize_then_try_it_out_works(offline_page, docs_server, tmp_path):
    page = offline_page
    spec = httpx.get(docs_server.url + "/openapi.json").json()
    n_ops = sum(1 for ops in spec["paths"].values() for m in ops if m in ("get", "post"))
    page.goto(docs_server.url + "/docs")
    page.locator(".opblock").nth(n_ops - 1).wait_for(timeout=20_000)
    assert page.locator(".opblock").count() == n_ops
    assert page.locator(".opblock-summary-path", has_text="/v1/ask").count() == 1

    page.get_by_role("button", name="Authorize").first.click()  # the schemes are declared
    dialog = page.locator(".modal-ux")
    dialog.get_by_label("auth-bearer-value").fill(DOCS_KEY)  # the bearer scheme's field
    dialog.get_by_role("button", name="Apply credentials").first.click()
    dialog.locator("button.btn-done").first.click()

    op = page.locator("#operations-index-providers_v1_providers_get")
    op.locator(".opblock-summary").click()
    op.get_by_role("button", name="Try it out").click()
    op.get_by_role("button", name="Execute").click()
    status = op.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=20_000)
    assert status.inner_text().strip().startswith("200"), status.inner_text()  # the key was sent
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
    assert page.blocked == []  # type: ignore[attr-defined]  # nothing tried to leave the machine


def test_redoc_renders_offline(offline_page, docs_server, tmp_path):
    page = offline_page
    page.goto(docs_server.url + "/redoc")
    page.get_by_role("heading", name="Support-triage bot").first.wait_for(timeout=20_000)
    page.get_by_role("heading", name="Answer one question").first.wait_for()
    assert page.locator("[role=menuitem]").count() >= 8  # the operations are listed in the menu
    page.screenshot(path=str(tmp_path / "redoc.png"))
    assert page.blocked == []  # type: ignore[attr-defined]
