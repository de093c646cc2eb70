"""``marginal-generate space``: the Space from the installed package (``spaces/app.py`` runs the same).

    marginal-generate space                      # the embedded tiny guard on http://127.0.0.1:7860
    marginal-generate space --port 0             # a free port; the URL is printed
    marginal-generate space --model meta-llama/Llama-Guard-3-8B --calibrator calibrator.json --host 0.0.0.0

Each flag overrides its environment variable (``--model`` / ``MODEL_ID``, ...; see :mod:`.config`). Problems
(gradio missing, a bad setting, a model that cannot be loaded, a port in use) are one line and exit status 2.

>>> args = build_parser().parse_args(["--port", "0", "--labels", "joy, anger", "--max-new-tokens", "12"])
>>> args.port, args.host, settings_from_args(args, {}).labels, settings_from_args(args, {}).max_new_tokens
(0, '127.0.0.1', ('joy', 'anger'), 12)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..commands import add_subcommand, cannot_serve, fail, missing_modules, names, port, standalone_parser
from .config import GRAMMARS, Settings

__all__ = ["INSTALL_HINT", "add_arguments", "add_command", "build_parser", "main", "run_command", "settings_from_args"]

INSTALL_HINT = 'pip install "marginal-generate[space]"'
#: flag destination → :class:`Settings` field
_FIELDS = {
    "model": "model_id",
    "calibrator": "calibrator",
    "policy": "policy",
    "device": "device",
    "dtype": "dtype",
    "guard_version": "guard_version",
    "grammar": "grammar",
    "labels": "labels",
    "prompt_template": "prompt_template",
    "max_new_tokens": "max_new_tokens",
    "max_message_chars": "max_message_chars",
    "max_prompt_tokens": "max_prompt_tokens",
}


def _labels(text: str) -> tuple[str, ...]:
    return tuple(names(text))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's flags on ``parser``."""
    host = os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    parser.add_argument("--host", default=host, help=f"address to serve on (default {host}; 0.0.0.0 for others)")
    parser.add_argument("--port", type=port, help="port (default: GRADIO_SERVER_PORT or 7860; 0: a free port, printed)")
    parser.add_argument("--model", help="MODEL_ID: Hub id or local path (default: the embedded tiny guard, offline)")
    parser.add_argument(
        "--calibrator", help="CALIBRATOR: a calibrator JSON saved by Calibrator.save, offered on the page"
    )
    parser.add_argument(
        "--policy", help="POLICY: a policy JSON saved by Policy.save; the page shows block/review/allow per label"
    )
    parser.add_argument("--device", help="DEVICE: cpu, cuda, cuda:1, ... (default: cuda with a GPU, else cpu)")
    parser.add_argument("--dtype", help="DTYPE: float32, bfloat16, float16 (default: bfloat16 on GPU, float32)")
    parser.add_argument("--guard-version", type=int, choices=(2, 3), help="GUARD_VERSION: 3 (S1-S14) or 2 (S1-S11)")
    parser.add_argument("--grammar", choices=GRAMMARS, help="GRAMMAR: what the model writes (default llama_guard)")
    parser.add_argument("--labels", type=_labels, help="LABELS: comma-separated names for --grammar label_list")
    parser.add_argument("--prompt-template", help="PROMPT_TEMPLATE: for label_list, with {text} and {labels}")
    parser.add_argument("--max-new-tokens", type=int, help="MAX_NEW_TOKENS (default 20)")
    parser.add_argument("--max-message-chars", type=int, help="MAX_MESSAGE_CHARS per message (default 4000)")
    parser.add_argument("--max-prompt-tokens", type=int, help="MAX_PROMPT_TOKENS (default 4096)")


_HELP = "serve the Gradio Space (per-category confidences in a browser) from the installed package"


def add_command(sub: Any) -> None:
    """Register ``space`` on the CLI's subparsers."""
    add_subcommand(sub, "space", _HELP, INSTALL_HINT, add_arguments)


def build_parser() -> argparse.ArgumentParser:
    """The command's parser on its own (``spaces/app.py``)."""
    return standalone_parser("marginal-generate space", _HELP, add_arguments)


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """The environment's :class:`Settings` (``environ``, default ``os.environ``) with the given flags over them."""
    given = {field: getattr(args, dest) for dest, field in _FIELDS.items() if getattr(args, dest) is not None}
    return dataclasses.replace(Settings.from_env(environ), **given)


def missing_extra() -> str | None:
    """``None`` when the Space's libraries import, else the one-line reason and the install command."""
    return missing_modules(("gradio", "matplotlib", "pandas"), "the Space", INSTALL_HINT)


def run_command(args: argparse.Namespace) -> int:
    """Load the model, serve the page until Ctrl+C; returns the exit status (2 with a one-line error)."""
    problem = missing_extra()
    if problem is None:
        from ..garbage_collection import frozen_heap
        from .engine import load_engine, set_engine
        from .layout import build_demo
        from .serve import serve

        try:
            engine = load_engine(settings_from_args(args))
        except (ValueError, OSError) as err:
            problem = str(err)
        else:
            set_engine(engine)
            try:
                demo = build_demo(engine)
                with frozen_heap():  # the model and the page out of the full collections (garbage_collection.py)
                    serve(demo, args.host, args.port)
                return 0
            except OSError as err:  # the port is taken, or the host is not this machine's
                problem = cannot_serve(args.host, args.port, err)
    return fail(problem)


def main(argv: Sequence[str] | None = None) -> int:
    """``marginal-generate space`` on its own: ``python spaces/app.py [flags]``."""
    return run_command(build_parser().parse_args(argv))
