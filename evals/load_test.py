"""Load test: mixed traffic against `triage serve` over loopback, and the server's memory.

Starts `python -m bot serve` on a free loopback port (a subprocess: its own model and index, a
throw-away BOT_DATA_DIR; with an API key when the server knows BOT_API_KEYS, rate limits off),
waits for /readyz, then runs N concurrent clients (each its own keep-alive connection) for a
warm-up and then a measured period. Each client picks, per request:

* 70 % POST /v1/ask — a question from evals/dev.jsonl; one in five a follow-up ("and on
  <provider>?") in the client's own session;
* 10 % POST /v1/classify — 20 tickets from evals/tickets.csv (subject + body, the six broken
  rows and texts over the question limit left out);
* 20 % POST /v1/feedback — a rating of an answer id handed out earlier in the run.

Reported for the measured period (requests that started in it): throughput, p50/p95/p99 per
endpoint and overall, errors (count and the first messages), requests the server shed with
429 + Retry-After (a polite client waits that long and goes on; counted apart, not as errors,
and left out of the latencies), and the server's RSS
(/proc/<pid>/status VmRSS) at the end of the warm-up and at the end: growth must stay within
--max-rss-growth (10 %). Exit code 1 when it does not or when any request failed. The warm-up
is 30 s by default: under this mix the server's RSS reaches its working set (model activations
for the longest tickets, allocator arenas of the worker threads, caches) in 30-60 s and is flat
after that (a 240 s run is in the README); growth from a colder start says little about leaks.

    python evals/load_test.py [--clients 32] [--seconds 60] [--warmup 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_api import free_port, wait_ready  # noqa: E402  (evals/, beside this file)
from bot.runtime.config import Settings  # noqa: E402
from bot.engine.evaluate import _pct  # noqa: E402

ENDPOINTS = ("ask", "classify", "feedback")


# ------------------------------------------------------------------------------ inputs


def load_questions(path: Path) -> list[dict]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                it = json.loads(line)
                out.append({"question": it["question"], "provider": it.get("provider")})
    return out


def load_tickets(path: Path, max_chars: int) -> list[str]:
    texts = []
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("id") or row["id"].startswith("BROKEN-"):
                continue
            text = "\n\n".join(x for x in ((row.get("subject") or "").strip(), (row.get("body") or "").strip()) if x)
            if text and "\x00" not in text and len(text) <= max_chars:
                texts.append(text)
    return texts


# ------------------------------------------------------------------------------ the server


def server_env(data_dir: str, settings: Settings, use_key: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Environment for `triage serve` and the headers clients send. A key is made up when the
    server has BOT_API_KEYS; its rate limits are switched off (this is a load test)."""
    env = {**os.environ, "BOT_DATA_DIR": data_dir, "BOT_INDEX_DIR": str(settings.index_dir), "BOT_CORPUS_DIR": str(settings.corpus_dir)}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    headers: dict[str, str] = {}
    fields = Settings.model_fields
    if use_key and "api_keys" in fields:
        key = secrets.token_urlsafe(24)
        env["BOT_API_KEYS"] = key
        headers["Authorization"] = f"Bearer {key}"
    for name in ("rate_limit_per_minute", "ip_rate_limit_per_minute"):
        if name in fields:
            env[f"BOT_{name.upper()}"] = "0"
    return env, headers


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------------------ the clients


class Run:
    """Shared state of one load run: the clock, the answer ids handed out, the results."""

    def __init__(self, args, questions, tickets, providers, warm_until: float, end_at: float):
        self.args, self.questions, self.tickets, self.providers = args, questions, tickets, providers
        self.warm_until, self.end_at = warm_until, end_at
        self.answer_ids: deque[str] = deque(maxlen=5000)
        self.lat: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
        self.errors: dict[str, int] = {e: 0 for e in ENDPOINTS}
        self.shed: dict[str, int] = {e: 0 for e in ENDPOINTS}  # 429 + Retry-After: back-pressure, honoured
        self.first_errors: list[str] = []
        self.warmup_requests = 0

    def note(self, endpoint: str, started: float, seconds: float, error: str | None, shed: bool = False) -> None:
        if started < self.warm_until:
            self.warmup_requests += 1
            return
        if shed:
            self.shed[endpoint] += 1
            return
        self.lat[endpoint].append(seconds)
        if error:
            self.errors[endpoint] += 1
            if len(self.first_errors) < 5:
                self.first_errors.append(f"{endpoint}: {error}")


