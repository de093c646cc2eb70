"""The ASGI app: ``POST /v1/moderations`` (OpenAI's shape), ``POST /v1/classify`` (conversations, a strategy,
label lists), ``GET /health`` and ``GET /metrics`` (Prometheus text).

Every request is checked before it is queued (:mod:`.schemas`, the size and length limits of :class:`Limits`),
so a bad one is a 4xx with OpenAI's error body and costs the model nothing; the prompts of good ones go to the
:class:`~.batcher.Batcher`, which scores those that arrive together in one model call.
"""

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from ..decoding.budget import SearchBudgetError
from .batcher import Batcher, QueueFull
from .errors import APIError, install_handlers
from .metrics import Metrics
from .schemas import (
    CLASSIFY_FIELDS,
    MODERATION_FIELDS,
    check_fields,
    check_model,
    classify_inputs,
    classify_labels,
    classify_result,
    classify_strategy,
    moderation_inputs,
    moderation_result,
    parse_body,
)
from .scorer import Scorer
from .throughput import Throughput

__all__ = ["Limits", "Service", "create_app"]

logger = logging.getLogger("marginal_generate.serving")


@dataclass(frozen=True)
class Limits:
    """What one request may carry: its body in bytes (413 past it), the characters of one input or message and the
    inputs (strings or conversations) of one request (400 past them). The prompt's length in tokens is the model's
    (its context less ``max_new_tokens``: ``context_length_exceeded``)."""

    max_request_bytes: int = 1_000_000
    max_input_chars: int = 20_000
    max_inputs: int = 256


@dataclass
class Service:
    """What the app serves: the scorer, its batcher, the counters and the limits."""

    scorer: Scorer
    batcher: Batcher
    metrics: Metrics
    limits: Limits

    @classmethod
    def create(
        cls,
        scorer: Scorer,
        limits: Limits | None = None,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        throughput: Throughput | None = None,
    ) -> "Service":
        """The service of ``scorer``; ``throughput`` measures the model calls (a full queue's Retry-After; default
        the last 60 s by the monotonic clock)."""
        metrics = Metrics()

        def depth(n: int) -> None:
            metrics.queue_depth = n

        batcher = Batcher(
            scorer.score_batch,
            max_batch_size,
            max_wait_ms,
            max_queue,
            on_batch=metrics.observe_batch,
            on_depth=depth,
            throughput=throughput,
        )
        return cls(scorer, batcher, metrics, limits or Limits())


