"""The page: :func:`build_demo` lays out the Blocks and wires them to :func:`~.callbacks.classify`.

Gradio is imported inside the functions: ``import marginal_generate.space`` works without it.
"""

from __future__ import annotations

import functools
from typing import Any

from .callbacks import classify, cleared
from .charts import CHART_CSS_WIDTH
from .config import DEFAULT_EPS, DEFAULT_STRATEGY, DEFAULT_TOP_P, EPS_RANGE, EXAMPLES, TOP_P_RANGE, default_threshold
from .engine import Engine, get_engine
from .policy_view import POLICY_HEADERS
from .tables import ANSWER_HEADERS, BOUNDS_HEADERS, COMPLETION_HEADERS

__all__ = ["CSS", "INTRO", "build_demo", "decision_label", "theme"]

INTRO = """# marginal-generate: every category's confidence
A guard model such as Llama Guard *writes* its verdict (`safe`, or `unsafe` and `S1,S10`). This Space reads
per-label probabilities from the model's own decoding with the strategies of
marginal-generate: pick one to see its per-category confidences, the decision at a
threshold, and (for `any_place`) the bounds and the most probable answers the tree search found.
"""

#: The page's CSS. Wide tables scroll sideways inside their box (never cut off, never widen the page). Gradio
#: sizes each column on a hidden copy of the table that holds the column's longest value; laid out at
#: max-content width rather than squeezed into the box, the column fits that value's words (at most 18em
#: wide), so cells wrap between words only and a token longer than 18em breaks where it must. The chart is
#: shown at most CHART_CSS_WIDTH wide, narrower on a phone (charts.shown_font_px: 11 px or more at 390 px).
CSS = f"""
.wide-table {{ max-width: 100%; overflow-x: auto; }}
.wide-table table {{ width: max-content !important; min-width: 100%; }}
.wide-table .cell-wrap {{ max-width: 18em; }}
.wide-table td, .wide-table th, .wide-table td *, .wide-table th * {{
  white-space: normal; word-break: normal; overflow-wrap: break-word; hyphens: none;
}}
.gallery td, .gallery th, table.gallery td {{
  white-space: normal !important; word-break: normal; overflow-wrap: break-word; max-width: 24em;
}}
#chart img {{ width: 100%; max-width: {CHART_CSS_WIDTH}px; height: auto; }}
"""


def theme() -> Any:
    """The default theme with system fonts only (the stock themes fetch fonts from Google)."""
    import gradio as gr

    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "Consolas", "monospace"],
    )


def decision_label(**kwargs: Any) -> Any:
    """The confidence card: a ``gr.Label`` whose headline is given (the decision, :func:`~.callbacks.label_value`),
    not its top-scoring label. Its value is ``{"label": headline, "confidences": [{"label": name, "confidence":
    p}, ...]}``, the shape the browser and API clients receive; any other value is read as ``gr.Label`` reads it.

    The instance's ``postprocess`` is replaced rather than subclassed: Gradio writes a ``.pyi`` stub beside the
    source file of every component class defined outside it.
    """
    import gradio as gr
    from gradio.components.label import LabelData

    label = gr.Label(**kwargs)
    plain = label.postprocess

    def postprocess(value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("confidences"), list):
            return LabelData(**value)
        return plain(value)

    label.postprocess = postprocess
    return label


def build_demo(engine: Engine | None = None) -> Any:
    """The Blocks of the Space, scoring with ``engine`` (default: :func:`~.engine.get_engine`); the queue is on
    (one scoring at a time, up to 64 waiting)."""
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
                    max_length=engine.max_message_chars,
                    elem_id="user-message",
                    placeholder="Type a user message to classify",
                )
                agent = gr.Textbox(
                    label="Agent response (optional: the response is then classified)",
                    lines=2,
                    max_length=engine.max_message_chars,
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
                        *EPS_RANGE,
                        value=DEFAULT_EPS,
                        step=0.001,
                        label="eps: prefixes under this probability are cut",
                        elem_id="eps",
                    )
                    top_p = gr.Slider(
                        *TOP_P_RANGE,
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
                label = decision_label(
                    num_top_classes=len(engine.space.labels),
                    label="Per-category confidence",  # short: a wrapped block label covers the headline
                    elem_id="confidences",
                )
                plot = gr.Plot(label="Confidence per category, threshold dashed", format="png", elem_id="chart")
                greedy = gr.Textbox(label="Greedy completion", interactive=False, elem_id="greedy")
                timing = gr.Markdown(elem_id="timing")
        table = {"interactive": False, "wrap": True, "elem_classes": ["wide-table"]}
        policy = gr.Dataframe(
            headers=POLICY_HEADERS,
            label=f"Policy {engine.policy_name}: each label's outcome (block from the upper threshold, review "
            "between, allow below the lower)",
            visible=engine.policy is not None,
            elem_id="policy",
            **table,
        )
        answers = gr.Dataframe(
            headers=ANSWER_HEADERS,
            label="Most probable answers (label sets of any_place's tree; their probabilities sum to 1 with the cut)",
            elem_id="answers",
            **table,
        )
        completions = gr.Dataframe(
            headers=COMPLETION_HEADERS,
            label="Most probable completions (any_place tree search)",
            elem_id="completions",
            **table,
        )
        bounds = gr.Dataframe(
            headers=BOUNDS_HEADERS,
            label="any_place: the estimate between certified bounds, lower ≤ exact ≤ upper (uncalibrated)",
            max_height=800,
            elem_id="bounds",
            **table,
        )
        strategies = gr.Dataframe(
            label="Every strategy, same pass (scroll sideways for every category)", elem_id="strategies", **table
        )
        with gr.Accordion("Raw output (JSON)", open=False):
            raw = gr.JSON(elem_id="raw")

        strategy.change(default_threshold, inputs=strategy, outputs=threshold, api_visibility="private", queue=False)
        inputs = [user, agent, strategy, threshold, eps, top_p, calibrate]
        outputs = [decision, label, plot, greedy, completions, bounds, strategies, timing, raw, answers, policy]
        score = functools.partial(classify, engine=engine)
        # clear first, then score: after an error no earlier verdict stays on screen next to it
        button.click(cleared, outputs=outputs, api_visibility="private", queue=False).then(
            score, inputs=inputs, outputs=outputs, api_name="classify", concurrency_limit=1
        )
        user.submit(cleared, outputs=outputs, api_visibility="private", queue=False).then(
            score, inputs=inputs, outputs=outputs, api_visibility="private", concurrency_limit=1
        )
    demo.queue(max_size=64, default_concurrency_limit=1)
    return demo
