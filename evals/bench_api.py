"""Benchmark POST /v1/ask over loopback, beside the in-process floor measured in the same run.

Starts `triage serve` on a free loopback port (a subprocess, its own model and index, a
throw-away data dir), waits for /readyz, then measures:

0. cold starts, before anything else runs: the median wall time of 5 fresh `triage ask`
   and `triage providers` processes (one unmeasured run first, so the OS file cache is warm);
1. in this process, with the server idle: ``bot.evaluate``'s latency on the same questions —
   the floor (query embedding + one raw Chroma query) and ``answer()`` itself — and then
   ``answer()`` called from N threads at once, the in-process twin of the concurrent phase;
2. one HTTP client, one request at a time: what the API adds to ``answer()``;
3. N concurrent HTTP clients (default 8) sending M requests in all: p50/p95 and throughput.

Latencies are also given as multiples of the floor p50, which travel between machines.

    python evals/bench_api.py [--clients 8] [--requests 240] [--cold-runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.runtime.config import Settings  # noqa: E402
from bot.engine.evaluate import _pct, evaluate, load_items  # noqa: E402
from bot.engine.service import Bot  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, data_dir: str, log_path: Path, settings: Settings) -> subprocess.Popen:
    env = {**os.environ, "BOT_DATA_DIR": data_dir, "BOT_INDEX_DIR": str(settings.index_dir), "BOT_CORPUS_DIR": str(settings.corpus_dir)}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    cmd = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def cold_starts(settings: Settings, runs: int) -> dict:
    """Median wall time of a fresh process answering one question, and listing providers."""
    env = {**os.environ, "BOT_INDEX_DIR": str(settings.index_dir), "BOT_CORPUS_DIR": str(settings.corpus_dir), "HF_HUB_OFFLINE": "1"}
    # Python's bytecode cache on, as on any machine that does not turn it off (this sandbox sets
    # PYTHONDONTWRITEBYTECODE=1, which adds ~0.3 s of compiling the bot's modules to every start);
    # the unmeasured first run writes it, as it warms the OS file cache
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out: dict = {"runs": runs, "bytecode_cache": True}
    for name, args in (("ask", ["ask", "Is Istio supported?", "--json"]), ("providers", ["providers", "--json"])):
        times = []
        for i in range(runs + 1):  # the first only warms the OS file cache
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, check=True, timeout=300)
            if i:
                times.append(time.perf_counter() - t0)
        out[f"{name}_median_s"] = statistics.median(times)
        out[f"{name}_s"] = [round(t, 3) for t in times]
    return out


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 600) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit(f"the server exited ({proc.returncode}):\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"the server was not ready after {timeout:.0f}s:\n{log_path.read_text()[-2000:]}")


def run_concurrent(n: int, payloads: list[dict], make_call) -> dict:
    """``n`` threads share the payload list; ``make_call()`` gives each thread its own
    ``call(payload) -> error text or None`` (and may warm a connection up first)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    next_i = iter(range(len(payloads)))

    def worker():
        call = make_call()
        while True:
            with lock:
                i = next(next_i, None)
            if i is None:
                return
            t0 = time.perf_counter()
            err = call(payloads[i])
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if err:
                    errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "clients": n,
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": _pct(latencies, 0.5) * 1000,
        "p95_ms": _pct(latencies, 0.95) * 1000,
        "throughput_rps": len(latencies) / wall if wall else 0.0,
        "seconds": wall,
    }


def run_clients(url: str, payloads: list[dict], clients: int) -> dict:
    """``clients`` HTTP clients, each with its own keep-alive connection."""

    def make_call():
        c = httpx.Client(base_url=url, timeout=120)
        c.post("/v1/ask", json=payloads[0])  # open the connection outside the measurement

        def call(p: dict) -> str | None:
            r = c.post("/v1/ask", json=p)
            return None if r.status_code == 200 else f"{r.status_code} {r.text[:120]}"

        return call

    return run_concurrent(clients, payloads, make_call)


