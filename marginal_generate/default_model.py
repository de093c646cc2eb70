"""The embedded tiny guard model: its path and a loader.

``DEFAULT_MODEL`` is a folder in Hub layout inside the package, so the Auto classes load it
offline; ``DEFAULT_EVAL_DATA`` is its held-out evaluation data (records JSONL, see
:func:`marginal_generate.data.load_records_jsonl`). It is a test, demo and offline default
model, not a moderation model for real traffic (see its model card).

>>> os.path.isfile(os.path.join(DEFAULT_MODEL, "config.json"))
True
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["DEFAULT_MODEL", "DEFAULT_EVAL_DATA", "load_default", "load_default_eval_data"]

DEFAULT_MODEL: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "tiny-guard")
DEFAULT_EVAL_DATA: str = os.path.join(DEFAULT_MODEL, "heldout.jsonl")


def load_default(device: Any = None, dtype: Any = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the embedded tiny guard; the tokenizer pads on the left.

    ``device``: where to put the model (``"cpu"``, ``"cuda"``, ...); ``dtype``: a ``torch.dtype``
    or its name (``"bfloat16"``); default float32 on CPU. The model is in eval mode.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"`dtype` {dtype!r} is not a torch dtype name; use e.g. 'float32' or 'bfloat16'.")
        dtype = getattr(torch, dtype)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = AutoModelForCausalLM.from_pretrained(DEFAULT_MODEL, **kwargs)
    if device is not None:
        model = model.to(device)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(DEFAULT_MODEL, padding_side="left")
    return model, tokenizer


def load_default_eval_data() -> list[Any]:
    """The embedded model's held-out evaluation records (unsafe test rows and unseen benign prompts)."""
    from .data import load_records_jsonl

    return load_records_jsonl(DEFAULT_EVAL_DATA)