async def client(run: Run, url: str, headers: dict[str, str], seed: int) -> None:
    rnd = random.Random(seed)
    session = f"load-{seed}-{secrets.token_hex(4)}"
    mix = run.args.mix
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=httpx.Limits(max_connections=1)) as c:
        while time.monotonic() < run.end_at:
            pick = rnd.random() * 100
            if pick < mix[0] or (pick >= mix[0] + mix[1] and not run.answer_ids):
                endpoint = "ask"
                if rnd.random() < 0.2 and run.providers:
                    body = {"question": f"and on {rnd.choice(run.providers)}?", "session_id": session}
                else:
                    q = rnd.choice(run.questions)
                    body = {"question": q["question"], "provider": q["provider"], "session_id": session}
                path = "/v1/ask"
            elif pick < mix[0] + mix[1]:
                endpoint, path = "classify", "/v1/classify"
                body = {"tickets": [{"id": f"{seed}-{i}", "text": rnd.choice(run.tickets)} for i in range(run.args.classify_size)]}
            else:
                endpoint, path = "feedback", "/v1/feedback"
                body = {"answer_id": rnd.choice(run.answer_ids), "rating": rnd.choice(("up", "down")), "comment": "load test"}
            t0 = time.monotonic()
            error, wait = None, 0.0
            try:
                r = await c.post(path, json=body)
                if r.status_code == 429 and r.headers.get("retry-after", "").isdigit():
                    wait = float(r.headers["retry-after"])  # the server sheds work: a polite client waits
                elif r.status_code not in (200, 201):
                    error = f"{r.status_code} {r.text[:160]}"
                elif endpoint == "ask":
                    run.answer_ids.append(r.json()["answer_id"])
                elif endpoint == "classify":
                    run.answer_ids.extend(a["answer_id"] for a in r.json()["answers"] if "answer_id" in a)
            except (httpx.HTTPError, ValueError, KeyError) as e:
                error = f"{type(e).__name__}: {e}"
            run.note(endpoint, t0, time.monotonic() - t0, error, shed=bool(wait))
            if wait:
                await asyncio.sleep(min(wait, max(0.0, run.end_at - time.monotonic())))


async def drive(run: Run, url: str, headers: dict[str, str], pid: int) -> dict:
    """All clients at once; RSS sampled every second; returns the RSS figures."""
    tasks = [asyncio.create_task(client(run, url, headers, i)) for i in range(run.args.clients)]
    samples: list[tuple[float, float]] = []
    rss_warm = None
    while time.monotonic() < run.end_at:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        mb = rss_mb(pid)
        if now >= run.warm_until:
            rss_warm = rss_warm if rss_warm is not None else mb
            samples.append((now, mb))
    rss_end = rss_mb(pid)  # before the clients' last requests drain
    await asyncio.gather(*tasks)
    return {"rss_warm": rss_warm or rss_end, "rss_end": rss_end, "samples": samples}


def summarise(run: Run, rss: dict, seconds: float, cpu_client: float, ready_s: float) -> dict:
    per = {}
    everything: list[float] = []
    for e in ENDPOINTS:
        lat = run.lat[e]
        everything += lat
        per[e] = {
            "requests": len(lat), "errors": run.errors[e], "shed_429": run.shed[e], "rps": len(lat) / seconds,
            "p50_ms": _pct(lat, 0.5) * 1000, "p95_ms": _pct(lat, 0.95) * 1000, "p99_ms": _pct(lat, 0.99) * 1000,
        }
    mbs = [mb for _, mb in rss["samples"]] or [rss["rss_end"]]
    growth = (rss["rss_end"] - rss["rss_warm"]) / rss["rss_warm"] * 100 if rss["rss_warm"] else 0.0
    return {
        "cpus": os.cpu_count(),
        "clients": run.args.clients,
        "warmup_seconds": run.args.warmup,
        "seconds": seconds,
        "mix_percent": dict(zip(ENDPOINTS, run.args.mix)),
        "classify_size": run.args.classify_size,
        "server_ready_seconds": ready_s,
        "warmup_requests": run.warmup_requests,
        "endpoints": per,
        "overall": {
            "requests": len(everything), "errors": sum(run.errors.values()), "shed_429": sum(run.shed.values()), "rps": len(everything) / seconds,
            "tickets_per_s": per["classify"]["requests"] * run.args.classify_size / seconds,
            "p50_ms": _pct(everything, 0.5) * 1000, "p95_ms": _pct(everything, 0.95) * 1000, "p99_ms": _pct(everything, 0.99) * 1000,
        },
        "first_errors": run.first_errors,
        "rss_mb": {"after_warmup": rss["rss_warm"], "end": rss["rss_end"], "min": min(mbs), "max": max(mbs), "growth_percent": growth,
                   "every_5s": [round(mb) for _, mb in rss["samples"][4::5]]},
        "rss_limit_percent": run.args.max_rss_growth,
        "load_generator_cpu_seconds": cpu_client,
        "loadavg_at_end": os.getloadavg()[0],
    }


