"""The real Llama 3 and Llama 4 tokenizers, converted from Meta's ``tokenizer.model`` files (``llama-models``) once
and kept under :func:`cache_dir`."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

__all__ = ["LLAMA_MODELS_HINT", "cache_dir", "llama3_tokenizer", "llama4_tokenizer"]

LLAMA_MODELS_HINT = "the real Llama tokenizers come from Meta's llama-models package: pip install llama-models tiktoken"

# family -> (Meta's tokenizer module, bos, eos, pad): the tokens the Hub's tokenizer configs name.
_META = {
    "llama3": ("llama_models.llama3.tokenizer", "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>"),
    "llama4": ("llama_models.llama4.tokenizer", "<|begin_of_text|>", "<|eot|>", "<|finetune_right_pad|>"),
}


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where files that can be rebuilt (the converted Llama tokenizers) are kept.

    ``$MARGINAL_GENERATE_CACHE`` if set, else ``marginal-generate`` in the user cache folder:
    ``$XDG_CACHE_HOME``, else ``~/.cache`` (where huggingface_hub keeps its own). The hyphen matters:
    a folder named like the package (``marginal_generate``, as under the temp folder before) is
    imported instead of the package by Python started in the folder that holds it.

    >>> cache_dir({"XDG_CACHE_HOME": "/var/cache"}).as_posix()
    '/var/cache/marginal-generate'
    >>> cache_dir({"MARGINAL_GENERATE_CACHE": "/data/mg", "XDG_CACHE_HOME": "/var/cache"}).as_posix()
    '/data/mg'
    >>> cache_dir({}) == Path.home() / ".cache" / "marginal-generate"
    True
    """
    env = os.environ if environ is None else environ
    if env.get("MARGINAL_GENERATE_CACHE"):
        return Path(env["MARGINAL_GENERATE_CACHE"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "marginal-generate"


def _meta_tokenizer(family: str) -> PreTrainedTokenizerFast:
    """Meta's ``tokenizer.model`` of ``family`` as a fast tokenizer, converted once and kept on disk.

    The conversion (``TikTokenConverter``: BPE merges from the ranks, Meta's split pattern, byte-level
    pieces, then Meta's special tokens in Meta's order, so at Meta's ids) takes 10–20 s; the
    ``tokenizer.json`` it produces is kept under :func:`cache_dir` per llama-models and transformers
    version, and loads in about a second. Where the cache cannot be written the tokenizer is built anyway.
    """
    import importlib
    import importlib.metadata

    import transformers
    from tokenizers import processors

    module_name, bos, eos, pad = _META[family]
    try:
        meta_module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"{family}_tokenizer() needs {LLAMA_MODELS_HINT}") from err
    model_file = Path(meta_module.__file__).parent / "tokenizer.model"
    version = importlib.metadata.version("llama-models")
    saved = cache_dir() / f"{family}-llama_models-{version}-transformers-{transformers.__version__}" / "tokenizer.json"
    meta = meta_module.Tokenizer(model_file)
    if saved.exists():
        inner = Tokenizer.from_file(str(saved))
    else:
        from transformers.convert_slow_tokenizer import TikTokenConverter

        inner = TikTokenConverter(
            vocab_file=str(model_file), pattern=meta.model._pat_str, extra_special_tokens=meta.special_tokens
        ).converted()
        # like the Hub's Llama tokenizers: BOS in front when special tokens are added
        inner.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, meta.special_tokens[bos])]
                ),
            ]
        )
        try:
            saved.parent.mkdir(parents=True, exist_ok=True)
            partial = saved.with_name(f"tokenizer.json.tmp{os.getpid()}")
            inner.save(str(partial))
            os.replace(partial, saved)
        except OSError:  # a read-only home: build it again next time
            pass
    tok = PreTrainedTokenizerFast(
        tokenizer_object=inner, bos_token=bos, eos_token=eos, pad_token=pad, clean_up_tokenization_spaces=False
    )
    tok.padding_side = "left"
    for token, token_id in (("bos", bos), ("eos", eos), ("pad", pad)):
        if tok.convert_tokens_to_ids(token_id) != meta.special_tokens[token_id]:  # pragma: no cover - a broken cache
            raise RuntimeError(f"{family} {token} token {token_id} is not at Meta's id; delete {saved} and retry.")
    return tok


@functools.lru_cache(maxsize=None)
def llama3_tokenizer() -> PreTrainedTokenizerFast:
    """The Llama 3 tokenizer (128,256 tokens; ``<|begin_of_text|>`` 128000, ``<|eot_id|>`` 128009 the EOS).

    Built once per process from ``llama_models/llama3/tokenizer.model``; raises ``ImportError``
    with the install command when ``llama-models`` is missing.
    """
    return _meta_tokenizer("llama3")


@functools.lru_cache(maxsize=None)
def llama4_tokenizer() -> PreTrainedTokenizerFast:
    """The Llama 4 tokenizer (202,048 tokens; ``<|begin_of_text|>`` 200000, ``<|eot|>`` 200008 the EOS)."""
    return _meta_tokenizer("llama4")
