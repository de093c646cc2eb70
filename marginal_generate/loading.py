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
    "damaged_weights",
    "tokenizer_problem",
    "missing_weights",
    "check_device",
    "check_model_source",
    "hub_offline",
    "is_embedded_model",
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


def check_device(device: str) -> None:
    """``ValueError`` (one line) for a device torch cannot parse or this machine does not have.

    >>> check_device("cpu"), check_device("auto")
    (None, None)
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device 'gpu' is not a torch device; use auto, cpu, cuda, cuda:1 or mps.
    """
    import torch

    if device == "auto":
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device; use auto, cpu, cuda, cuda:1 or mps.") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r}: no CUDA GPU is visible to torch on this "
                "machine (torch.cuda.is_available() is False); "
                "use --device cpu, or auto."
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} "
                "CUDA GPU(s) (cuda:0 …); pick one of them."
            )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r}: MPS is not available on this machine; use --device cpu, or auto.")


def resolve_device(device: str, state: Any) -> str:
    """``device`` (checked by :func:`check_device`), or for ``"auto"`` the device ``accelerate`` gave this process
    (``state.device``)."""
    check_device(device)
    if device != "auto":
        return device
    return str(state.device)


def is_embedded_model(model_id: str | None) -> bool:
    """Whether ``model_id`` names the embedded tiny guard: None, or a path to its folder.

    >>> from marginal_generate.default_model import DEFAULT_MODEL
    >>> (is_embedded_model(None), is_embedded_model(DEFAULT_MODEL + "/"),
    ...     is_embedded_model("meta-llama/Llama-Guard-3-8B"))
    (True, True, False)
    """
    from .default_model import DEFAULT_MODEL

    if model_id is None:
        return True
    return os.path.isdir(model_id) and os.path.samefile(model_id, DEFAULT_MODEL)


def _looks_like_path(model_id: str) -> bool:
    """A local path rather than a Hub id (``org/name`` or ``name``): it starts with ``.``, ``/`` or ``~``, or has
    more than one ``/`` (or a backslash)."""
    return (
        model_id.startswith((".", "/", "~")) or model_id.count("/") > 1 or "\\" in model_id or os.path.isabs(model_id)
    )


def hub_offline(timeout: float = 3.0) -> str | None:
    """Why the Hub cannot be used now, or None: ``HF_HUB_OFFLINE`` is set, or one connection to the endpoint
    (``HF_ENDPOINT``, default huggingface.co) fails within ``timeout`` seconds. Checked once, so an
    offline machine gets a message in seconds instead of minutes of retries."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "offline (HF_HUB_OFFLINE is set)"
    endpoint = urlparse(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError:
        return f"offline ({host} cannot be reached)"


def check_model_source(model_id: str) -> bool:
    """Check that ``model_id`` can be loaded before loading it; returns whether to load from the local cache only.

    A local path must be a folder with a ``config.json``; a Hub id needs the Hub, or the model in the
    local cache when offline. Each problem is one ``ValueError`` that says what to do.
    """
    if os.path.exists(model_id) or _looks_like_path(model_id):
        if not os.path.isdir(model_id):
            what = "is a file, not a folder" if os.path.exists(model_id) else "does not exist"
            raise ValueError(
                f"model path {model_id!r} {what}; pass a folder holding config.json "
                "and the tokenizer (save_pretrained's output), "
                "or a Hub id such as meta-llama/Llama-Guard-3-8B."
            )
        if not os.path.isfile(os.path.join(model_id, "config.json")):
            raise ValueError(
                f"model folder {model_id!r} has no config.json; pass the folder save_pretrained wrote (or a Hub id)."
            )
        return False
    offline = hub_offline()
    if offline is None:
        return False
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model_id, "config.json")
    if not isinstance(cached, str):
        raise ValueError(
            f"{offline}: the model {model_id!r} is not in the local cache; download it where the Hub is reachable "
            f"(hf download {model_id}), or pass a local folder with --model."
        )
    return True


def _load_pretrained(model_id: str, torch_dtype: Any, local_only: bool) -> tuple[Any, Any]:
    """Tokenizer and model of ``model_id``; a loading error becomes one ``ValueError`` line."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, padding_side="left", local_files_only=local_only)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(tokenizer_problem(model_id, err)) from None
    try:
        # a guard published as an image-text model (Llama Guard 4: Llama4ForConditionalGeneration) loads as itself
        config = AutoConfig.from_pretrained(model_id, local_files_only=local_only)
        image_text = getattr(config, "vision_config", None) is not None and any(
            a.endswith("ForConditionalGeneration") for a in getattr(config, "architectures", None) or []
        )
        auto = AutoModelForImageTextToText if image_text else AutoModelForCausalLM
        model = auto.from_pretrained(model_id, dtype=torch_dtype, local_files_only=local_only)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(missing_weights(model_id) or f"cannot load model {model_id!r}: {_first_line(err)}") from None
    except Exception as err:  # noqa: BLE001 - safetensors' SafetensorError derives from Exception only
        if type(err).__name__ != "SafetensorError":
            raise
        raise ValueError(damaged_weights(model_id, err)) from None
    return model, tokenizer


