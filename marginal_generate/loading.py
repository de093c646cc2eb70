"""Models, tokenizers, devices and dtypes: the one loader of the CLI, the demo, the Space and the benchmarks.

``load_model(None, ...)`` is the embedded tiny guard (offline); any other id is a Hub id or a
local folder, loaded with the Auto classes and a left-padding tokenizer.

>>> model, tokenizer, dtype = load_model(None, "cpu", "auto")
>>> dtype, tokenizer.padding_side
('float32', 'left')
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "load_model",
    "resolve_device",
    "wants_cpu",
    "cpu_threads",
    "taxonomy_for_model",
]


def wants_cpu(device: str) -> bool:
    """Whether the process group must be a CPU one (gloo): ``ACCELERATE_USE_CPU`` (what ``accelerate launch
    --cpu`` / ``ACCELERATE_USE_CPU=true`` set), ``--device cpu``, or several processes on a machine without CUDA."""
    import torch
    from accelerate.utils import parse_flag_from_env

    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return parse_flag_from_env("ACCELERATE_USE_CPU") or device == "cpu" or (several and not torch.cuda.is_available())


def resolve_device(device: str, state: Any) -> str:
    """``device``, or for ``"auto"`` the device ``accelerate`` gave this process (``state.device``)."""
    if device != "auto":
        return device
    return str(state.device)


def load_model(model_id: str | None, device: str, dtype: str) -> tuple[Any, Any, str]:
    """``(model, tokenizer, dtype name)``: the embedded guard for ``None``, else a Hub id or local path."""
    import torch

    if dtype == "auto":
        dtype = "bfloat16" if str(device).startswith("cuda") else "float32"
    torch_dtype = getattr(torch, dtype)
    if model_id is None:
        from .default_model import load_default

        model, tokenizer = load_default(device=device, dtype=torch_dtype)
        return model, tokenizer, dtype
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_id, padding_side="left")
    # a guard published as an image-text model (Llama Guard 4: Llama4ForConditionalGeneration) loads as itself
    config = AutoConfig.from_pretrained(model_id)
    image_text = getattr(config, "vision_config", None) is not None and any(
        a.endswith("ForConditionalGeneration") for a in getattr(config, "architectures", None) or []
    )
    auto = AutoModelForImageTextToText if image_text else AutoModelForCausalLM
    model = auto.from_pretrained(model_id, dtype=torch_dtype).to(device).eval()
    if getattr(model.generation_config, "eos_token_id", None) is None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer, dtype


def cpu_threads(model: Any, threads: int | None, processes: int) -> int:
    """Intra-op threads on CPU: ``threads`` if given; 1 for a small model (under 100M parameters,
    where thread overhead outweighs the work); else the cores shared among the processes."""
    if threads is not None:
        return threads
    if sum(p.numel() for p in model.parameters()) < 100_000_000:
        return 1
    return max(1, (os.cpu_count() or 1) // processes)


def taxonomy_for_model(model_id: str | None, taxonomy: int | None) -> int:
    """The Llama Guard taxonomy of a run: ``taxonomy`` if given, 2 for a model id naming Guard 2, else 3.

    >>> taxonomy_for_model("meta-llama/Meta-Llama-Guard-2-8B", None), taxonomy_for_model(None, None)
    (2, 3)
    """
    if taxonomy is not None:
        return taxonomy
    return 2 if model_id is not None and "guard-2" in model_id.lower() else 3
