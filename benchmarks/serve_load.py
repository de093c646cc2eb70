"""Load on ``marginal-generate serve``: throughput and p50/p99 latency at 1, 8, 32 and 128 concurrent clients,
each sending single-prompt ``POST /v1/moderations`` requests, against the same requests sent one after another.

Starts the server as its own process (``--port 0``; the embedded tiny guard unless ``--model``), warms it up, then
for each concurrency ``c`` sends ``max(c, --requests)`` requests with ``c`` in flight at a time (asyncio and httpx),
the prompts taken in turn from the embedded model's held-out data. The batches the server formed are read from its
``/metrics`` (prompts per model call). The goal of issue #32: 32 concurrent requests at least 3x faster than the
same 32 one after another, on CPU.

``--model real-vocab``: a random Llama (``--layers`` 2, ``--hidden`` 256 by default, as ``real_vocab_speed.py``'s
small shape) over the real Llama 3 tokenizer (128,256 tokens, ``marginal_generate.testing.llama3_tokenizer``),
saved to a temporary folder and served from there by the same ``serve`` command. Its guard bigrams
(``marginal_generate.testing.GUARD_BIGRAMS``, so that its answer tree branches like a guard's) are a forward hook,
which saving drops: the server process plants them again on the model ``serve`` loads (this script run with
``--serve-planted``, which wraps ``marginal_generate.loading.load_model`` and then runs ``marginal-generate serve``).

    python benchmarks/serve_load.py                          # the embedded tiny guard on CPU
    python benchmarks/serve_load.py --levels 1,32 --requests 64 --max-wait-ms 5
    python benchmarks/serve_load.py --model real-vocab --requests 64    # the real Llama 3 vocabulary
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
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

import marginal_generate as mg  # noqa: E402

REAL_VOCAB = "real-vocab"


def start_server(flags: list[str], planted: bool = False) -> tuple[subprocess.Popen, str]:
    """``marginal-generate serve --port 0 FLAGS`` in its own process, and its URL once it answers; ``planted``: this
    script's ``--serve-planted`` instead, which plants the guard bigrams on the model it loads."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    command = [str(Path(__file__).resolve()), "--serve-planted"] if planted else ["-m", "marginal_generate.cli"]
    cmd = [sys.executable, *command, "serve", "--port", "0", *flags]
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


def plant_on_load() -> None:
    """From now on in this process, ``marginal_generate.loading.load_model`` plants the guard bigrams on the model it
    returns (``serve`` imports it from the module when it loads: the hook does not survive ``save_pretrained``)."""
    import marginal_generate.loading as loading
    from marginal_generate.testing import plant_guard_bias

    load_model = loading.load_model

    def load_planted(*args, **kwargs):
        model, tokenizer, dtype = load_model(*args, **kwargs)
        plant_guard_bias(model, tokenizer)
        return model, tokenizer, dtype

    loading.load_model = load_planted


def serve_planted(argv: list[str]) -> int:
    """``marginal-generate ARGV`` (``serve ...``) with :func:`plant_on_load`: the server process of ``--model
    real-vocab``."""
    from marginal_generate.cli import main as cli_main

    plant_on_load()
    return cli_main(argv)


def save_real_vocab(folder: Path, layers: int, hidden: int) -> str:
    """A random Llama of ``layers`` and ``hidden`` over the real Llama 3 tokenizer, saved with its tokenizer to
    ``folder``; its description for the table."""
    import torch

    from marginal_generate.testing import llama3_tokenizer, planted_guard_llama

    tokenizer = llama3_tokenizer()
    heads = max(1, hidden // 64)
    shape = dict(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
    )
    model = planted_guard_llama(tokenizer, shape, "cpu", torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return (
        f"random Llama ({layers} layers, hidden {hidden}), vocabulary {model.config.vocab_size} (real Llama 3 "
        "tokenizer), guard bigrams planted"
    )


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


def measure(
    flags: list[str],
    texts: list[str],
    levels: list[int],
    requests: int,
    warm_up: int,
    planted: bool,
    loads: list[float],
) -> list[tuple[int, int, float, list[float], float]]:
    """Serve with ``flags`` (``planted``: :func:`serve_planted`), send ``warm_up`` requests (8 at a time), then
    measure each level: ``(clients, requests, wall s, latencies, prompts per model call)`` per level; the 1-minute
    load average after each level is appended to ``loads``."""
    process, url = start_server(flags, planted)
    try:
        if warm_up:
            asyncio.run(run_level(url, texts, min(8, warm_up), warm_up))
        rows = []
        for c in levels:
            total = max(c, requests)
            calls0 = metric(url, "marginal_generate_batch_size_count")
            prompts0 = metric(url, "marginal_generate_prompts_scored_total")
            wall, latencies = asyncio.run(run_level(url, texts, c, total))
            calls = metric(url, "marginal_generate_batch_size_count") - calls0
            prompts = metric(url, "marginal_generate_prompts_scored_total") - prompts0
            rows.append((c, total, wall, latencies, prompts / max(calls, 1)))
            loads.append(os.getloadavg()[0])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--serve-planted"]:
        raise SystemExit(serve_planted(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", help=f"Hub id, local path or {REAL_VOCAB} (default: the embedded tiny guard; see the docstring)"
    )
    parser.add_argument("--layers", type=int, default=2, help=f"--model {REAL_VOCAB}: layers (default 2)")
    parser.add_argument("--hidden", type=int, default=256, help=f"--model {REAL_VOCAB}: hidden size (default 256)")
    parser.add_argument("--levels", default="1,8,32,128", help="concurrent clients, comma-separated (1 = sequential)")
    parser.add_argument("--requests", type=int, default=128, help="requests per level (at least the level)")
    parser.add_argument("--warm-up", type=int, default=32, help="requests sent before the levels (default 32)")
    parser.add_argument("--max-batch-size", default="32")
    parser.add_argument("--max-wait-ms", default="5")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    flags = ["--max-batch-size", args.max_batch_size, "--max-wait-ms", args.max_wait_ms, "--max-queue", "4096"]
    flags += ["--device", args.device]
    texts = [r.conversation[0]["content"] for r in mg.load_default_eval_data()][:256]
    levels = [int(x) for x in args.levels.split(",")]
    loads = [os.getloadavg()[0]]
    if args.model == REAL_VOCAB:
        with tempfile.TemporaryDirectory(prefix="serve_load-") as folder:
            model = save_real_vocab(Path(folder), args.layers, args.hidden)
            rows = measure(flags + ["--model", folder], texts, levels, args.requests, args.warm_up, True, loads)
    else:
        model = args.model or "embedded tiny guard"
        rows = measure(
            flags + (["--model", args.model] if args.model else []),
            texts,
            levels,
            args.requests,
            args.warm_up,
            False,
            loads,
        )
    import torch

    print(f"model: {model} | {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"load average (1 min) {min(loads):.1f} to {max(loads):.1f} during the run (other jobs share the cores)")
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
