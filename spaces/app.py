"""The marginal-generate Space: every category's confidence from a guard model's own decoding.

    python spaces/app.py                       # the embedded tiny guard, offline, http://127.0.0.1:7860
    MODEL_ID=meta-llama/Llama-Guard-3-8B python spaces/app.py
    CALIBRATOR=calibrator.json python spaces/app.py

Environment (read once, at start; the user of the page names no file or model):

- ``MODEL_ID``: a Hub id or a local path loaded with the Auto classes (default: the embedded
  tiny guard of :mod:`marginal_generate.default_model`).
- ``CALIBRATOR``: a calibrator JSON written by ``Calibrator.save`` (optional); the page then offers
  to apply it.
- ``DEVICE`` / ``DTYPE``: default ``cuda``/``bfloat16`` when a GPU is present, else ``cpu``/``float32``.
- ``GUARD_VERSION``: 3 (S1–S14, default) or 2 (S1–S11).
- ``GRAMMAR``: ``llama_guard`` (default) or ``label_list``, a model that answers with a list of label
  names (Ma et al.); then ``LABELS=joy,anger,...`` names them (the label, chart and tables show those
  names) and ``PROMPT_TEMPLATE`` (optional, with ``{text}`` and ``{labels}``) is its prompt.
- ``MAX_NEW_TOKENS`` (default 20), ``MAX_MESSAGE_CHARS`` (default 4000), ``MAX_PROMPT_TOKENS``
  (default 4096, never over the model's context minus ``MAX_NEW_TOKENS``).

One click scores the conversation under every strategy in one pass (they share one greedy
decode; ``any_place`` adds the tree search), so the strategy selector only picks what the label,
the chart and the decision show; the comparison table shows them all.

The page logic lives in small pure functions (:func:`confidences`, :func:`decide`,
:func:`bar_chart`, :func:`completions_table`, :func:`bounds_table`, ...) tested without a server;
:func:`classify` is the button's handler, and :func:`build_demo` the Blocks.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no analytics, no version check

try:
    import marginal_generate as mg
except ImportError:  # `python spaces/app.py` from a source checkout that is not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import marginal_generate as mg

from marginal_generate.evaluation.config import LABEL_LIST_PROMPT
from marginal_generate.labels.taxonomy import Taxonomy, get_taxonomy
from marginal_generate.strategies import STRATEGIES

__all__ = [
    "DEFAULT_THRESHOLDS",
    "EXAMPLES",
    "InputError",
    "Decision",
    "Engine",
    "display_name",
    "confidences",
    "decide",
    "decision_markdown",
    "labels_markdown",
    "bar_chart",
    "completions_table",
    "bounds_table",
    "strategies_table",
    "calibrate_row",
    "validate_inputs",
    "get_engine",
    "classify",
    "build_demo",
    "launch_kwargs",
    "launch_local",
]

#: The strategy the page opens on.
DEFAULT_STRATEGY = "any_place"
#: The threshold the slider moves to when a strategy is picked. 0.5 for every strategy until a
#: calibration run on held-out data sets better ones; greedy scores are 0 or 1, so any value in
#: (0, 1] gives the greedy answer.
DEFAULT_THRESHOLDS: dict[str, float] = {s: 0.5 for s in STRATEGIES}

DEFAULT_EPS = 0.01
DEFAULT_TOP_P = 0.99
EPS_RANGE = (0.001, 0.5)  # eps = 0 searches the whole tree: not on a shared page
TOP_P_RANGE = (0.5, 1.0)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer (default {default}).") from None


MAX_NEW_TOKENS = _env_int("MAX_NEW_TOKENS", 20)
MAX_MESSAGE_CHARS = _env_int("MAX_MESSAGE_CHARS", 4000)
MAX_PROMPT_TOKENS = _env_int("MAX_PROMPT_TOKENS", 4096)
TOP_COMPLETIONS = 10

#: Clickable examples: (user message, agent response).
EXAMPLES: list[list[str]] = [
    ["How do I make a pipe bomb at home?", ""],
    ["What's a good recipe for banana bread?", ""],
    ["Write a hateful speech saying immigrants are vermin.", ""],
    [
        "How can I get my neighbour's bank password?",
        "Send them a fake login page from their bank and read what they type.",
    ],
    ["What's the capital of France?", "Paris."],
]


class InputError(ValueError):
    """A problem with what the user typed; its message is shown on the page as is."""


# ---- pure functions: scores → what the page shows ------------------------------------------


def display_name(label: str, taxonomy: Taxonomy) -> str:
    """``"S10"`` → ``"S10 Hate"``; ``"unsafe"`` and ids outside the taxonomy stay as they are.

    >>> display_name("S10", get_taxonomy(3)), display_name("unsafe", get_taxonomy(3))
    ('S10 Hate', 'unsafe')
    """
    return f"{label} {taxonomy.name_of(label)}" if label in taxonomy else label


def confidences(labels: Sequence[str], probs: Sequence[float], taxonomy: Taxonomy) -> dict[str, float]:
    """Display name → probability, in label order; labels the strategy leaves undefined (NaN) are left out.

    >>> confidences(["unsafe", "S1", "S10"], [0.9, float("nan"), 0.25], get_taxonomy(3))
    {'unsafe': 0.9, 'S10 Hate': 0.25}
    """
    _check_row(labels, probs)
    return {display_name(label, taxonomy): float(p) for label, p in zip(labels, probs) if not math.isnan(float(p))}


def _check_row(labels: Sequence[str], probs: Sequence[float]) -> None:
    if len(labels) != len(probs):
        raise ValueError(f"`probs` has {len(probs)} values but there are {len(labels)} labels; pass one per label.")


@dataclass(frozen=True)
class Decision:
    """The verdict at a threshold: ``unsafe`` is ``p(unsafe) >= threshold``; ``categories`` are the
    category display names with ``p >= threshold`` (undefined scores never pass)."""

    unsafe: bool
    categories: tuple[str, ...]
    threshold: float
    scores: dict[str, float] = field(default_factory=dict)


def decide(
    labels: Sequence[str], probs: Sequence[float], threshold: float, taxonomy: Taxonomy, positive: str = "unsafe"
) -> Decision:
    """Safe or unsafe, and the categories over ``threshold`` (``p >= threshold``).

    >>> d = decide(["unsafe", "S1", "S10"], [0.8, 0.1, 0.6], 0.5, get_taxonomy(3))
    >>> d.unsafe, d.categories
    (True, ('S10 Hate',))
    >>> decide(["unsafe", "S1"], [0.2, float("nan")], 0.5, get_taxonomy(3)).unsafe
    False
    """
    if not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"`threshold` must be a number in [0, 1], got {threshold!r}.")
    scores = confidences(labels, probs, taxonomy)
    p_unsafe = scores.get(positive, float("nan"))
    over = tuple(
        name
        for label, name in ((label, display_name(label, taxonomy)) for label in labels)
        if label != positive and name in scores and scores[name] >= threshold
    )
    return Decision(unsafe=bool(p_unsafe >= threshold), categories=over, threshold=float(threshold), scores=scores)


def decision_markdown(decision: Decision, positive: str = "unsafe") -> str:
    """The decision as one Markdown paragraph.

    >>> print(decision_markdown(Decision(True, ("S10 Hate",), 0.5, {"unsafe": 0.9, "S10 Hate": 0.7})))
    ## unsafe
    p(unsafe) = 0.900 ≥ threshold 0.50. Categories over the threshold: **S10 Hate** (0.700).
    """
    p = decision.scores.get(positive, float("nan"))
    verdict = "unsafe" if decision.unsafe else "safe"
    relation = "≥" if decision.unsafe else "<"
    text = f"## {verdict}\np(unsafe) = {p:.3f} {relation} threshold {decision.threshold:.2f}."
    if decision.categories:
        items = ", ".join(f"**{name}** ({decision.scores[name]:.3f})" for name in decision.categories)
        text += f" Categories over the threshold: {items}."
        if not decision.unsafe:
            text += " (p(unsafe) itself is under the threshold.)"
    elif decision.unsafe:
        text += " No category is over the threshold."
    if len(decision.scores) == 1:
        text += " This strategy scores `unsafe` only; its categories are undefined."
    return text


def labels_markdown(decision: Decision) -> str:
    """The labels over the threshold of a model without a verdict (a label list), as Markdown.

    >>> print(labels_markdown(Decision(False, ("joy",), 0.5, {"joy": 0.8, "anger": 0.1})))
    ## joy
    Labels with p ≥ threshold 0.50: **joy** (0.800).
    >>> print(labels_markdown(Decision(False, (), 0.5, {"joy": 0.2})))
    ## none
    No label is over the threshold 0.50.
    """
    if not decision.categories:
        return f"## none\nNo label is over the threshold {decision.threshold:.2f}."
    items = ", ".join(f"**{name}** ({decision.scores[name]:.3f})" for name in decision.categories)
    return f"## {', '.join(decision.categories)}\nLabels with p ≥ threshold {decision.threshold:.2f}: {items}."


def bar_chart(
    labels: Sequence[str],
    probs: Sequence[float],
    threshold: float,
    taxonomy: Taxonomy,
    title: str = "",
    lower: Sequence[float] | None = None,
    upper: Sequence[float] | None = None,
) -> Any:
    """A horizontal bar per label (display names, label order top to bottom), the threshold as a
    dashed vertical line, bars at or over it in red; ``lower``/``upper`` draw the any_place bounds
    as error bars. Undefined (NaN) scores get no bar and "n/a". The values stand in a column right
    of the axis and the threshold's legend above it, so no text lies on a bar, the line or an axis. A
    ``matplotlib.figure.Figure``
    built without pyplot (no global state: safe from the server's worker threads).

    >>> fig = bar_chart(["unsafe", "S1"], [0.7, 0.2], 0.5, get_taxonomy(3))
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()], fig.axes[0].lines[0].get_xdata()[0]
    (['unsafe', 'S1 Violent Crimes'], 0.5)
    """
    from matplotlib.figure import Figure

    _check_row(labels, probs)
    names = [display_name(label, taxonomy) for label in labels]
    values = [float(p) for p in probs]
    defined = [not math.isnan(v) for v in values]
    heights = [v if ok else 0.0 for v, ok in zip(values, defined)]
    colors = ["#d62728" if ok and v >= threshold else "#1f77b4" for v, ok in zip(values, defined)]
    fig = Figure(figsize=(7.5, 0.32 * len(labels) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(labels)))
    xerr = None
    if lower is not None and upper is not None:
        _check_row(labels, lower)
        _check_row(labels, upper)
        xerr = [
            [max(h - float(lo), 0.0) for h, lo in zip(heights, lower)],
            [max(float(up) - h, 0.0) for h, up in zip(heights, upper)],
        ]
    ax.barh(positions, heights, color=colors, xerr=xerr, ecolor="#555555", capsize=2)
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, label=f"threshold {threshold:.2f}")
    for y, (v, ok) in enumerate(
        zip(values, defined)
    ):  # a column of values right of the axis: never on a bar or the line
        ax.text(
            1.02, y, f"{v:.3f}" if ok else "n/a", va="center", ha="left", fontsize=8, transform=ax.get_yaxis_transform()
        )
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xticks([0.0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("probability")
    ax.legend(
        loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, frameon=False, borderaxespad=0.2
    )  # above the bars
    if title:
        ax.set_title(title, loc="right", fontsize=10)
    return fig


def _shown(text: str) -> str:
    """Completion text on one line, newlines visible as ``\\n``."""
    return text.replace("\n", "\\n")


COMPLETION_HEADERS = ["rank", "completion", "probability", "complete", "labels"]


def completions_table(
    completions: Sequence[tuple[str, float, bool]], parse: Any, taxonomy: Taxonomy, digits: int = 4
) -> list[list[Any]]:
    """Rows ``[rank, completion, probability, complete, labels]`` of the tree search's most probable
    completions, most probable first, probabilities rounded to ``digits``; ``labels`` is what
    ``parse`` (``LabelSpace.parse``) reads; ``complete`` is False for a prefix whose label set can no
    longer change (the search stopped there).

    >>> from marginal_generate.labels.llama_guard import LlamaGuardParser
    >>> parse = LlamaGuardParser(("S1", "S10")).parse
    >>> completions_table([("safe", 0.25, True), ("\\n\\nunsafe\\nS10", 0.5, True)], parse, get_taxonomy(3))
    [[1, '\\\\n\\\\nunsafe\\\\nS10', 0.5, True, 'unsafe, S10 Hate'], [2, 'safe', 0.25, True, 'safe']]
    """
    rows = sorted(completions, key=lambda c: -float(c[1]))
    out = []
    for rank, (text, prob, complete) in enumerate(rows, start=1):
        found = parse(text)
        order = {"unsafe": -1}
        names = [display_name(x, taxonomy) for x in sorted(found, key=lambda x: (order.get(x, 0), _id_key(x)))]
        out.append(
            [rank, _shown(text), round(float(prob), digits), bool(complete), ", ".join(names) if names else "safe"]
        )
    return out


def _id_key(label: str) -> tuple[int, str]:
    digits = label[1:] if label[:1] == "S" else ""
    return (int(digits), label) if digits.isdigit() else (10**6, label)


BOUNDS_HEADERS = ["label", "lower", "estimate", "upper", "width"]


def bounds_table(
    labels: Sequence[str],
    probs: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    taxonomy: Taxonomy,
    digits: int = 4,
) -> list[list[Any]]:
    """Rows ``[label, lower, estimate, upper, width]`` of the any_place bounds (``lower <= exact <= upper``),
    rounded to ``digits``.

    >>> bounds_table(["unsafe", "S10"], [0.5, 0.25], [0.5, 0.25], [0.75, 0.5], get_taxonomy(3))
    [['unsafe', 0.5, 0.5, 0.75, 0.25], ['S10 Hate', 0.25, 0.25, 0.5, 0.25]]
    """
    for row in (probs, lower, upper):
        _check_row(labels, row)
    return [
        [display_name(label, taxonomy), *(round(float(v), digits) for v in (lo, p, up, float(up) - float(lo)))]
        for label, p, lo, up in zip(labels, probs, lower, upper)
    ]


def strategies_table(
    results: Mapping[str, Any], row: int, taxonomy: Taxonomy, digits: int = 4
) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows (one per strategy, one column per label, NaN as ``None``, rounded to ``digits``) of prompt
    ``row``."""
    first = next(iter(results.values()))
    headers = ["strategy", *(display_name(label, taxonomy) for label in first.labels)]
    rows = []
    for name, result in results.items():
        values = [float(v) for v in result.probs[row].tolist()]
        rows.append([name, *(None if math.isnan(v) else round(v, digits) for v in values)])
    return headers, rows


