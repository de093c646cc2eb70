"""Load on ``marginal-generate serve``: throughput and p50/p99 latency at 1, 8, 32 and 128 concurrent clients,
each sending single-prompt ``POST /v1/moderations`` requests, against the same requests sent one after another.

Starts the server as its own process (``--port 0``; the embedded tiny guard unless ``--model``), warms it up, then
for each concurrency ``c`` sends ``max(c, --requests)`` requests with ``c`` in flight at a time (asyncio and httpx),
the prompts taken in turn from the embedded model's held-out data. The batches the server formed are read from its
``/metrics`` (prompts per model call). The goal of issue #32: 32 concurrent requests at least 3x faster than the
same 32 one after another, on CPU.

    python benchmarks/serve_load.py                          # the embedded tiny guard on CPU
    python benchmarks/serve_load.py --levels 1,32 --requests 64 --max-wait-ms 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

import marginal_generate as mg  # noqa: E402


def start_server(flags: list[str]) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "marginal_generate.cli", "serve", "--port", "0", *flags]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if selector.select(timeout=1.0):
            line = process.stdout.readline()
            if " at http://" in line:
                return process, line.split(" at ", 1)[1].split()[0]
    process.kill()
    raise SystemExit("serve_load: the server did not start (run the serve command by hand to see why)")


def metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def run_level(url: str, texts: list[str], concurrency: int, total: int) -> tuple[float, list[float]]:
    """``total`` requests, ``concurrency`` in flight at a time; the wall time and each request's latency."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=600) as client:
        counter = iter(range(total))

        async def worker() -> None:
            for k in counter:
                start = time.perf_counter()
                answer = await client.post("/v1/moderations", json={"input": texts[k % len(texts)]})
                latencies.append(time.perf_counter() - start)
                if answer.status_code != 200:
                    raise SystemExit(f"serve_load: request {k} got {answer.status_code}: {answer.text[:300]}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="Hub id or local path (default: the embedded tiny guard)")
    parser.add_argument("--levels", default="1,8,32,128", help="concurrent clients, comma-separated (1 = sequential)")
    parser.add_argument("--requests", type=int, default=128, help="requests per level (at least the level)")
    parser.add_argument("--max-batch-size", default="32")
    parser.add_argument("--max-wait-ms", default="5")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    flags = ["--max-batch-size", args.max_batch_size, "--max-wait-ms", args.max_wait_ms, "--max-queue", "4096"]
    flags += ["--device", args.device] + (["--model", args.model] if args.model else [])
    texts = [r.conversation[0]["content"] for r in mg.load_default_eval_data()][:256]
    levels = [int(x) for x in args.levels.split(",")]
    process, url = start_server(flags)
    try:
        asyncio.run(run_level(url, texts, 8, 32))  # warm-up
        rows = []
        for c in levels:
            total = max(c, args.requests)
            calls0 = metric(url, "marginal_generate_batch_size_count")
            prompts0 = metric(url, "marginal_generate_prompts_scored_total")
            wall, latencies = asyncio.run(run_level(url, texts, c, total))
            calls = metric(url, "marginal_generate_batch_size_count") - calls0
            prompts = metric(url, "marginal_generate_prompts_scored_total") - prompts0
            rows.append((c, total, wall, latencies, prompts / max(calls, 1)))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    import torch

    model = args.model or "embedded tiny guard"
    print(f"model: {model} | {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"serve --max-batch-size {args.max_batch_size} --max-wait-ms {args.max_wait_ms}; single-prompt requests")
    print()
    base = rows[0][1] / rows[0][2] if rows and rows[0][0] == 1 else None
    print("| clients | requests | wall s | req/s | p50 ms | p99 ms | prompts per model call | x sequential |")
    print("|--------:|---------:|-------:|------:|-------:|-------:|-----------------------:|-------------:|")
    for c, total, wall, latencies, per_call in rows:
        rate = total / wall
        speedup = f"{rate / base:.2f}" if base else "-"
        print(
            f"| {c} | {total} | {wall:.2f} | {rate:.1f} | {1000 * percentile(latencies, 50):.1f} | "
            f"{1000 * percentile(latencies, 99):.1f} | {per_call:.1f} | {speedup} |"
        )


if __name__ == "__main__":
    main()
