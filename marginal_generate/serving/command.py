"""``marginal-generate serve``: OpenAI's moderation endpoint, and more, on a guard model.

    marginal-generate serve                          # the embedded tiny guard on http://127.0.0.1:8000
    marginal-generate serve --port 0                 # a free port; the URL is printed
    marginal-generate serve --model meta-llama/Llama-Guard-3-8B --policy policy.json --host 0.0.0.0

Problems (fastapi or uvicorn missing, a bad flag, a model or policy that cannot be loaded, a port in use) are one
line and exit status 2. SIGTERM or Ctrl+C stops accepting requests, answers those in flight, and exits 0.

>>> args = build_parser().parse_args(["--port", "0", "--max-batch-size", "16", "--strategies", "any_place,greedy"])
>>> args.port, args.host, args.max_batch_size, args.max_wait_ms, args.strategies
(0, '127.0.0.1', 16, 5.0, ['any_place', 'greedy'])
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..commands import (
    add_subcommand,
    cannot_serve,
    fail,
    missing_modules,
    names,
    number,
    port,
    search_budget_gb,
    standalone_parser,
)

__all__ = ["INSTALL_HINT", "add_arguments", "add_command", "build_parser", "main", "run_command"]

INSTALL_HINT = 'pip install "marginal-generate[serve]"'
_HELP = "serve OpenAI's POST /v1/moderations (category scores that are probabilities), /v1/classify and /metrics"

_positive = number(int, 1, "a whole number of at least 1")
_wait = number(float, 0, "a wait in milliseconds; give 0 or more")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's flags on ``parser``."""
    parser.add_argument("--model", help="Hub id or local path (default: the embedded tiny guard, offline)")
    parser.add_argument("--policy", help="a policy file (marginal-generate policy): decisions allow/review/block")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; 0.0.0.0: all)")
    parser.add_argument("--port", type=port, default=8000, help="port (default 8000; 0: a free one, printed)")
    parser.add_argument(
        "--max-batch-size", type=_positive, default=32, help="most prompts scored in one model call (default 32)"
    )
    parser.add_argument(
        "--max-wait-ms",
        type=_wait,
        default=5.0,
        help="how long the oldest queued prompt waits for others to share its model call (default 5)",
    )
    parser.add_argument(
        "--max-queue",
        type=_positive,
        default=1024,
        help="most prompts waiting; past it requests get 503 with Retry-After (default 1024)",
    )
    parser.add_argument(
        "--max-request-bytes", type=_positive, default=1_000_000, help="largest request body (default 1000000)"
    )
    parser.add_argument(
        "--max-input-chars", type=_positive, default=20_000, help="longest input or message (default 20000)"
    )
    parser.add_argument("--max-inputs", type=_positive, default=256, help="most inputs per request (default 256)")
    parser.add_argument(
        "--strategies",
        type=names,
        help="comma-separated strategies /v1/classify offers (default: all the grammar supports); "
        "any_place is always needed for /v1/moderations",
    )
    parser.add_argument("--max-new-tokens", type=_positive, default=20, help="answer tokens searched (default 20)")
    parser.add_argument("--eps", type=float, default=0.01, help="any_place's pruning threshold (default 0.01)")
    parser.add_argument("--top-p", type=float, default=0.99, help="any_place's nucleus (default 0.99)")
    parser.add_argument(
        "--search-budget-gb",
        help="memory one model call's any_place tree search may hold, in GB (inf: no limit); a request whose search "
        "would pass it gets 400 search_budget_exceeded (default: the memory free on the model's device)",
    )
    parser.add_argument("--taxonomy", type=int, choices=(2, 3), help="Llama Guard 2 or 3 (default: from the name)")
    parser.add_argument(
        "--grammar",
        default="llama_guard",
        choices=("llama_guard", "label_list"),
        help="llama_guard (default) or label_list: an instruct model answering with --labels (/v1/classify only)",
    )
    parser.add_argument("--labels", type=names, help="for --grammar label_list: comma-separated label names")
    parser.add_argument("--prompt-template", help="for --grammar label_list: the prompt, with {text} and {labels}")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda with a GPU)")
    parser.add_argument("--dtype", default="auto", help="float32, bfloat16, float16 (default: bfloat16 on GPU)")
    parser.add_argument("--threads", type=_positive, help="CPU threads (default: 1 for a model under 100M parameters)")


def add_command(sub: Any) -> None:
    """Register ``serve`` on the CLI's subparsers."""
    add_subcommand(sub, "serve", _HELP, INSTALL_HINT, add_arguments)


def build_parser() -> argparse.ArgumentParser:
    """The command's parser on its own."""
    return standalone_parser("marginal-generate serve", _HELP, add_arguments)


def missing_extra() -> str | None:
    """``None`` when the server's libraries import, else the one-line reason and the install command."""
    return missing_modules(("fastapi", "uvicorn"), "serve", INSTALL_HINT)


def load_service(args: argparse.Namespace) -> Any:
    """The model, the policy and the batcher the flags name; ``ValueError`` (one line) for any of them."""
    import torch

    from ..loading import cpu_threads, load_model, taxonomy_for_model
    from ..policy import load_policy
    from .app import Limits, Service
    from .scorer import Scorer, served_name

    for flag, value in (("--eps", args.eps), ("--top-p", args.top_p)):
        if not 0 <= value <= 1:
            raise ValueError(f"{flag} {value} is not in [0, 1]; the defaults are --eps 0.01 --top-p 0.99.")
    budget = search_budget_gb(args.search_budget_gb)
    policy = load_policy(args.policy) if args.policy else None  # before the model: a bad file fails fast
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer, _ = load_model(args.model, device, args.dtype)
    if device == "cpu":
        torch.set_num_threads(cpu_threads(model, args.threads, 1))
    scorer = Scorer(
        model,
        tokenizer,
        served_name(args.model),
        grammar=args.grammar,
        taxonomy=taxonomy_for_model(args.model, args.taxonomy),
        labels=args.labels,
        prompt_template=args.prompt_template,
        strategies=args.strategies,
        policy=policy,
        max_new_tokens=args.max_new_tokens,
        eps=args.eps,
        top_p=args.top_p,
        search_budget_gb=budget,
    )
    limits = Limits(args.max_request_bytes, args.max_input_chars, args.max_inputs)
    return Service.create(scorer, limits, args.max_batch_size, args.max_wait_ms, args.max_queue)


def run_command(args: argparse.Namespace) -> int:
    """Load the model, serve until SIGTERM or Ctrl+C; returns the exit status (2 with a one-line error)."""
    problem = missing_extra()
    if problem is None:
        from ..garbage_collection import frozen_heap
        from .app import create_app
        from .server import bind, serve

        try:
            service = load_service(args)
        except (ValueError, OSError) as err:
            problem = str(err)
        else:
            try:
                sock = bind(args.host, args.port)
            except OSError as err:  # the port is taken, or the host is not this machine's
                problem = cannot_serve(args.host, args.port, err)
            else:

                def ready(url: str) -> None:
                    print(
                        f"marginal-generate: serving {service.scorer.name} at {url} (SIGTERM or Ctrl+C stops it)",
                        flush=True,
                    )

                with frozen_heap():  # the loaded model out of the collector's full passes (garbage_collection.py)
                    serve(create_app(service), sock, ready, service.batcher.drain)
                served = sum(service.metrics.requests.values())
                print(f"marginal-generate: stopped after answering {served} scoring request(s)", flush=True)
                return 0
    return fail(problem)


def main(argv: Sequence[str] | None = None) -> int:
    """``marginal-generate serve`` on its own."""
    return run_command(build_parser().parse_args(argv))
