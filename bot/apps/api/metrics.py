"""``GET /metrics``: the server's counters in Prometheus' text format (prometheus-client).

* HTTP: requests by method, route template (``/v1/ask``, ``/docs/assets/{name}``; a path no
  route matches is ``unmatched``, so scanners cannot blow up the label set) and status, and a
  latency histogram by method and route — measured outermost, so refusals by the key check,
  the body limit and the last-resort 500 count too.
* Answers: every answer handed out (API and Slack alike: counted where they are recorded in
  the feedback store) by overall verdict and escalation, findings by provider and verdict, and
  ratings by up/down.
* State, read at scrape time: ready or not, the index build's age and id, the feedback store's
  health and the answers it could not record; plus the process' CPU, memory and GC.

Each app has its own registry (tests make many apps in one process). With keys configured the
route needs an admin key, like ``/v1/admin/*`` (bot.auth): the counts say what is asked and
how it is answered, which is operators' business; a Prometheus job sends it as a bearer token.
"""

from __future__ import annotations

import calendar
import time
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from starlette.routing import Match

from ...engine.types import TopVerdict
from ...runtime.feedback import Rating
from .schemas import _errors

__all__ = ["Metrics", "add_metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class Metrics:
    """The registry and the instruments; ``counting(store)`` wraps the feedback store."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=r)
        self.requests = Counter("triage_http_requests", "HTTP requests by method, route template and status.",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("triage_http_request_duration_seconds", "Time from request to the end of the response, by method and route template.",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.answers = Counter("triage_answers", "Answers handed out (API and Slack) by overall verdict and whether they escalate to a human.",
                               ["verdict", "escalate"], registry=r)
        self.findings = Counter("triage_findings", "Per-provider findings of the answers handed out, by provider and verdict.",
                                ["provider", "verdict"], registry=r)
        self.feedback = Counter("triage_feedback", "Ratings received (thumbs up / down).", ["rating"], registry=r)
        for verdict in get_args(TopVerdict):  # zeros from the start, so rates and ratios are defined
            for escalate in ("true", "false"):
                self.answers.labels(verdict, escalate)
        for rating in get_args(Rating):
            self.feedback.labels(rating)

    def counting(self, store):
        return _CountingStore(store, self)

    def watch(self, state) -> None:
        self.registry.register(_StateCollector(state))

    def observe_answer(self, answer) -> None:
        self.answers.labels(answer.verdict, "true" if answer.escalate else "false").inc()
        for f in answer.findings:
            self.findings.labels(f.provider, f.verdict).inc()


class _CountingStore:
    """The feedback store, counting what passes through: every answer a front end hands out is
    recorded there, and every rating. Everything else is the store's own."""

    def __init__(self, store, metrics: Metrics):
        self._store, self._metrics = store, metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def record(self, records) -> bool:
        records = list(records)
        for r in records:  # given, whether or not the store can keep it
            self._metrics.observe_answer(r.answer)
        return self._store.record(records)

    def rate(self, answer_id, rating, *args, **kwargs):
        out = self._store.rate(answer_id, rating, *args, **kwargs)
        self._metrics.feedback.labels(rating).inc()
        return out


def _epoch(iso: str | None) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))) if iso else None
    except ValueError:
        return None


class _StateCollector:
    """What is true at scrape time: loaded or not, the build served and its age, the store."""

    def __init__(self, state):
        self.state = state

    def collect(self):
        holder = self.state.holder
        bot = holder.bot if holder is not None else None
        yield GaugeMetricFamily("triage_ready", "1 once the model and index are loaded (what /readyz says).", value=0 if bot is None else 1)
        if bot is not None:
            manifest = bot.index.manifest
            info = GaugeMetricFamily("triage_index_info", "The index build being served (value 1).", labels=["build_id", "model_id"])
            info.add_metric([str(manifest.get("build_id")), str(bot.model_id)], 1)
            yield info
            built = _epoch(manifest.get("built_at"))
            if built is not None:
                yield GaugeMetricFamily("triage_index_build_age_seconds", "Seconds since the served index build was made.",
                                        value=max(0.0, time.time() - built))
        store = self.state.store
        yield GaugeMetricFamily("triage_feedback_store_available", "1 while the feedback store can be written.", value=int(store.available))
        yield CounterMetricFamily("triage_answers_unrecorded", "Answers given but not recorded because the feedback store was unavailable.",
                                  value=store.dropped)


class HttpMetrics:
    """Outermost ASGI middleware: counts and times every HTTP request by its route template."""

    def __init__(self, app, metrics: Metrics, router):
        self.app, self.metrics, self.router = app, metrics, router

    def route_of(self, scope) -> str:
        partial = None
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
            if match is Match.PARTIAL and partial is None:  # the path matches, the method not (a 405)
                partial = route.path
        return partial or UNMATCHED

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "") if scope.get("method") in METHODS else "other"
        status, t0 = 500, time.perf_counter()

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # the router notes the route it matched in the scope; requests refused before
            # routing (a key, the body limit) or that matched nothing are looked up here
            route = getattr(scope.get("route"), "path", None) or self.route_of(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - t0)


def add_metrics(app: FastAPI, state, metrics: Metrics) -> None:
    """The route, the state collector and the HTTP middleware (call after ``add_middleware``:
    the middleware added last runs first, so this one sees every request and its final status)."""
    metrics.watch(state)
    app.add_middleware(HttpMetrics, metrics=metrics, router=app.router)

    @app.get(
        "/metrics", tags=["admin"], summary="Counters in Prometheus' text format (admin key)", response_class=Response,
        responses={200: {"description": "Prometheus text format (OpenMetrics when asked for in Accept).",
                         "content": {"text/plain": {"schema": {"type": "string"}}}}, **_errors(401, 403, 429, 500)},
    )
    async def metrics_endpoint(request: Request):
        """Requests by route and status, latency histograms, answers by verdict and escalation,
        findings by provider, ratings, readiness and the index build's age. With keys
        configured it needs an admin key (`Authorization: Bearer`)."""
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(metrics.registry), media_type=None, headers={"Content-Type": content_type})
