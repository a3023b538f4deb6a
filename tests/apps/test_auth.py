"""Access to the HTTP API (bot.auth): API keys, the widget's origin-bound key, admin keys and
the reload route, what stays public, how keys are read, and `triage serve` refusing to listen
beyond loopback without keys. The real app through TestClient; the key bar with the real
model; the widget with a key in a real browser against uvicorn."""

from __future__ import annotations

import hmac
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.apps.api.app import create_app
from bot.runtime.auth import KeyRing
from bot.runtime.config import Settings
from bot.engine.index import build_index
from bot.runtime.ratelimit import RateLimiter
from bot.engine.service import Bot
from conftest import NKE_POLICY, REPO, TRIAGE, clean_env, silent
from helpers import assert_error, verdicts
from helpers import UvicornThread, ask, browser, host_site, open_widget, page  # noqa: F401 (fixtures)

KEY = "auth-api-key-0123456789abc"
ADMIN = "auth-admin-key-0123456789abc"
WIDGET = "auth-widget-key-0123456789\"<x>"  # public; must survive HTML escaping into the demo page
ORIGIN = "https://portal.example"
BEARER = {"Authorization": f"Bearer {KEY}"}
ISTIO = "Is Istio supported?"
PUBLIC = ["/healthz", "/readyz", "/", "/widget.js", "/widget.css", "/docs", "/openapi.json"]


def settings_for(bot, data_dir, **kw) -> Settings:
    keys = {"api_keys": [SecretStr(KEY)], "admin_keys": [SecretStr(ADMIN)], "widget_keys": [SecretStr(WIDGET)], "cors_origins": [ORIGIN]}
    return bot.settings.model_copy(update={"data_dir": data_dir, **keys, **kw})


@pytest.fixture(scope="module")
def client(hash_bot, tmp_path_factory):
    with TestClient(create_app(hash_bot, settings_for(hash_bot, tmp_path_factory.mktemp("auth"))), raise_server_exceptions=False) as c:
        yield c


# ------------------------------------------------------------------------------ the bar (real model)


@pytest.mark.slow
def test_ask_without_a_key_is_401_and_with_one_200(real_bot, tmp_path):
    with TestClient(create_app(real_bot, settings_for(real_bot, tmp_path)), raise_server_exceptions=False) as c:
        err = assert_error(c.post("/v1/ask", json={"question": ISTIO}), 401, "unauthorized")
        assert "API key" in err["message"] and "Bearer" in err["hint"]
        assert c.post("/v1/ask", json={"question": ISTIO}).headers["www-authenticate"] == "Bearer"
        assert_error(c.post("/v1/ask", json={"question": ISTIO}, headers={"Authorization": "Bearer wrong-key-0123456789"}), 401, "unauthorized")
        assert_error(c.post("/v1/ask", json={"question": ISTIO}, headers={"Authorization": KEY}), 401, "unauthorized")  # no scheme
        r = c.post("/v1/ask", json={"question": ISTIO}, headers=BEARER)
        assert r.status_code == 200, r.text
        assert verdicts(r.json()) == {"aks": "not-covered", "oke": "not-covered"}
        assert c.post("/v1/ask", json={"question": ISTIO}, headers={"Authorization": f"bearer  {ADMIN} "}).status_code == 200


# ------------------------------------------------------------------------------ what needs which key


def test_every_v1_route_needs_a_key_and_the_rest_stays_public(client):
    for method, path in [("GET", "/v1/providers"), ("GET", "/v1/feedback/export"), ("POST", "/v1/classify"), ("POST", "/v1/feedback"),
                         ("POST", "/v1/admin/reload"), ("GET", "/v1/no-such-route")]:
        assert_error(client.request(method, path), 401, "unauthorized")
    for path in PUBLIC:
        assert client.get(path).status_code == 200, path
    assert client.get("/v1/providers", headers=BEARER).status_code == 200
    assert client.get("/v1/feedback/export", headers=BEARER).status_code == 200


