"""What one click does: score the conversation (:func:`run`), and hand the page its outputs (:func:`classify`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from .charts import bar_chart
from .config import DEFAULT_EPS, DEFAULT_STRATEGY, DEFAULT_TOP_P
from .engine import Engine, calibrate_row, get_engine
from .inputs import InputError, validate_inputs
from .policy_view import POLICY_HEADERS, policy_outcome, policy_rows
from .tables import (
    ANSWER_HEADERS,
    BOUNDS_HEADERS,
    COMPLETION_HEADERS,
    answers_table,
    bounds_table,
    completions_table,
    strategies_table,
)
from .verdict import Decision, decide, decision_markdown, headline, labels_markdown

__all__ = ["Result", "run", "classify", "cleared", "label_value", "OUTPUTS"]

#: The outputs of :func:`classify` and :func:`cleared`, in page order.
OUTPUTS = (
    "decision",
    "confidences",
    "chart",
    "greedy",
    "completions",
    "bounds",
    "strategies",
    "timing",
    "raw",
    "answers",  # the earlier outputs keep their places for API clients: new ones go last
    "policy",
)


@dataclass
class Result:
    """What one click shows, before Gradio wraps it."""

    decision: Decision
    decision_markdown: str
    headline: str
    confidences: dict[str, float]
    figure: Any
    greedy: str
    completions: list[list[Any]]
    bounds: list[list[Any]]
    strategies_headers: list[str]
    strategies: list[list[Any]]
    timing: str
    raw: dict[str, Any]
    answers: list[list[Any]]
    #: each label's outcome under the operator's policy (POLICY), empty without one
    policy: list[list[Any]] = field(default_factory=list)


def label_value(title: str, scores: dict[str, float]) -> dict[str, Any]:
    """The confidence card's value: ``title`` as its headline (the decision), the scores most confident first.

    >>> label_value("safe", {"unsafe": 0.004, "S1 Violent Crimes": 0.001, "S10 Hate": 0.002})["label"]
    'safe'
    >>> [c["label"] for c in label_value("safe", {"unsafe": 0.004, "S1": 0.001, "S10": 0.002})["confidences"]]
    ['unsafe', 'S10', 'S1']
    """
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return {"label": title, "confidences": [{"label": name, "confidence": p} for name, p in ranked]}


def run(
    user_message: Any,
    agent_response: Any,
    strategy: Any = DEFAULT_STRATEGY,
    threshold: Any = 0.5,
    eps: Any = DEFAULT_EPS,
    top_p: Any = DEFAULT_TOP_P,
    apply_calibrator: bool = False,
    engine: Engine | None = None,
) -> Result:
    """Score a conversation and build every output; :class:`InputError` on bad input."""
    engine = engine or get_engine()
    user, response = validate_inputs(
        user_message, agent_response, strategy, threshold, eps, top_p, engine.max_message_chars
    )
    if strategy not in engine.strategies:
        raise InputError(
            f"Strategy {strategy!r} needs a verbalizer, which this model's answers have none of; "
            f"pick one of {', '.join(engine.strategies)}."
        )
    start = time.perf_counter()
    results = engine.score(user, response, float(eps), float(top_p))
    seconds = time.perf_counter() - start
    chosen = results[strategy]
    labels = list(chosen.labels)
    probs = [float(v) for v in chosen.probs[0].tolist()]
    calibrated = bool(apply_calibrator and engine.calibrator is not None)
    if calibrated:
        probs = calibrate_row(engine.calibrator, labels, probs, engine.space.positive)
    tax = engine.taxonomy
    decision = decide(labels, probs, float(threshold), tax, engine.space.positive)
    ap = results["any_place"]
    ap_probs, lower, upper = (ap.probs[0].tolist(), ap.lower[0].tolist(), ap.upper[0].tolist())
    show_bounds = strategy == "any_place" and not calibrated
    title = f"{strategy}{' (calibrated)' if calibrated else ''}"
    figure = bar_chart(
        labels, probs, float(threshold), tax, title, lower if show_bounds else None, upper if show_bounds else None
    )
    headers, rows = strategies_table(results, 0, tax)
    text = chosen.texts[0]
    stats = ap.stats
    timing = (
        f"{seconds:.2f} s for all {len(results)} strategies in one pass on {engine.model_id} "
        f"({stats.get('forward_passes', '?')} forward passes, {stats.get('nodes_expanded', '?')} tree nodes expanded; "
        f"eps={float(eps):g}, top_p={float(top_p):g}, max_new_tokens={engine.max_new_tokens})."
    )
    verdict = engine.grammar == "llama_guard"
    markdown = decision_markdown(decision, engine.space.positive) if verdict else labels_markdown(decision)
    card = headline(decision, verdict)
    policy: list[list[Any]] = []
    if engine.policy is not None:  # the operator's policy leads: block / review / allow on its strategy's raw scores
        on = engine.policy_strategy_of(engine.policy)
        policy = policy_rows(engine.policy, list(results[on].labels), results[on].probs[0].tolist(), tax)
        outcome, flagged = policy_outcome(policy)
        card = f"{outcome}: {', '.join(flagged)}" if flagged else outcome
        markdown = (
            f"## {outcome}\nPolicy {engine.policy_name} on {on} scores"
            + (
                f": {outcome} for {', '.join(f'**{name}**' for name in flagged)}."
                if flagged
                else ": every label allowed."
            )
            + "\n\nAt the slider's threshold: "
            + markdown.removeprefix("## ")
        )
    raw = {
        "strategy": strategy,
        "calibrated": calibrated,
        "threshold": float(threshold),
        "labels": labels,
        "probs": [None if math.isnan(p) else p for p in probs],
        "lower": lower,
        "upper": upper,
        "greedy": text,
        "unsafe": decision.unsafe,
        "categories": [name.split(" ", 1)[0] for name in decision.categories],
        "seconds": seconds,
        "label_sets": ap.joint[0].to_lists() if ap.joint is not None else [],
    }
    return Result(
        decision=decision,
        decision_markdown=markdown,
        headline=card,
        confidences=decision.scores,
        figure=figure,
        greedy=text,
        completions=completions_table(ap.completions[0], engine.space.parse, tax),
        bounds=bounds_table(labels, ap_probs, lower, upper, tax),
        strategies_headers=headers,
        strategies=rows,
        timing=timing,
        raw=raw,
        answers=answers_table(
            ap.label_sets[0] if ap.label_sets is not None else [],
            float(ap.unexplored[0]) if ap.unexplored is not None else 0.0,
            labels,
            tax,
            empty=engine.space.negative or "no label",
        ),
        policy=policy,
    )


def classify(*inputs: Any, engine: Engine | None = None) -> tuple[Any, ...]:
    """The button's handler: :func:`run` of the page's ``inputs`` (user message, agent response, strategy,
    threshold, eps, top_p, apply_calibrator: :func:`run`'s arguments, in its order), the outputs in page order
    (:data:`OUTPUTS`). Input problems become a ``gr.Error`` (a message on the page, an ``AppError`` for API
    clients), never a traceback."""
    import gradio as gr
    import pandas as pd

    try:
        r = run(*inputs, engine=engine)
    except InputError as err:
        raise gr.Error(str(err), print_exception=False) from None
    return (
        r.decision_markdown,
        label_value(r.headline, r.confidences),
        r.figure,
        r.greedy,
        pd.DataFrame(r.completions, columns=COMPLETION_HEADERS),
        pd.DataFrame(r.bounds, columns=BOUNDS_HEADERS),
        pd.DataFrame(r.strategies, columns=r.strategies_headers),
        r.timing,
        r.raw,
        pd.DataFrame(r.answers, columns=ANSWER_HEADERS),
        pd.DataFrame(r.policy, columns=POLICY_HEADERS),
    )


def cleared() -> tuple[Any, ...]:
    """Empty outputs in page order: shown the moment Classify is pressed, so an error never sits next to an
    earlier verdict.

    >>> cleared()[0], len(cleared()) == len(OUTPUTS)
    ('Scoring…', True)
    """
    return ("Scoring…", None, None, "", None, None, None, "", None, None, None)