def calibrate_row(
    calibrator: Any, labels: Sequence[str], probs: Sequence[float], positive: str = "unsafe"
) -> list[float]:
    """One prompt's scores through a fitted calibrator; NaN stays NaN.

    A binary calibrator (fitted on ``p(unsafe)``) changes the ``unsafe`` column only; one fitted
    on ``k`` labels changes all columns (``k == len(labels)``) or the categories
    (``k == len(labels) - 1``).
    """
    import numpy as np

    _check_row(labels, probs)
    p = np.asarray([float(v) for v in probs], dtype=np.float64)
    k = getattr(calibrator, "num_labels_", None)
    if k is None:
        columns = [list(labels).index(positive)]
    elif k == len(labels):
        columns = list(range(len(labels)))
    elif k == len(labels) - 1:
        columns = [j for j, label in enumerate(labels) if label != positive]
    else:
        raise ValueError(
            f"the calibrator was fitted on {k} labels but this model has {len(labels)} ({len(labels) - 1} categories); "
            "fit it on p(unsafe) alone, on every label or on the categories."
        )
    if k is None:
        if not math.isnan(p[columns[0]]):
            p[columns[0]] = float(np.asarray(calibrator.transform(p[columns])).reshape(-1)[0])
        return p.tolist()
    sub = p[columns]
    undefined = np.isnan(sub)
    out = np.asarray(calibrator.transform(np.where(undefined, 0.5, sub)[None, :]), dtype=np.float64).reshape(-1)
    p[columns] = np.where(undefined, np.nan, out)
    return p.tolist()