def test_the_widget_key_opens_only_what_the_widget_needs_and_only_from_allowed_origins(client):
    wk = {"X-Widget-Key": WIDGET}
    good = {**wk, "Origin": ORIGIN}
    r = client.post("/v1/ask", json={"question": ISTIO}, headers=good)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
    assert client.post("/v1/feedback", json={"answer_id": r.json()["answer_id"], "rating": "up"}, headers=good).status_code == 201
    assert client.get("/v1/providers", headers=good).status_code == 200
    # the server's own pages (the demo page): Origin on POST, only Referer on a same-origin GET
    assert client.post("/v1/ask", json={"question": ISTIO}, headers={**wk, "Origin": "http://testserver"}).status_code == 200
    assert client.get("/v1/providers", headers={**wk, "Referer": "http://testserver/"}).status_code == 200
    for path, method in [("/v1/classify", "POST"), ("/v1/feedback/export", "GET"), ("/v1/admin/reload", "POST")]:
        err = assert_error(client.request(method, path, headers=good), 403, "forbidden")
        assert "POST /v1/ask" in err["message"]
    err = assert_error(client.post("/v1/ask", json={"question": ISTIO}, headers={**wk, "Origin": "https://evil.example"}), 403, "forbidden")
    assert "https://evil.example" in err["message"] and "BOT_CORS_ORIGINS" in err["hint"]
    assert_error(client.post("/v1/ask", json={"question": ISTIO}, headers=wk), 403, "forbidden")  # no page at all
    assert_error(client.post("/v1/ask", json={"question": ISTIO}, headers={"X-Widget-Key": "not-a-widget-key-0123", "Origin": ORIGIN}), 401, "unauthorized")
    # an API key is not a widget key, nor the other way round
    assert_error(client.post("/v1/ask", json={"question": ISTIO}, headers={"X-Widget-Key": KEY, "Origin": ORIGIN}), 401, "unauthorized")
    assert_error(client.post("/v1/ask", json={"question": ISTIO}, headers={"Authorization": f"Bearer {WIDGET}"}), 401, "unauthorized")


