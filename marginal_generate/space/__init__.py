"""The Gradio Space: every category's confidence from a guard model's own decoding, in a browser.

``marginal-generate space`` (or ``python spaces/app.py`` in a checkout) serves it; ``pip install
"marginal-generate[space]"`` brings gradio. One module per concern, the page logic in pure functions tested
without a server:

- :mod:`.config`: the operator's settings (environment variables, command flags) and the page's defaults;
- :mod:`.inputs`: what the user typed, checked; :mod:`.engine`: the model, scoring every strategy in one pass;
- :mod:`.verdict`: the decision at a threshold; :mod:`.tables`, :mod:`.charts`: the tables and the bar chart;
- :mod:`.callbacks`: the button's handler; :mod:`.layout`: the Blocks; :mod:`.serve`, :mod:`.command`: starting it.

Importing this package does not import gradio.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no analytics, no version check

from .callbacks import OUTPUTS, Result, classify, cleared, label_value, run  # noqa: E402
from .charts import bar_chart, shown_font_px  # noqa: E402
from .config import (  # noqa: E402
    DEFAULT_STRATEGY,
    DEFAULT_THRESHOLDS,
    EXAMPLES,
    TOP_COMPLETIONS,
    Settings,
    default_threshold,
)
from .engine import Engine, calibrate_row, get_engine, load_engine, set_engine  # noqa: E402
from .inputs import InputError, validate_inputs  # noqa: E402
from .layout import CSS, build_demo  # noqa: E402
from .serve import free_port, launch_kwargs, launch_local, serve  # noqa: E402
from .tables import (  # noqa: E402
    ANSWER_HEADERS,
    BOUNDS_HEADERS,
    COMPLETION_HEADERS,
    answers_table,
    bounds_table,
    completions_table,
    strategies_table,
)
from .verdict import Decision, confidences, decide, decision_markdown, display_name, headline, labels_markdown  # noqa: E402

__all__ = [
    "ANSWER_HEADERS",
    "answers_table",
    "BOUNDS_HEADERS",
    "COMPLETION_HEADERS",
    "CSS",
    "DEFAULT_STRATEGY",
    "DEFAULT_THRESHOLDS",
    "EXAMPLES",
    "OUTPUTS",
    "TOP_COMPLETIONS",
    "Decision",
    "Engine",
    "InputError",
    "Result",
    "Settings",
    "bar_chart",
    "bounds_table",
    "build_demo",
    "calibrate_row",
    "classify",
    "cleared",
    "completions_table",
    "confidences",
    "decide",
    "decision_markdown",
    "default_threshold",
    "display_name",
    "free_port",
    "get_engine",
    "headline",
    "label_value",
    "labels_markdown",
    "launch_kwargs",
    "launch_local",
    "load_engine",
    "run",
    "serve",
    "set_engine",
    "shown_font_px",
    "strategies_table",
    "validate_inputs",
]