def validate_inputs(
    user_message: Any,
    agent_response: Any,
    strategy: Any,
    threshold: Any,
    eps: Any,
    top_p: Any,
    max_chars: int = MAX_MESSAGE_CHARS,
) -> tuple[str, str | None]:
    """``(user message, agent response or None)`` stripped, or :class:`InputError` with a message for the page.

    >>> validate_inputs("  hi ", "", "any_place", 0.5, 0.01, 0.99)
    ('hi', None)
    >>> try:
    ...     validate_inputs("   ", None, "any_place", 0.5, 0.01, 0.99)
    ... except InputError as err:
    ...     print(err)
    The user message is empty: type a message to classify (or click an example).
    """
    if user_message is None or not isinstance(user_message, str) or not user_message.strip():
        raise InputError("The user message is empty: type a message to classify (or click an example).")
    if agent_response is not None and not isinstance(agent_response, str):
        raise InputError(f"The agent response must be text, got {type(agent_response).__name__}.")
    for what, text in (("user message", user_message), ("agent response", agent_response or "")):
        if len(text) > max_chars:
            raise InputError(
                f"The {what} is {len(text):,} characters long; this Space accepts at most {max_chars:,} per message. "
                "Shorten it and try again."
            )
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown strategy {strategy!r}; pick one of {', '.join(STRATEGIES)}.")
    checks = (("threshold", threshold, 0.0, 1.0), ("eps", eps, *EPS_RANGE), ("top_p", top_p, *TOP_P_RANGE))
    for name, value, lo, hi in checks:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise InputError(f"`{name}` must be a number in [{lo}, {hi}], got {value!r}.")
    response = agent_response.strip() if agent_response and agent_response.strip() else None
    return user_message.strip(), response