def render(rep: dict) -> None:
    print(f"{rep['clients']} clients, {rep['warmup_seconds']:g}s warm-up then {rep['seconds']:.0f}s measured; {rep['cpus']} CPUs; "
          f"mix {', '.join(f'{k} {v:g}%' for k, v in rep['mix_percent'].items())} (classify: {rep['classify_size']} tickets)")
    print(f"{'':10}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}{'shed 429':>10}")
    for name, m in [*rep["endpoints"].items(), ("overall", rep["overall"])]:
        print(f"{name:10}{m['requests']:9d}{m['rps']:8.1f}{m['p50_ms']:9.0f}{m['p95_ms']:9.0f}{m['p99_ms']:9.0f}{m['errors']:8d}{m['shed_429']:10d}")
    r = rep["rss_mb"]
    ok = r["growth_percent"] <= rep["rss_limit_percent"]
    print(f"tickets classified: {rep['overall']['tickets_per_s']:.1f}/s; load generator CPU: {rep['load_generator_cpu_seconds']:.1f}s")
    print(f"server RSS: {r['after_warmup']:.0f} MB after warm-up -> {r['end']:.0f} MB at the end ({r['growth_percent']:+.1f}%, "
          f"limit {rep['rss_limit_percent']:g}%: {'ok' if ok else 'TOO MUCH'}); range {r['min']:.0f}-{r['max']:.0f} MB")
    print(f"server RSS every 5 s (MB): {' '.join(str(x) for x in r['every_5s'])}")
    print(f"load average (1 min) at the end: {rep['loadavg_at_end']:.2f}")
    for e in rep["first_errors"]:
        print(f"error: {e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    ap.add_argument("--seconds", type=float, default=60, help="measured period (default 60)")
    ap.add_argument("--warmup", type=float, default=30, help="warm-up before measuring (default 30)")
    ap.add_argument("--mix", default="70,10,20", help="percent ask,classify,feedback (default 70,10,20)")
    ap.add_argument("--classify-size", type=int, default=20, help="tickets per /v1/classify (default 20)")
    ap.add_argument("--max-rss-growth", type=float, default=10.0, help="allowed RSS growth in %% after warm-up (default 10)")
    ap.add_argument("--no-key", action="store_true", help="do not set BOT_API_KEYS even if the server supports it")
    ap.add_argument("--index", type=Path, help="index folder (default: BOT_INDEX_DIR or index/)")
    ap.add_argument("--corpus", type=Path, help="corpus folder (default: BOT_CORPUS_DIR or corpus/)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()
    args.mix = [float(x) for x in args.mix.split(",")]
    if len(args.mix) != 3 or abs(sum(args.mix) - 100) > 1e-6:
        ap.error("--mix needs three percentages that add up to 100, e.g. 70,10,20")

    settings = Settings(**{k: v for k, v in (("index_dir", args.index), ("corpus_dir", args.corpus)) if v is not None})
    questions = load_questions(ROOT / "evals" / "dev.jsonl")
    tickets = load_tickets(ROOT / "evals" / "tickets.csv", settings.max_question_chars)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        log_path = Path(tmp) / "server.log"
        env, headers = server_env(tmp, settings, not args.no_key)
        started = time.monotonic()
        cmd = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
        try:
            wait_ready(url, proc, log_path)
            ready_s = time.monotonic() - started
            info = httpx.get(url + "/v1/providers", headers=headers, timeout=30).json()
            names = [p["id"].upper() for p in info["providers"]]
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            run = Run(args, questions, tickets, names, t0 + args.warmup, t0 + args.warmup + args.seconds)
            rss = asyncio.run(drive(run, url, headers, proc.pid))
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            if proc.poll() is not None:
                sys.exit(f"the server died during the run ({proc.returncode}):\n{log_path.read_text()[-2000:]}")
        finally:
            proc.terminate()
            proc.wait(60)
    rep = summarise(run, rss, args.seconds, (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime), ready_s)
    if args.json:
        print(json.dumps({k: v for k, v in rep.items()}, indent=1))
    else:
        render(rep)
    failed = rep["overall"]["errors"] > 0 or rep["rss_mb"]["growth_percent"] > args.max_rss_growth
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