async def read_body(request: Any, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it passes ``limit`` bytes (by its Content-Length, or while read)."""
    too_large = APIError(
        413,
        f"the request body is over {limit:,} bytes, the limit of this server (--max-request-bytes); "
        "send fewer or shorter inputs per request.",
        code="request_too_large",
    )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _encode(service: Service, conv: list[dict[str, str]], where: str, labels: tuple[str, ...] | None) -> list[int]:
    """One input's token ids after its length checks (characters, then tokens with the guard prompt)."""
    limit = service.limits.max_input_chars
    for k, message in enumerate(conv):
        n = len(message["content"])
        if n > limit:
            part = where if len(conv) == 1 else f"{where}[{k}].content"
            raise APIError(
                400,
                f"`{part}` is {n:,} characters long; this server takes at most {limit:,} per input "
                "(--max-input-chars): shorten it or split it.",
                param=part,
                code="input_too_long",
            )
    try:
        ids = service.scorer.encode(conv, labels)
    except ValueError as err:
        raise APIError(400, f"`{where}`: {err}", param=where, code="invalid_value") from None
    most = service.scorer.max_prompt_tokens
    if len(ids) > most:
        raise APIError(
            400,
            f"`{where}` is {len(ids):,} tokens with the guard prompt; this model's context takes at most {most:,} "
            f"(its {most + service.scorer.max_new_tokens:,} positions less {service.scorer.max_new_tokens} for the "
            "answer): shorten the input.",
            param=where,
            code="context_length_exceeded",
        )
    return ids


async def _score(service: Service, key: tuple[str, Any], rows: list[list[int]]) -> list[dict[str, Any]]:
    try:
        return await service.batcher.submit(key, rows)
    except QueueFull as full:
        raise APIError(
            503,
            f"the server is busy: {full}; retry after the Retry-After header's seconds.",
            code="queue_full",
            retry_after=full.retry_after,
        ) from None
    except SearchBudgetError as err:  # this request's tree search would outgrow the server's memory budget
        raise APIError(
            400,
            f"this request's search does not fit the server's memory budget: {str(err).rstrip('.')}; eps, top_p, "
            "max_new_tokens and the budget are the server's settings (--eps, --top-p, --max-new-tokens, "
            "--search-budget-gb): send fewer or shorter inputs per request, or ask the operator to change them.",
            param="input",
            code="search_budget_exceeded",
        ) from None
    except ValueError as err:  # the search refused this input
        raise APIError(400, f"the model could not score this input: {err}", code="scoring_failed") from None


def _check_count(n: int, limits: Limits) -> None:
    if n > limits.max_inputs:
        raise APIError(
            400,
            f"`input` has {n:,} items; this server takes at most {limits.max_inputs:,} per request (--max-inputs): "
            "split the request.",
            param="input",
            code="too_many_inputs",
        )


async def moderations(service: Service, request: Any) -> dict[str, Any]:
    """``POST /v1/moderations``."""
    body = parse_body(await read_body(request, service.limits.max_request_bytes))
    check_fields(body, MODERATION_FIELDS)
    model = check_model(body, service.scorer.name)
    scorer = service.scorer
    if scorer.grammar != "llama_guard":
        raise APIError(
            400,
            f"this server's model answers with label lists ({', '.join(scorer.labels)}), which have no mapping to "
            "OpenAI's categories; use POST /v1/classify.",
            code="unsupported_endpoint",
        )
    texts = moderation_inputs(body)
    _check_count(len(texts), service.limits)
    single = isinstance(body["input"], str) or len(texts) == 1 and not isinstance(body["input"][0], str)
    rows = [
        _encode(service, [{"role": "user", "content": t}], "input" if single else f"input[{k}]", None)
        for k, t in enumerate(texts)
    ]
    results = await _score(service, ("any_place", None), rows)
    return {
        "id": f"modr-{uuid.uuid4().hex}",
        "model": model,
        "results": [moderation_result(r, scorer.category_flags(r)) for r in results],
    }


async def classify(service: Service, request: Any) -> dict[str, Any]:
    """``POST /v1/classify``."""
    body = parse_body(await read_body(request, service.limits.max_request_bytes))
    check_fields(body, CLASSIFY_FIELDS)
    scorer = service.scorer
    model = check_model(body, scorer.name)
    strategy = classify_strategy(body, scorer.strategies, scorer.default_strategy)
    labels = classify_labels(body, scorer.grammar)
    conversations = classify_inputs(body)
    _check_count(len(conversations), service.limits)
    many = isinstance(body["input"][0], list)
    rows = [_encode(service, c, f"input[{k}]" if many else "input", labels) for k, c in enumerate(conversations)]
    results = await _score(service, (strategy, labels), rows)
    return {
        "id": f"clf-{uuid.uuid4().hex}",
        "model": model,
        "strategy": strategy,
        "labels": list(labels or scorer.labels),
        "results": [classify_result(r) for r in results],
    }


def create_app(service: Service) -> Any:
    """The FastAPI app of ``service``; its lifespan starts and stops the batcher.

    (This module leaves annotations unpostponed: FastAPI reads the route's ``Request`` annotation, imported here
    so that the package imports without the ``serve`` extra.)"""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await service.batcher.start()
        yield
        await service.batcher.close()

    app = FastAPI(
        title="marginal-generate",
        summary="Per-category probabilities from a guard model's own decoding, behind OpenAI's moderation API.",
        lifespan=lifespan,
    )
    install_handlers(app)
    metrics = service.metrics

    async def answer(endpoint: str, work: Callable[[], Awaitable[dict[str, Any]]]) -> JSONResponse:
        start = time.perf_counter()
        metrics.in_flight += 1
        status, code = 500, "internal_error"
        try:
            response = JSONResponse(await work())
            status, code = 200, None
        except APIError as err:
            status, code = err.status, err.code
            response = JSONResponse(err.body(), status_code=err.status, headers=err.headers)
        except Exception as err:  # a bug: the request gets the error body, the log the traceback
            logger.exception("%s failed", endpoint)
            message = f"the server failed on this request ({type(err).__name__}: {err}); report it with the request."
            response = JSONResponse(APIError(500, message, code=code).body(), status_code=500)
        finally:
            metrics.in_flight -= 1
            metrics.observe_request(endpoint, status, time.perf_counter() - start, code)
        return response

    @app.post("/v1/moderations", summary="OpenAI's moderation call: category scores are probabilities")
    async def _moderations(request: Request) -> JSONResponse:
        return await answer("/v1/moderations", lambda: moderations(service, request))

    @app.post("/v1/classify", summary="Conversations (user and assistant turns), a strategy, label lists")
    async def _classify(request: Request) -> JSONResponse:
        return await answer("/v1/classify", lambda: classify(service, request))

    @app.get("/health", summary="The model is loaded and the batcher runs")
    async def _health() -> dict[str, Any]:
        scorer = service.scorer
        return {
            "status": "ok",
            "model": scorer.name,
            "labels": list(scorer.labels),
            "strategies": list(scorer.strategies),
            "policy": scorer.decider.policy is not None,
            "queue_depth": service.batcher.depth,
        }

    @app.get("/metrics", summary="Prometheus text: requests, errors, latency, batch sizes, queue depth")
    async def _metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