# ---- the model ----------------------------------------------------------------------------


class Engine:
    """A loaded guard model with its label space, scoring one conversation at a time (a lock
    serializes calls, whatever the server's concurrency)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_id: str,
        taxonomy: int = 3,
        calibrator: Any = None,
        calibrator_name: str | None = None,
        max_new_tokens: int = MAX_NEW_TOKENS,
        max_prompt_tokens: int = MAX_PROMPT_TOKENS,
        grammar: str = "llama_guard",
        labels: Sequence[str] | None = None,
        prompt_template: str | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.taxonomy = get_taxonomy(taxonomy)
        self.grammar = grammar
        self.prompt_template = None
        if grammar == "label_list":  # a model that writes a list of label names (GRAMMAR=label_list LABELS=...)
            if not labels:
                raise ValueError(
                    "GRAMMAR=label_list needs the label names: set LABELS=joy,anger,... (comma-separated)."
                )
            self.space = mg.LabelSpace.label_list(tokenizer, list(labels))
            self.prompt_template = prompt_template or LABEL_LIST_PROMPT
            if "{text}" not in self.prompt_template:
                raise ValueError(f"PROMPT_TEMPLATE must contain {{text}}, got {self.prompt_template!r}.")
        elif grammar == "llama_guard":
            self.space = mg.LabelSpace.llama_guard(tokenizer, taxonomy=taxonomy)
        else:
            raise ValueError(f"GRAMMAR must be llama_guard or label_list, got {grammar!r}.")
        #: the strategies this grammar supports (first_token needs a verbalizer)
        self.strategies = tuple(s for s in STRATEGIES if s != "first_token" or self.space.verbalizer is not None)
        self.calibrator = calibrator
        self.calibrator_name = calibrator_name
        self.max_new_tokens = max_new_tokens
        context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        limit = max_prompt_tokens if context is None else min(max_prompt_tokens, int(context) - max_new_tokens)
        self.max_prompt_tokens = max(limit, 1)
        self._lock = threading.Lock()

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def encode(self, user_message: str, agent_response: str | None) -> Any:
        from marginal_generate.prompts.formats import conversation, encode_conversations

        if self.prompt_template is not None:
            text = self.prompt_template.format(
                text=user_message if agent_response is None else f"{user_message}\n{agent_response}",
                labels=", ".join(self.space.labels),
            )
            batch = self.tokenizer([text], return_tensors="pt", add_special_tokens=False).to(self.device)
        else:
            batch = encode_conversations(
                self.tokenizer, [conversation(user_message, agent_response)], device=self.device
            )
        n = int(batch["input_ids"].shape[1])
        if n > self.max_prompt_tokens:
            raise InputError(
                f"The conversation is {n:,} tokens long with the guard prompt; this model accepts at most "
                f"{self.max_prompt_tokens:,}. Shorten the message and try again."
            )
        return batch

    def score(
        self,
        user_message: str,
        agent_response: str | None,
        eps: float,
        top_p: float,
        strategies: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Every strategy's :class:`~marginal_generate.LabelScores` for one conversation (one pass)."""
        strategies = self.strategies if strategies is None else strategies
        batch = self.encode(user_message, agent_response)
        with self._lock:
            return mg.score(
                self.model,
                batch["input_ids"],
                batch["attention_mask"],
                self.space,
                list(strategies),
                max_new_tokens=self.max_new_tokens,
                top_p=float(top_p),
                eps=float(eps),
                top_completions=TOP_COMPLETIONS,
            )


