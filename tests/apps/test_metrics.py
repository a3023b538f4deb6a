"""GET /metrics (bot.apps.api.metrics) against the real app on the hash bot: the text parses as
Prometheus' format (prometheus-client's own parser), and each family counts what was done."""

from __future__ import annotations

import calendar
import threading
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bot.apps.api import create_app
from helpers import assert_error

ADMIN = "metrics-admin-key-0123456789"
KEY = "metrics-api-key-0123456789"


def scrape(client, **headers) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of one scrape."""
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name: str, **labels) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_requests_answers_findings_ratings_and_index_age(hash_bot, tmp_path):
    s = hash_bot.settings.model_copy(update={"data_dir": tmp_path})
    with TestClient(create_app(hash_bot, s), raise_server_exceptions=False) as c:
        asks = [c.post("/v1/ask", json={"question": q}).json() for q in ("Is Istio supported?", "Is Helm supported?")]
        batch = c.post("/v1/classify", json={"tickets": [{"id": 1, "text": "Who patches nodes?"}, {"id": 2, "text": " "}]}).json()["answers"]
        assert c.post("/v1/feedback", json={"answer_id": asks[0]["answer_id"], "rating": "up"}).status_code == 201
        assert c.post("/v1/feedback", json={"answer_id": asks[1]["answer_id"], "rating": "down"}).status_code == 201
        assert c.post("/v1/feedback", json={"answer_id": "nope", "rating": "up"}).status_code == 404  # not a rating
        assert c.get("/v1/no/such/route/123").status_code == 404
        assert c.post("/v1/ask", content=b"{", headers={"content-type": "application/json"}).status_code == 422
        built_at = c.get("/v1/providers").json()["built_at"]
        m = scrape(c)

    assert value(m, "triage_http_requests_total", method="POST", route="/v1/ask", status="200") == 2
    assert value(m, "triage_http_requests_total", method="POST", route="/v1/ask", status="422") == 1
    assert value(m, "triage_http_requests_total", method="POST", route="/v1/feedback", status="404") == 1
    assert value(m, "triage_http_requests_total", method="GET", route="unmatched", status="404") == 1  # no raw paths as labels
    assert not [ls for (n, ls) in m if n == "triage_http_requests_total" and "123" in str(ls)]
    assert value(m, "triage_http_request_duration_seconds_count", method="POST", route="/v1/ask") == 3
    assert value(m, "triage_http_request_duration_seconds_bucket", method="POST", route="/v1/ask", le="+Inf") == 3
    assert value(m, "triage_http_request_duration_seconds_sum", method="POST", route="/v1/ask") > 0

    given = asks + [batch[0]]  # the blank ticket got an error, not an answer
    assert "error" in batch[1]
    assert total(m, "triage_answers_total") == 3
    for a in given:
        n = sum(1 for b in given if (b["verdict"], b["escalate"]) == (a["verdict"], a["escalate"]))
        assert value(m, "triage_answers_total", verdict=a["verdict"], escalate=str(a["escalate"]).lower()) == n
    for provider in {f["provider"] for a in given for f in a["findings"]}:
        assert total(m, "triage_findings_total", provider=provider) == sum(f["provider"] == provider for a in given for f in a["findings"])
    assert value(m, "triage_feedback_total", rating="up") == 1 and value(m, "triage_feedback_total", rating="down") == 1

    assert value(m, "triage_ready") == 1 and value(m, "triage_feedback_store_available") == 1
    age = value(m, "triage_index_build_age_seconds")
    expected = time.time() - calendar.timegm(time.strptime(built_at, "%Y-%m-%dT%H:%M:%SZ"))
    assert 0 <= age and abs(age - expected) < 60
    assert total(m, "triage_index_info") == 1
    assert value(m, "process_resident_memory_bytes") > 0


def test_metrics_while_loading_say_not_ready_and_readyz_503_is_counted(hash_bot, tmp_path):
    release = threading.Event()

    def loader():
        release.wait(30)
        return hash_bot

    with TestClient(create_app(loader, hash_bot.settings.model_copy(update={"data_dir": tmp_path}))) as c:
        assert c.get("/readyz").status_code == 503
        m = scrape(c)  # served while loading: no 503 here
        assert value(m, "triage_ready") == 0 and total(m, "triage_index_build_age_seconds") == 0
        assert value(m, "triage_http_requests_total", method="GET", route="/readyz", status="503") == 1
        release.set()
        for _ in range(200):
            if c.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        assert value(scrape(c), "triage_ready") == 1


def test_with_keys_metrics_need_an_admin_key_and_the_spec_says_so(hash_bot, tmp_path):
    s = hash_bot.settings.model_copy(update={"data_dir": tmp_path, "api_keys": [SecretStr(KEY)], "admin_keys": [SecretStr(ADMIN)]})
    with TestClient(create_app(hash_bot, s), raise_server_exceptions=False) as c:
        assert_error(c.get("/metrics"), 401, "unauthorized")
        err = assert_error(c.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}), 403, "forbidden")
        assert "admin key" in err["message"]
        m = scrape(c, Authorization=f"Bearer {ADMIN}")
        assert value(m, "triage_http_requests_total", method="GET", route="/metrics", status="401") == 1
        assert value(m, "triage_http_requests_total", method="GET", route="/metrics", status="403") == 1
        op = c.get("/openapi.json").json()["paths"]["/metrics"]["get"]
    assert op["security"] == [{"apiKey": []}] and "admin key" in op["summary"]
    assert "text/plain" in op["responses"]["200"]["content"]


@pytest.mark.parametrize("accept", ["application/openmetrics-text; version=1.0.0", "application/openmetrics-text"])
def test_openmetrics_when_asked_for(hash_bot, tmp_path, accept):
    with TestClient(create_app(hash_bot, hash_bot.settings.model_copy(update={"data_dir": tmp_path}))) as c:
        r = c.get("/metrics", headers={"accept": accept})
    assert r.headers["content-type"].startswith("application/openmetrics-text") and r.text.rstrip().endswith("# EOF")