def run_in_process(bot: Bot, payloads: list[dict], threads: int) -> dict:
    """``threads`` callers of ``bot.answer`` at once: what concurrency costs without HTTP."""

    def make_call():
        def call(p: dict) -> None:
            bot.answer(p["question"], p["provider"])

        return call

    return run_concurrent(threads, payloads, make_call)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (default 8)")
    ap.add_argument("--requests", type=int, default=240, help="requests in the concurrent phase (default 240)")
    ap.add_argument("--sequential", type=int, default=100, help="requests in the one-client phase (default 100)")
    ap.add_argument("--questions", type=Path, default=ROOT / "evals" / "dev.jsonl", help="eval file whose questions are asked")
    ap.add_argument("--cold-runs", type=int, default=5, help="fresh `triage ask` / `triage providers` processes timed (default 5; 0 skips)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()

    settings = Settings()
    Bot.open(settings, notify=lambda m: None).close()  # a missing or stale index is built before anything is timed
    cold = cold_starts(settings, args.cold_runs) if args.cold_runs > 0 else None
    items = load_items(args.questions)
    payloads = [{"question": it.question, "provider": it.provider} for it in items]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        log_path = Path(tmp) / "server.log"
        started = time.perf_counter()
        proc = start_server(port, tmp, log_path, settings)
        try:
            bot = Bot.open(settings, notify=lambda m: None)  # loads while the server does
            wait_ready(url, proc, log_path)
            ready_s = time.perf_counter() - started
            lat = evaluate(bot, items)["latency_ms"]  # server idle meanwhile
            floor = lat["floor_p50"]
            par = run_in_process(bot, [payloads[i % len(payloads)] for i in range(args.requests)], args.clients)
            seq = run_clients(url, [payloads[i % len(payloads)] for i in range(args.sequential)], 1)
            conc = run_clients(url, [payloads[i % len(payloads)] for i in range(args.requests)], args.clients)
        finally:
            proc.terminate()
            proc.wait(30)
    for phase in (seq, conc):
        phase["p50_x_floor"] = phase["p50_ms"] / floor if floor else 0.0
        phase["p95_x_floor"] = phase["p95_ms"] / floor if floor else 0.0
    report = {
        "cpus": os.cpu_count(),
        "questions": len(items),
        "server_ready_seconds": ready_s,
        "cold_start": cold,
        "in_process": {
            "floor_p50_ms": floor, "floor_p95_ms": lat["floor_p95"],
            "answer_p50_ms": lat["answer_p50"], "answer_p95_ms": lat["answer_p95"],
            "answer_p50_x_floor": lat["ratio_p50"], "answer_p95_x_floor": lat["answer_p95"] / floor if floor else 0.0,
        },
        "in_process_concurrent": par,
        "http_one_client": seq,
        "http_concurrent": conc,
        # what HTTP adds: each phase against its in-process twin
        "http_one_client_p50_x_answer": seq["p50_ms"] / lat["answer_p50"] if lat["answer_p50"] else 0.0,
        "http_concurrent_p50_x_answer_concurrent": conc["p50_ms"] / par["p50_ms"] if par["p50_ms"] else 0.0,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    ip = report["in_process"]
    print(f"{len(items)} questions from {args.questions.name}; {report['cpus']} CPUs; server ready in {ready_s:.1f}s")
    if cold:
        print(f"cold start, median of {cold['runs']}: `triage ask` {cold['ask_median_s']:.2f}s, `triage providers` {cold['providers_median_s']:.2f}s")
    print(f"{'':34}{'p50 ms':>9}{'p95 ms':>9}{'p50/floor':>11}{'p95/floor':>11}{'req/s':>8}")
    print(f"{'in-process floor (embed+Chroma)':34}{floor:9.1f}{ip['floor_p95_ms']:9.1f}{1:11.2f}{ip['floor_p95_ms'] / floor:11.2f}")
    print(f"{'in-process answer()':34}{ip['answer_p50_ms']:9.1f}{ip['answer_p95_ms']:9.1f}{ip['answer_p50_x_floor']:11.2f}{ip['answer_p95_x_floor']:11.2f}")
    print(f"{'in-process answer(), ' + str(par['clients']) + ' threads':34}{par['p50_ms']:9.1f}{par['p95_ms']:9.1f}{par['p50_ms'] / floor:11.2f}{par['p95_ms'] / floor:11.2f}{par['throughput_rps']:8.1f}")
    for name, ph in ((f"HTTP /v1/ask, 1 client", seq), (f"HTTP /v1/ask, {conc['clients']} clients", conc)):
        print(f"{name:34}{ph['p50_ms']:9.1f}{ph['p95_ms']:9.1f}{ph['p50_x_floor']:11.2f}{ph['p95_x_floor']:11.2f}{ph['throughput_rps']:8.1f}")
    print(f"HTTP p50 vs in-process p50: 1 client {report['http_one_client_p50_x_answer']:.2f}x, "
          f"{conc['clients']} clients {report['http_concurrent_p50_x_answer_concurrent']:.2f}x")
    if seq["errors"] or conc["errors"]:
        print(f"errors: {seq['errors'] + conc['errors']} (first: {seq['first_error'] or conc['first_error']})")


if __name__ == "__main__":
    main()