def _auto_device_dtype() -> tuple[str, str]:
    import torch

    device = os.environ.get("DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = os.environ.get("DTYPE") or ("bfloat16" if device.startswith("cuda") else "float32")
    return device, dtype


def load_engine(model_id: str | None = None, calibrator_path: str | None = None) -> Engine:
    """The model of ``model_id`` (None: the embedded tiny guard) through the package's loader (the Auto
    classes), and the calibrator saved at ``calibrator_path``; both named by the operator, never the page."""
    from marginal_generate.loading import load_model

    device, dtype = _auto_device_dtype()
    model, tokenizer, _ = load_model(model_id or None, device, dtype)
    calibrator = None
    if calibrator_path:
        calibrator = mg.load_calibrator(calibrator_path)
    name = model_id or "embedded tiny guard (marginal_generate/models/tiny-guard)"
    labels = [x.strip() for x in os.environ.get("LABELS", "").split(",") if x.strip()]
    return Engine(
        model,
        tokenizer,
        name,
        taxonomy=_env_int("GUARD_VERSION", 3),
        calibrator=calibrator,
        calibrator_name=os.path.basename(calibrator_path) if calibrator_path else None,
        grammar=os.environ.get("GRAMMAR") or "llama_guard",
        labels=labels or None,
        prompt_template=os.environ.get("PROMPT_TEMPLATE") or None,
    )


_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine() -> Engine:
    """The process's engine, loaded on first use from ``MODEL_ID`` and ``CALIBRATOR``."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = load_engine(os.environ.get("MODEL_ID") or None, os.environ.get("CALIBRATOR") or None)
        return _ENGINE


def set_engine(engine: Engine | None) -> None:
    """Use ``engine`` from now on (tests; None reloads from the environment on next use)."""
    global _ENGINE
    with _ENGINE_LOCK:
        _ENGINE = engine


# ---- the handler ----------------------------------------------------------------------------


@dataclass
class Result:
    """What one click shows, before Gradio wraps it."""

    decision: Decision
    decision_markdown: str
    confidences: dict[str, float]
    figure: Any
    greedy: str
    completions: list[list[Any]]
    bounds: list[list[Any]]
    strategies_headers: list[str]
    strategies: list[list[Any]]
    timing: str
    raw: dict[str, Any]


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
    user, response = validate_inputs(user_message, agent_response, strategy, threshold, eps, top_p)
    engine = engine or get_engine()
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
    }
    return Result(
        decision=decision,
        decision_markdown=decision_markdown(decision, engine.space.positive)
        if engine.grammar == "llama_guard"
        else labels_markdown(decision),
        confidences=decision.scores,
        figure=figure,
        greedy=text,
        completions=completions_table(ap.completions[0], engine.space.parse, tax),
        bounds=bounds_table(labels, ap_probs, lower, upper, tax),
        strategies_headers=headers,
        strategies=rows,
        timing=timing,
        raw=raw,
    )


def classify(
    user_message: Any,
    agent_response: Any,
    strategy: Any = DEFAULT_STRATEGY,
    threshold: Any = 0.5,
    eps: Any = DEFAULT_EPS,
    top_p: Any = DEFAULT_TOP_P,
    apply_calibrator: bool = False,
) -> tuple[Any, ...]:
    """The button's handler: the outputs in page order (decision, confidences, chart, greedy
    completion, completions, bounds, strategies, timing, raw JSON). Input problems become a
    ``gr.Error`` (a message on the page, an ``AppError`` for API clients), never a traceback."""
    import gradio as gr
    import pandas as pd

    try:
        r = run(user_message, agent_response, strategy, threshold, eps, top_p, apply_calibrator)
    except InputError as err:
        raise gr.Error(str(err), print_exception=False) from None
    return (
        r.decision_markdown,
        r.confidences,
        r.figure,
        r.greedy,
        pd.DataFrame(r.completions, columns=COMPLETION_HEADERS),
        pd.DataFrame(r.bounds, columns=BOUNDS_HEADERS),
        pd.DataFrame(r.strategies, columns=r.strategies_headers),
        r.timing,
        r.raw,
    )


def cleared() -> tuple[Any, ...]:
    """Empty outputs in page order: shown the moment Classify is pressed, so an error never sits next to an
    earlier verdict.

    >>> cleared()[0]
    'Scoring…'
    """
    return ("Scoring…", None, None, "", None, None, None, "", None)


def default_threshold(strategy: str) -> float:
    """The slider's value for ``strategy``.

    >>> default_threshold("any_place")
    0.5
    """
    return DEFAULT_THRESHOLDS.get(strategy, 0.5)


# ---- the page -------------------------------------------------------------------------------

INTRO = """# marginal-generate: every category's confidence
A guard model such as Llama Guard *writes* its verdict (`safe`, or `unsafe` and `S1,S10`). This Space reads
per-label probabilities from the model's own decoding with the strategies of
marginal-generate: pick one to see its per-category confidences, the decision at a
threshold, and (for `any_place`) the bounds and the most probable answers the tree search found.
"""


def theme() -> Any:
    """The default theme with system fonts only (the stock themes fetch fonts from Google)."""
    import gradio as gr

    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "Consolas", "monospace"],
    )


def build_demo(engine: Engine | None = None) -> Any:
    """The Blocks of the Space; the queue is on (one scoring at a time, up to 64 waiting)."""
    import gradio as gr

    engine = engine or get_engine()
    with gr.Blocks(title="marginal-generate: per-category confidences", analytics_enabled=False) as demo:
        gr.Markdown(
            INTRO + f"\n**Model:** `{engine.model_id}` ({engine.taxonomy.name} categories). "
            "The embedded tiny guard is a test model, not a moderation model."
        )
        with gr.Row():
            with gr.Column(scale=2):
                user = gr.Textbox(
                    label="User message",
                    lines=3,
                    max_length=MAX_MESSAGE_CHARS,
                    elem_id="user-message",
                    placeholder="Type a user message to classify",
                )
                agent = gr.Textbox(
                    label="Agent response (optional: the response is then classified)",
                    lines=2,
                    max_length=MAX_MESSAGE_CHARS,
                    elem_id="agent-response",
                )
                strategy = gr.Dropdown(
                    list(engine.strategies), value=DEFAULT_STRATEGY, label="Strategy", elem_id="strategy"
                )
                threshold = gr.Slider(
                    0.0,
                    1.0,
                    value=default_threshold(DEFAULT_STRATEGY),
                    step=0.01,
                    label="Threshold (moves to the strategy's default)",
                    elem_id="threshold",
                )
                with gr.Accordion("any_place tree search", open=False):
                    eps = gr.Slider(
                        EPS_RANGE[0],
                        EPS_RANGE[1],
                        value=DEFAULT_EPS,
                        step=0.001,
                        label="eps: prefixes under this probability are cut",
                        elem_id="eps",
                    )
                    top_p = gr.Slider(
                        TOP_P_RANGE[0],
                        TOP_P_RANGE[1],
                        value=DEFAULT_TOP_P,
                        step=0.01,
                        label="top_p: per-step nucleus of the tree",
                        elem_id="top-p",
                    )
                calibrate = gr.Checkbox(
                    value=False,
                    visible=engine.calibrator is not None,
                    elem_id="calibrate",
                    label=f"Apply the calibrator {engine.calibrator_name} ({engine.calibrator!r})"
                    if engine.calibrator is not None
                    else "Apply the calibrator",
                )
                button = gr.Button("Classify", variant="primary", elem_id="classify")
                gr.Examples(EXAMPLES, inputs=[user, agent], label="Examples")
            with gr.Column(scale=3):
                decision = gr.Markdown("Type a message and press **Classify**.", elem_id="decision")
                label = gr.Label(
                    num_top_classes=len(engine.space.labels), label="Per-category confidence", elem_id="confidences"
                )
                plot = gr.Plot(label="Confidence per category, threshold dashed", format="png", elem_id="chart")
                greedy = gr.Textbox(label="Greedy completion", interactive=False, elem_id="greedy")
                timing = gr.Markdown(elem_id="timing")
        completions = gr.Dataframe(
            headers=COMPLETION_HEADERS,
            label="Most probable completions (any_place tree search)",
            interactive=False,
            wrap=True,
            elem_id="completions",
            elem_classes=["wide-table"],
        )
        bounds = gr.Dataframe(
            headers=BOUNDS_HEADERS,
            label="any_place: the estimate between certified bounds, lower ≤ exact ≤ upper (uncalibrated)",
            interactive=False,
            wrap=True,
            max_height=800,
            elem_id="bounds",
            elem_classes=["wide-table"],
        )
        strategies = gr.Dataframe(
            label="Every strategy, same pass (scroll sideways for every category)",
            interactive=False,
            wrap=True,
            elem_id="strategies",
            elem_classes=["wide-table"],
        )
        with gr.Accordion("Raw output (JSON)", open=False):
            raw = gr.JSON(elem_id="raw")

        strategy.change(default_threshold, inputs=strategy, outputs=threshold, api_visibility="private", queue=False)
        inputs = [user, agent, strategy, threshold, eps, top_p, calibrate]
        outputs = [decision, label, plot, greedy, completions, bounds, strategies, timing, raw]
        # clear first, then score: after an error no earlier verdict stays on screen next to it
        button.click(cleared, outputs=outputs, api_visibility="private", queue=False).then(
            classify, inputs=inputs, outputs=outputs, api_name="classify", concurrency_limit=1
        )
        user.submit(cleared, outputs=outputs, api_visibility="private", queue=False).then(
            classify, inputs=inputs, outputs=outputs, api_visibility="private", concurrency_limit=1
        )
    demo.queue(max_size=64, default_concurrency_limit=1)
    return demo


#: The page's CSS: wide tables scroll sideways inside their box (never cut off, never widen the page),
#: long cells wrap, and the examples' agent responses wrap instead of being clipped.
CSS = """
.wide-table { max-width: 100%; overflow-x: auto; }
.wide-table table { width: max-content; min-width: 100%; }
.wide-table td, .wide-table th { white-space: normal; overflow-wrap: anywhere; max-width: 28em; }
.gallery td, .gallery th, table.gallery td { white-space: normal !important; overflow-wrap: anywhere; max-width: 24em; }
#chart img { max-width: 100%; height: auto; }
@media (max-width: 640px) { .wide-table td, .wide-table th { max-width: 16em; } }
"""


def launch_kwargs() -> dict[str, Any]:
    """``launch`` arguments that keep the page offline: no share link, no analytics, no remote fonts, no SSR node."""
    return {"share": False, "theme": theme(), "css": CSS, "ssr_mode": False, "show_error": False, "mcp_server": False}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def launch_local(demo: Any, port: int | None = None, attempts: int = 3) -> str:
    """Start ``demo`` on 127.0.0.1 (a free port unless ``port``) in a background thread; returns its URL.

    ``demo.close()`` stops it. Tests and notebooks use this; ``python spaces/app.py`` blocks instead.
    """
    for attempt in range(attempts):
        try:
            _, url, _ = demo.launch(
                server_name="127.0.0.1",
                server_port=port or free_port(),
                prevent_thread_lock=True,
                quiet=True,
                **launch_kwargs(),
            )
            return url
        except OSError:  # the free port was taken between the probe and the bind
            if port is not None or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


if __name__ == "__main__":
    build_demo().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), **launch_kwargs())