def _first_line(err: Exception) -> str:
    """The first line of ``err``'s message, or all of it on one line when the first ends in a colon (a list
    follows).

    >>> _first_line(OSError("no file named model.safetensors\\nsee the docs"))
    'no file named model.safetensors'
    >>> _first_line(ValueError("from one of:\\n(1) a file,\\n(2) a class"))
    'from one of: (1) a file, (2) a class'
    """
    text = str(err).strip()
    if not text:
        return type(err).__name__
    first = text.splitlines()[0].strip()
    return " ".join(text.split()) if first.endswith(":") else first


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")


def tokenizer_problem(model_id: str, err: Exception) -> str:
    """The one line for a tokenizer that cannot be loaded; a local folder without any tokenizer file is told to
    get one (``model.save_pretrained`` writes the weights and config only).

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> tokenizer_problem(folder, ValueError("Couldn't instantiate the backend tokenizer"))  # doctest: +ELLIPSIS
    "model folder '...' has no tokenizer (none of tokenizer.json, ...); save it there: tokenizer.save_pretrained(...)."
    """
    if os.path.isdir(model_id) and not any(os.path.isfile(os.path.join(model_id, n)) for n in TOKENIZER_FILES):
        return (
            f"model folder {model_id!r} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
            f"save it there: tokenizer.save_pretrained({model_id!r})."
        )
    return f"cannot load model {model_id!r}: {_first_line(err)}"


def missing_weights(model_id: str) -> str | None:
    """The one line for a local folder that holds no weights file, else None.

    >>> import tempfile
    >>> missing_weights(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    "model folder '...' has no weights (no .safetensors or .bin file); save them there: model.save_pretrained(...)."
    """
    if not os.path.isdir(model_id) or any(n.endswith((".safetensors", ".bin")) for n in os.listdir(model_id)):
        return None
    return (
        f"model folder {model_id!r} has no weights (no .safetensors or .bin file); "
        f"save them there: model.save_pretrained({model_id!r})."
    )


def damaged_weights(model_id: str, err: Exception) -> str:
    """The message for weights that safetensors cannot read (a truncated or corrupted file): which file, when
    ``model_id`` is a local folder, and what to do.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "model.safetensors"), "wb") as f:
    ...     _ = f.write(b"\\x00" * 4)
    >>> damaged_weights(folder, RuntimeError("header too small"))  # doctest: +ELLIPSIS
    "cannot load model '...': its weights file .../model.safetensors is damaged or cut short (safetensors: header ...
    """
    reason = " ".join(str(err).split()) or type(err).__name__
    bad = None
    if os.path.isdir(model_id):
        from safetensors import safe_open

        for name in sorted(os.listdir(model_id)):
            if name.endswith(".safetensors"):
                try:
                    with safe_open(os.path.join(model_id, name), framework="pt"):
                        pass
                except Exception:  # noqa: BLE001 - any failure to open it names this file
                    bad = os.path.join(model_id, name)
                    break
    what = f"its weights file {bad}" if bad else "a .safetensors weights file of it"
    fix = "copy or download the model again" if bad else f"download it again (hf download {model_id} --force-download)"
    return f"cannot load model {model_id!r}: {what} is damaged or cut short (safetensors: {reason}); {fix}."


def load_model(model_id: str | None, device: str, dtype: str) -> tuple[Any, Any, str]:
    """``(model, tokenizer, dtype name)``: the embedded guard for ``None``, else a Hub id or local path.

    Problems (a path that does not exist, a Hub id while offline and not cached, a device this
    machine lacks) are one-line ``ValueError``s, raised before anything is loaded.
    """
    import torch

    check_device(device)
    if dtype == "auto":
        dtype = "bfloat16" if str(device).startswith("cuda") else "float32"
    torch_dtype = getattr(torch, dtype)
    if model_id is None:
        from .default_model import load_default

        model, tokenizer = load_default(device=device, dtype=torch_dtype)
        return model, tokenizer, dtype
    model, tokenizer = _load_pretrained(model_id, torch_dtype, check_model_source(model_id))
    model = model.to(device).eval()
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
