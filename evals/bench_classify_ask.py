"""Chat latency while a big classify batch runs: does one batch hold the server?

Starts `python -m bot serve` on a free loopback port (a subprocess: its own model and index, a
throw-away data dir, no keys), waits for /readyz, then:

1. asks ``--asks`` questions one after another on an idle server (the baseline);
2. sends one batch of ``--tickets`` tickets of about ``--chars`` characters each — as one
   ``POST /v1/classify`` (``--mode sync``) or as a job (``--mode job``: ``POST
   /v1/classify/jobs``, then polling) — and while it runs, one client asks questions one after
   another (0.2 s apart) until the batch is done.

Reports ask p50/p95/max idle and during the batch, and the batch's time and rate. Run it
against another checkout with ``PYTHONPATH=<checkout>`` to compare (the old server only has
``--mode sync``).

    python evals/bench_classify_ask.py [--tickets 400] [--chars 1940] [--mode job] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_api import free_port, start_server, wait_ready  # noqa: E402  (evals/, beside this file)
from bot.engine.evaluate import _pct  # noqa: E402
from bot.runtime.config import Settings  # noqa: E402

QUESTIONS = ["Is Istio supported?", "can I ssh into my worker nodes?", "Who is responsible for backing up our application data?",
             "Is Helm supported on OKE?", "Do you support custom kernel modules?"]
FILLER = ("We run several node pools in production and saw pods restarting after the last upgrade. The logs show "
          "readiness probes failing for a few minutes, then everything recovers. ")


def tickets(n: int, chars: int) -> list[dict]:
    """``n`` distinct tickets of about ``chars`` characters: a question, then log-like filler."""
    out = []
    for i in range(n):
        text = f"Ticket {i}: {QUESTIONS[i % len(QUESTIONS)]} "
        while len(text) < chars:
            text += FILLER
        out.append({"id": i, "text": text[:chars]})
    return out


def ask_loop(http: httpx.Client, stop: threading.Event, lat: list[float], errors: list[str]) -> None:
    """Ask one question after another until ``stop``; an ask that ends after the batch counts too."""
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            http.post("/v1/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]}).raise_for_status()
        except httpx.HTTPError as e:
            errors.append(f"{type(e).__name__}: {e}"[:200])
        lat.append(time.perf_counter() - t0)
        i += 1
        stop.wait(0.2)


def run_batch(http: httpx.Client, mode: str, batch: list[dict]) -> float:
    t0 = time.perf_counter()
    if mode == "sync":
        r = http.post("/v1/classify", json={"tickets": batch}, timeout=1200)
        r.raise_for_status()
        assert len(r.json()["answers"]) == len(batch)
    else:
        r = http.post("/v1/classify/jobs", json={"tickets": batch})
        r.raise_for_status()
        url = f"/v1/classify/jobs/{r.json()['id']}"
        while (job := http.get(url).json())["status"] in ("queued", "running"):
            time.sleep(0.5)
        assert job["status"] == "done" and len(job["answers"]) == len(batch), job.get("error")
    return time.perf_counter() - t0


def stats(lat: list[float]) -> dict:
    return {"n": len(lat), "p50_ms": round(_pct(lat, 0.5) * 1000), "p95_ms": round(_pct(lat, 0.95) * 1000), "max_ms": round(max(lat) * 1000)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=400)
    ap.add_argument("--chars", type=int, default=1940)
    ap.add_argument("--asks", type=int, default=20, help="idle baseline asks")
    ap.add_argument("--mode", choices=("sync", "job"), default="job")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    settings = Settings()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        log = Path(data) / "server.log"
        proc = start_server(port, data, log, settings)
        try:
            wait_ready(url, proc, log)
            with httpx.Client(base_url=url, timeout=300) as http, httpx.Client(base_url=url, timeout=300) as chat:
                idle: list[float] = []
                stop = threading.Event()
                for _ in range(a.asks):
                    t0 = time.perf_counter()
                    chat.post("/v1/ask", json={"question": QUESTIONS[len(idle) % len(QUESTIONS)]}).raise_for_status()
                    idle.append(time.perf_counter() - t0)
                busy: list[float] = []
                errors: list[str] = []
                asker = threading.Thread(target=ask_loop, args=(chat, stop, busy, errors))
                asker.start()
                try:
                    seconds = run_batch(http, a.mode, tickets(a.tickets, a.chars))
                finally:
                    stop.set()
                    asker.join(600)
        finally:
            proc.terminate()
            proc.wait(30)
    report = {"mode": a.mode, "tickets": a.tickets, "chars": a.chars, "batch_seconds": round(seconds, 1),
              "tickets_per_s": round(a.tickets / seconds, 1), "ask_idle": stats(idle), "ask_during_batch": stats(busy), "ask_errors": errors[:5]}
    print(json.dumps(report) if a.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