def test_cors_preflight_lets_the_widget_send_its_key_and_read_retry_after(client):
    pre = {"origin": ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type,x-widget-key"}
    r = client.options("/v1/ask", headers=pre)
    assert r.status_code == 200 and "x-widget-key" in r.headers["access-control-allow-headers"].lower()
    r = client.post("/v1/ask", json={"question": ISTIO}, headers={"X-Widget-Key": WIDGET, "Origin": ORIGIN})
    exposed = r.headers["access-control-expose-headers"].lower()
    assert "retry-after" in exposed and "x-request-id" in exposed


def test_the_demo_page_embeds_the_first_widget_key_escaped(client, hash_bot, tmp_path):
    page_html = client.get("/").text
    escaped = WIDGET.replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    assert f'<script src="/widget.js" data-key="{escaped}" defer></script>' in page_html
    assert KEY not in page_html and ADMIN not in page_html
    with TestClient(create_app(hash_bot, hash_bot.settings.model_copy(update={"data_dir": tmp_path}))) as open_client:
        assert "data-key" not in open_client.get("/").text.split("<script src=")[1][:40]  # no keys: no data-key


def test_every_page_refuses_framing_and_sniffing_and_the_demo_page_has_a_strict_csp(client):
    import base64
    import hashlib

    demo = client.get("/")
    csp = demo.headers["content-security-policy"]
    assert demo.headers["x-frame-options"] == "DENY" and demo.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    inline = re.search(r"<script>(.*?)</script>", demo.text, re.S).group(1)  # the page's own script, allowed by its hash
    assert "'sha256-" + base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode() + "'" in csp
    docs = client.get("/docs")
    assert docs.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    for path in ["/widget.js", "/widget.css", "/healthz", "/v1/providers"]:
        assert client.get(path, headers=BEARER).headers["x-content-type-options"] == "nosniff", path


def test_openapi_documents_the_keys_and_the_errors(client):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["apiKey"]["scheme"] == "bearer" and schemes["widgetKey"]["name"] == "X-Widget-Key"
    ask_op = spec["paths"]["/v1/ask"]["post"]
    assert {"401", "403", "413", "422", "429", "503"} <= set(ask_op["responses"])
    assert {"apiKey": []} in ask_op["security"] and {"widgetKey": []} in ask_op["security"]
    assert spec["paths"]["/v1/classify"]["post"]["security"] == [{"apiKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_keys_are_compared_in_constant_time_against_every_key(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(len(a)) or real(a, b))
    ring = KeyRing("api", [SecretStr("k" * 20), "second-key-0123456789", "third-key-0123456789"])
    assert ring.find("k" * 20) == "api#1" and ring.find("third-key-0123456789") == "api#3" and ring.find("k") is None
    assert len(calls) == 9 and set(calls) == {32}  # every key, every time, as equal-length digests


# ------------------------------------------------------------------------------ reading keys


def test_keys_come_from_the_environment_comma_separated_or_from_files(tmp_path, monkeypatch):
    f = tmp_path / "keys.txt"
    f.write_text("# team A\nfile-key-one-0123456789\n\n  file-key-two-0123456789  \n", encoding="utf-8")
    monkeypatch.setenv("BOT_API_KEYS", f"env-key-0123456789abc, @{f}")
    monkeypatch.setenv("BOT_WIDGET_KEYS", "widget-key-0123456789")
    s = Settings()
    assert [k.get_secret_value() for k in s.api_keys] == ["env-key-0123456789abc", "file-key-one-0123456789", "file-key-two-0123456789"]
    assert s.auth_enabled and len(s.widget_keys) == 1 and not s.admin_keys
    assert "0123456789" not in repr(s)  # secrets in reprs are masked


@pytest.mark.parametrize(("value", "says"), [("@/nonexistent/keys.txt", "cannot read the key file /nonexistent/keys.txt"),
                                             ("tiny-secret", "11 characters; keys need at least 16")])
def test_bad_keys_fail_start_up_with_a_clear_line_that_never_shows_a_key(tmp_path, value, says):
    env = clean_env(BOT_API_KEYS=value, BOT_DATA_DIR=tmp_path / "data", BOT_EMBEDDER="hash")
    from conftest import run_triage

    r = run_triage(["serve", "--port", "1"], env, cwd=REPO, timeout=60)
    assert r.returncode == 2 and says in r.stderr and "BOT_API_KEYS" in r.stderr
    assert "tiny-secret" not in r.stderr + r.stdout and "Traceback" not in r.stderr


def test_serve_refuses_a_non_loopback_address_without_keys(tmp_path):
    from conftest import run_triage

    r = run_triage(["serve", "--host", "0.0.0.0", "--port", "1"], clean_env(BOT_DATA_DIR=tmp_path), cwd=REPO, timeout=60)
    assert r.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in r.stderr and "BOT_API_KEYS" in r.stderr


def test_serve_refuses_every_address_without_a_host_name(tmp_path):
    from conftest import run_triage

    env = clean_env(BOT_DATA_DIR=tmp_path, BOT_API_KEYS=KEY)
    r = run_triage(["serve", "--host", "0.0.0.0", "--port", "1"], env, cwd=REPO, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "refusing to listen on 0.0.0.0 without BOT_ALLOWED_HOSTS" in r.stderr and KEY not in r.stderr


# ------------------------------------------------------------------------------ Host names (DNS rebinding)


def test_host_names_default_to_loopback_names_or_the_listening_address(monkeypatch):
    assert Settings(host="127.0.0.1").host_names == ["127.0.0.1", "localhost", "[::1]"] == Settings(host="::1").host_names
    assert Settings(host="10.0.0.5").host_names == ["10.0.0.5"] and Settings(host="fd00::5").host_names == ["[fd00::5]"]
    assert Settings(host="0.0.0.0").host_names == [] == Settings(host="::").host_names  # triage serve refuses to start
    monkeypatch.setenv("BOT_ALLOWED_HOSTS", "Triage.Example.com, localhost")
    assert Settings(host="0.0.0.0").host_names == ["triage.example.com", "localhost"]


def test_a_foreign_host_name_is_400_before_anything_else(hash_bot, tmp_path):
    """No keys (the default `make run`): a page that rebinds attacker.example to 127.0.0.1 sends
    `Host: attacker.example`; it cannot read the stored questions. Real uvicorn on loopback with
    the default host names."""
    s = hash_bot.settings.model_copy(update={"data_dir": tmp_path, "allowed_hosts": []})
    with UvicornThread(create_app(hash_bot, s)) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        port = srv.url.rsplit(":", 1)[1]
        for host in ["attacker.example", f"attacker.example:{port}", "127.0.0.1.attacker.example", "localhost.evil"]:
            r = http.get("/v1/feedback/export", headers={"Host": host})
            err = assert_error(r, 400, "bad_host")
            assert host.split(":")[0] in err["message"] and "BOT_ALLOWED_HOSTS" in err["hint"]
        assert_error(http.post("/v1/ask", json={"question": ISTIO}, headers={"Host": "attacker.example"}), 400, "bad_host")
        assert http.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200  # probes answer under any name
        for host in [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"]:
            assert http.get("/v1/feedback/export", headers={"Host": host}).status_code == 200, host


def test_the_own_origin_comes_from_the_configured_names_not_the_host_header(hash_bot, tmp_path):
    """With any Host allowed, a page at evil.example sending Host: evil.example is not the
    server's own page: its widget key needs its origin in BOT_CORS_ORIGINS."""
    wk = {"X-Widget-Key": WIDGET}
    for names, status in [(["*"], 403), (["evil.example"], 200)]:
        with TestClient(create_app(hash_bot, settings_for(hash_bot, tmp_path, allowed_hosts=names)), base_url="http://evil.example",
                        raise_server_exceptions=False) as c:
            r = c.post("/v1/ask", json={"question": ISTIO}, headers={**wk, "Origin": "http://evil.example"})
            assert r.status_code == status, r.text
            if status == 403:
                assert "http://evil.example" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------ reload (admin)


def _add_nke(env):
    (env.corpus_dir / "nke").mkdir()
    (env.corpus_dir / "nke" / "support-policy.md").write_text(NKE_POLICY, encoding="utf-8")
    build_index(env.corpus_dir, env.index_dir, env.embedder)


def test_reload_needs_an_admin_key_and_swaps_in_a_new_build(hash_index, tmp_path):
    bot = Bot.open(hash_index.settings(auto_index=False), embedder=hash_index.embedder, notify=silent)
    with TestClient(create_app(bot, settings_for(bot, tmp_path)), raise_server_exceptions=False) as c:
        err = assert_error(c.post("/v1/admin/reload", headers=BEARER), 403, "forbidden")
        assert "admin key" in err["message"]
        admin = {"Authorization": f"Bearer {ADMIN}"}
        same = c.post("/v1/admin/reload", headers=admin).json()
        assert same["changed"] is False and same["old_build"] == same["new_build"]

        # a request in flight keeps the Bot it started with
        entered, release = threading.Event(), threading.Event()
        real_ask = bot.ask

        def held(*a, **k):
            entered.set()
            assert release.wait(30)
            return real_ask(*a, **k)

        bot.ask = held
        _add_nke(hash_index)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(c.post, "/v1/ask", json={"question": ISTIO}, headers=BEARER)
            assert entered.wait(10)
            r = c.post("/v1/admin/reload", headers=admin)
            assert r.status_code == 200, r.text
            new = r.json()
            assert new["changed"] is True and new["new_build"] != new["old_build"] == same["new_build"]
            assert {f["provider"] for f in c.post("/v1/ask", json={"question": ISTIO}, headers=BEARER).json()["findings"]} == {"aks", "oke", "nke"}
            release.set()
            assert {f["provider"] for f in pending.result(10).json()["findings"]} == {"aks", "oke"}
        assert c.get("/readyz").json()["build_id"] == new["new_build"]
        assert "nke" in {p["id"] for p in c.get("/v1/providers", headers=BEARER).json()["providers"]}


def test_without_keys_the_loopback_server_reloads_for_anyone_and_the_watcher_follows_builds(hash_index, tmp_path):
    bot = Bot.open(hash_index.settings(auto_index=False), embedder=hash_index.embedder, notify=silent)
    s = bot.settings.model_copy(update={"data_dir": tmp_path, "index_watch_seconds": 0.1})
    with TestClient(create_app(bot, s)) as c:
        first = c.get("/readyz").json()["build_id"]
        assert c.post("/v1/admin/reload").json()["changed"] is False
        _add_nke(hash_index)
        deadline = time.monotonic() + 20
        while c.get("/readyz").json()["build_id"] == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/readyz").json()["build_id"] != first  # the watcher swapped it in
        assert "nke" in {p["id"] for p in c.get("/v1/providers").json()["providers"]}
        stop = c.app.state.triage.stop_watch
    assert stop.is_set()  # shutting down stops the watcher


# ------------------------------------------------------------------------------ the widget with a key (real browser)


@pytest.fixture(scope="module")
def keyed_server(real_bot, host_site, tmp_path_factory):
    _, port = host_site
    s = settings_for(real_bot, tmp_path_factory.mktemp("auth-browser"), cors_origins=[f"http://127.0.0.1:{port}"],
                     widget_keys=[SecretStr(WIDGET.replace('"<x>', "")), SecretStr("second-widget-key-0123456789")], ip_rate_limit_per_minute=5)
    app = create_app(real_bot, s)
    with UvicornThread(app) as srv:
        srv.app = app
        yield srv


@pytest.mark.slow
def test_the_demo_page_works_with_keys_configured(page, keyed_server):  # noqa: F811
    page.goto(keyed_server.url + "/")
    open_widget(page)
    reply = ask(page, ISTIO)
    assert [b.get_attribute("data-verdict") for b in reply.locator(".badge").all()] == ["not-covered", "not-covered"]
    page.locator("#scope option").nth(1).wait_for(state="attached")  # the page's own GET /v1/providers passed too


@pytest.mark.slow
def test_the_widget_shows_401_and_429_clearly(page, keyed_server, host_site):  # noqa: F811
    keyed_server.app.state.access.per_ip = RateLimiter(5)  # a fresh budget for this address
    root, port = host_site
    (root / "bad-key.html").write_text(
        f'<!doctype html><html><body><script src="{keyed_server.url}/widget.js" data-key="not-the-key-0123456789" defer></script></body></html>',
        encoding="utf-8")
    page.goto(f"http://127.0.0.1:{port}/bad-key.html")
    open_widget(page)
    reply = ask(page, ISTIO)
    assert reply.get_attribute("role") == "alert" and "may not use the assistant (401" in reply.inner_text()

    (root / "good-key.html").write_text(
        f'<!doctype html><html><body><script src="{keyed_server.url}/widget.js" data-key="second-widget-key-0123456789" defer></script></body></html>',
        encoding="utf-8")
    page.goto(f"http://127.0.0.1:{port}/good-key.html")
    open_widget(page)
    texts = [ask(page, ISTIO).inner_text() for _ in range(4)]  # 5 a minute from this address, the 401s above included
    assert any("Not covered" in t for t in texts)
    assert re.search(r"Too many questions just now\. Please wait \d+ seconds? and try again\.", texts[-1])

