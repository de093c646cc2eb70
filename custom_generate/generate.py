"""marginal-generate as a Hub decoding method: per-label probabilities from ``model.generate``.

This folder is transformers' ``custom_generate`` layout: once the repository is on the Hub,

    out = model.generate(**inputs, custom_generate="<user>/marginal-generate", trust_remote_code=True,
                         tokenizer=tokenizer, strategy="any_place", max_new_tokens=20)

runs :func:`generate` below instead of the usual decoding loop and returns a
``marginal_generate.LabelScores`` (``out.labels``, ``out.probs``, ``out.texts``; for ``any_place``
also ``out.lower``/``out.upper`` and ``out.completions``). A local checkout works the same way
with its path: ``custom_generate="/path/to/marginal-generate"``.

Only this file travels from the Hub: it imports the ``marginal_generate`` package, which must be
installed where it runs (``custom_generate/requirements.txt`` lists it; transformers checks those
requirements before running the file and names what is missing).

transformers hands a Hub decoding method the arguments of ``generate`` as the caller wrote them,
so this function resolves them itself: generation-config fields passed to ``generate``
(``max_new_tokens``, ``eos_token_id``, ...) update a copy of ``generation_config`` (default the
model's), the rest are model inputs. ``top_p`` is the output tree's nucleus (as in
``mg.marginalize``), not a sampling setting. Logits processors that ``generate`` would build from
the generation config (repetition penalty, ...) are not built here; pass any you want applied in
``logits_processor``.
"""

from __future__ import annotations

import copy
from typing import Any

from transformers import LogitsProcessorList

import marginal_generate as mg
from marginal_generate.decoding.eos import eos_ids

__all__ = ["generate"]

_UNSUPPORTED = ("prefix_allowed_tokens_fn", "assistant_model", "negative_prompt_ids", "negative_prompt_attention_mask")


def generate(
    model: Any,
    input_ids: Any = None,
    attention_mask: Any = None,
    *,
    inputs: Any = None,
    tokenizer: Any = None,
    label_space: Any = None,
    strategy: str = "any_place",
    eps: float = 0.01,
    top_p: float = 0.99,
    label_normalization: str = "label_tokens",
    top_completions: int = 10,
    attention: str = "auto",
    estimate: str = "best",
    search_budget_gb: float | None = None,
    max_label_sets: int = 32,
    generation_config: Any = None,
    logits_processor: Any = None,
    stopping_criteria: Any = None,
    streamer: Any = None,
    synced_gpus: Any = None,
    **kwargs: Any,
) -> mg.LabelScores:
    """Per-label probabilities of each prompt in the batch, as ``mg.marginalize`` computes them.

    Args:
        model: the guard model (transformers passes it).
        input_ids, attention_mask (or ``inputs``): the left-padded prompts, as for ``generate``.
        tokenizer: the model's tokenizer; the label space is then ``mg.LabelSpace.llama_guard(tokenizer)``.
        label_space: a ``mg.LabelSpace`` to use instead (e.g. other categories); wins over ``tokenizer``.
        strategy, eps, top_p, label_normalization, top_completions, attention, estimate, search_budget_gb,
            max_label_sets: as in ``mg.marginalize``.

    Raises:
        ValueError: with neither ``tokenizer`` nor ``label_space``, without prompts, or for
            ``generate`` arguments this method cannot honour (assistant model, prefix function,
            negative prompt).
    """
    if label_space is None:
        if tokenizer is None:
            raise ValueError(
                "marginal-generate's custom_generate needs `tokenizer=` (it then builds "
                "mg.LabelSpace.llama_guard(tokenizer)) or `label_space=`; pass one of them to model.generate."
            )
        label_space = mg.LabelSpace.llama_guard(tokenizer)
    ids = input_ids if input_ids is not None else inputs
    if ids is None:
        raise ValueError(
            "marginal-generate's custom_generate needs the prompts: pass **tokenizer(..., return_tensors='pt')."
        )
    for name in _UNSUPPORTED:
        if kwargs.pop(name, None) is not None:
            raise ValueError(f"`{name}` is not supported by marginal-generate's custom_generate; leave it unset.")
    config = copy.deepcopy(generation_config if generation_config is not None else model.generation_config)
    model_kwargs = config.update(**kwargs)  # generation-config fields update the copy; the rest are model inputs
    # the one lookup of the end-of-sequence ids: generate's eos_token_id=, the model's config, then the tokenizer's
    config.eos_token_id = sorted(eos_ids(generation_config=config, tokenizer=tokenizer))
    if logits_processor is not None and not isinstance(logits_processor, LogitsProcessorList):
        logits_processor = LogitsProcessorList(logits_processor)
    return mg.marginalize(
        model,
        ids,
        logits_processor=logits_processor,
        stopping_criteria=stopping_criteria,
        generation_config=config,
        synced_gpus=bool(synced_gpus),
        streamer=streamer,
        label_space=label_space,
        strategy=strategy,
        eps=eps,
        top_p=top_p,
        label_normalization=label_normalization,
        top_completions=top_completions,
        attention=attention,
        estimate=estimate,
        search_budget_gb=search_budget_gb,
        max_label_sets=max_label_sets,
        attention_mask=attention_mask,
        **model_kwargs,
    )
