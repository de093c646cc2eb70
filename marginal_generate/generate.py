"""Marginalization inside ``model.generate``: the ``custom_generate`` callable and the flag form.

Callable form (transformers >= 5 passes the keyword arguments a ``custom_generate`` callable
names in its signature through to it; it passes no tokenizer, so everything comes through
``label_space``)::

    out = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space,
                         strategy="any_place", eps=0.01, top_p=0.99, max_new_tokens=20)

Flag form: ``mg.enable(model)`` (or a model class with :class:`MarginalGenerationMixin`), then
``model.generate(**inputs, marginalize="any_place", label_space=space)``; without the flag,
``generate`` is unchanged.

Strategies (one greedy decode serves all but ``any_place``, which adds the tree search):

- ``greedy``: 1.0 for each label the parser reads in the greedy completion, else 0.0.
- ``first_token``: p(unsafe) as the softmax over the verbalizer tokens {safe, unsafe} at the
  step where the greedy answer's first word starts (after the blank line Llama Guard 3 writes);
  categories NaN.
- ``token_probability``: product of the probabilities of the greedy tokens covering the label;
  0.0 if the greedy completion has no such label.
- ``fixed_place``: product of the greedy path's token probabilities up to and including the
  label's last token.
- ``any_place``: P(label in the completion's label set), summed over the output tree cut by a
  per-step nucleus ``top_p`` and a prefix floor ``eps``; ``lower``/``upper`` bound the exact value
  and with eps=0 and top_p=1 they meet. ``probs`` is, with ``estimate="best"`` (the default), the
  best estimate between them (the mass the cuts dropped placed by what the search knows at the
  cut, see :mod:`~marginal_generate.decoding.estimate`), or with ``estimate="lower"`` the lower
  bound; ``LabelScores.estimate`` records which.
- ``max_over_generations``: at each greedy step where a category id starts, a distribution over
  the ids (restricted softmax over their distinguishing tokens, or with
  ``label_normalization="vocab"`` the full-vocabulary probability of exactly that id and a
  delimiter, given the ids' shared leading tokens); a category's score is its max over those steps.
  ``first_generation``: the first such step of each slot only (one slot for Llama Guard's ids and label lists;
  one per field of a multi-field answer, each read where its own value starts).

Two more strategies prompt the model once per label instead (``per_category_prompt`` and
``unary``); they need the conversation, so they live in :func:`marginal_generate.prompted.score_label_prompts`.

>>> import torch, marginal_generate as mg
>>> from marginal_generate.testing import byte_level_tokenizer, tiny_llama
>>> tok = byte_level_tokenizer(); model = tiny_llama(tok, seed=0)
>>> space = mg.LabelSpace.llama_guard(tok)
>>> inputs = tok(["User: hello there"], return_tensors="pt")
>>> out = model.generate(**inputs, custom_generate=mg.marginalize, label_space=space,
...                      strategy="any_place", eps=0.01, top_p=0.99, max_new_tokens=6)
>>> out.labels[:3], tuple(out.probs.shape)
(('unsafe', 'S1', 'S2'), (1, 15))
>>> bool(((out.lower <= out.probs) & (out.probs <= out.upper)).all())
True
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Literal, get_args

import torch
from transformers import GenerationConfig, LogitsProcessorList

from .decoding.budget import SearchBudget
from .decoding.eos import eos_ids
from .decoding.estimate import Estimate, EstimateParams, check_estimate, grammar_estimate
from .decoding.greedy_path import GreedyRecorder
from .decoding.joint import JointAccumulator, check_max_label_sets
from .decoding.next_tokens import NextTokenBackend
from .decoding.search import TreeParams, run_search
from .decoding.stepper import CachedStepper
from .decoding.tree_stepper import TreeAttentionStepper, tree_attention_obstacle
from .garbage_collection import collection_paused
from .inputs import check_inputs
from .labels.space import LabelSpace
from .scores import LabelScores
from .strategies import PROMPTED_STRATEGIES, STRATEGIES, Strategy, check_search_param

__all__ = ["Strategy", "STRATEGIES", "marginalize", "score", "enable", "MarginalGenerationMixin"]

LabelNormalization = Literal["label_tokens", "vocab"]
Attention = Literal["auto", "tree", "batched"]
#: What ``backend=`` takes: ``(input_ids, attention_mask) -> NextTokenBackend``, called once per batch.
BackendFactory = Callable[[torch.Tensor, "torch.Tensor | None"], NextTokenBackend]

logger = logging.getLogger(__name__)

# Inputs that `generate` prepares for its own loops; the stepper builds its own.
_GENERATE_OWNED = (
    "attention_mask",
    "position_ids",
    "past_key_values",
    "cache",
    "use_cache",
    "logits_to_keep",
    "cache_position",
)


def _check_strategies(strategies: list[str]) -> None:
    for s in strategies:
        if s in PROMPTED_STRATEGIES:
            raise ValueError(
                f"strategy {s!r} prompts the model once per label, so it needs the conversation and the tokenizer, "
                f"not a rendered prompt: use mg.score_label_prompts(model, tokenizer, conversations, {s!r})."
            )
        if s not in STRATEGIES:
            raise ValueError(f"`strategy` must be one of {list(STRATEGIES)}, got {s!r}.")


def _check_params(eps: float, top_p: float, max_new_tokens: int | None, label_normalization: str) -> None:
    check_search_param("eps", eps)
    check_search_param("top_p", top_p)
    check_search_param("max_new_tokens", max_new_tokens)
    if label_normalization not in get_args(LabelNormalization):
        raise ValueError(
            f"`label_normalization` must be one of {list(get_args(LabelNormalization))}, got {label_normalization!r}."
        )


def _choose_attention(model: Any, attention: str) -> tuple[type[CachedStepper], str | None]:
    """The stepper for ``attention``, and why ``auto`` did not take tree attention where that is the model's doing."""
    if attention not in get_args(Attention):
        raise ValueError(f"`attention` must be one of {list(get_args(Attention))}, got {attention!r}.")
    obstacle = tree_attention_obstacle(model)
    if attention == "tree" and obstacle is not None:
        raise ValueError(
            f"`attention='tree'` needs sdpa or eager attention over full-attention layers; {obstacle}. "
            "Use attention='batched', or load the model with attn_implementation='sdpa'."
        )
    if attention == "auto":
        # On a GPU decoding is bound by reading the weights and the prompt cache: tree attention reads the
        # prompt cache once whatever the frontier. On a CPU compute grows with the tokens fed, and the
        # tree pads every prompt's frontier to the widest one (about 3x the rows at eps=0.01, top_p=0.99 on the
        # shipped model), which costs more than copying cache rows. Measured 2026-12-06 on a shared CPU at that cut
        # (benchmarks/stepper_ab.py --replay: one search's steps replayed through each stepper), tree attention
        # against the batched cache (rows in slots): 1.42x (one thread) and 1.37x (two) on the shipped model, 1.52x
        # on a 2-layer Llama over the real Llama 3 vocabulary; any_place end to end 1.16x (one thread).
        on_gpu = getattr(getattr(model, "device", None), "type", "cpu") != "cpu"
        if obstacle is not None:
            reason = f"attention='auto' runs the batched cache: tree attention cannot serve this model ({obstacle})"
            logger.info(reason)
            return CachedStepper, reason
        return (TreeAttentionStepper if on_gpu else CachedStepper), None
    return (TreeAttentionStepper if attention == "tree" else CachedStepper), None


# what score reads of the backend a factory returns (NextTokenBackend's members)
_BACKEND_MEMBERS = ("prefill", "expand", "name", "batch_size", "forward_passes", "max_k", "whole_rows")


def _built_backend(
    factory: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    attention: str,
    logits_processor: LogitsProcessorList | None,
    model_kwargs: dict[str, Any],
) -> NextTokenBackend:
    """The backend ``factory`` builds over the batch, after refusing what only the HF steppers use; the search
    refuses the strategies it cannot give (:func:`~marginal_generate.decoding.next_tokens.check_backend`)."""
    if not callable(factory):
        raise ValueError(
            f"`backend` must be a callable (input_ids, attention_mask) -> NextTokenBackend, got "
            f"{type(factory).__name__}; pass e.g. TopKEngineBackend.factory(model, max_k=20), or None for the HF "
            "steppers."
        )
    if attention != "auto":
        raise ValueError(
            f"`attention={attention!r}` picks how the HF steppers share the prompt cache, and `backend` replaces "
            "them: leave attention='auto' with a backend, or pass backend=None."
        )
    if logits_processor:
        raise ValueError(
            "`logits_processor` runs on the HF steppers' whole rows, and `backend` replaces them: leave it out, or "
            "build it into the backend (StepperBackend(stepper, logits_processor) has whole rows)."
        )
    if model_kwargs:
        raise ValueError(
            f"model inputs {sorted(model_kwargs)} go to the HF steppers, and `backend` replaces them: give them to "
            "the backend's factory, or pass backend=None."
        )
    built = factory(input_ids, attention_mask)
    missing = [m for m in _BACKEND_MEMBERS if not hasattr(built, m)]
    if missing:
        raise ValueError(
            f"`backend` returned {type(built).__name__}, not a NextTokenBackend (no {', '.join(missing)}); the "
            "factory must return e.g. a StepperBackend or a TopKEngineBackend over the input_ids it is given."
        )
    if built.batch_size != input_ids.shape[0]:
        raise ValueError(
            f"`backend` returned {built.name} over {built.batch_size} prompts for a batch of {input_ids.shape[0]}; "
            "the factory must build it over the input_ids it is given."
        )
    return built


def _text_model(model: Any, model_kwargs: dict[str, Any]) -> Any:
    """The module to run for text-only input: a multimodal wrapper's language model when it is a causal LM of
    its own (``Llama4ForConditionalGeneration.language_model``, a ``Llama4ForCausalLM`` sharing the wrapper's
    embeddings and head), else ``model``. The wrapper's forward only embeds the ids and calls it when no image
    is given; going to it directly skips the vision path (and, in transformers 5.24, a wrapper forward that
    fails building its output for text-only input)."""
    if any("pixel" in k or "image" in k for k in model_kwargs):
        return model
    inner = getattr(model, "language_model", None)
    if inner is None or inner is model or not callable(getattr(inner, "get_output_embeddings", None)):
        return model
    if inner.get_output_embeddings() is None or inner.get_input_embeddings() is not model.get_input_embeddings():
        return model
    return inner


@torch.no_grad()
@collection_paused()  # the search frees all it allocates by reference counting (garbage_collection.py)
def score(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    label_space: LabelSpace,
    strategies: list[str] | tuple[str, ...] = ("any_place",),
    *,
    max_new_tokens: int = 20,
    top_p: float = 0.99,
    eps: float = 0.01,
    label_normalization: LabelNormalization = "label_tokens",
    eos_token_ids: set[int] | None = None,
    logits_processor: LogitsProcessorList | None = None,
    top_completions: int = 10,
    attention: Attention = "auto",
    estimate: Estimate = "best",
    search_budget_gb: float | None = None,
    max_label_sets: int = 32,
    model_kwargs: dict[str, Any] | None = None,
    backend: BackendFactory | None = None,
) -> dict[str, LabelScores]:
    """Score a left-padded batch under several strategies with one decode (plus the tree if ``any_place``).

    The batched loop behind :func:`marginalize`; the evaluation runner calls it directly to get
    every strategy from one pass. ``attention`` picks how the rows of a prompt share its KV
    cache: ``"tree"`` (one sequence per prompt with a tree mask, see
    :mod:`~marginal_generate.decoding.tree_stepper`), ``"batched"`` (one cache row per decoding
    row), or ``"auto"`` (tree on an accelerator where the model supports it, batched on a CPU).
    ``estimate`` picks what ``any_place``'s ``probs`` holds: ``"best"`` (the estimate between the
    bounds) or ``"lower"`` (the lower bound; the search then skips the estimate's work).

    ``search_budget_gb``: the memory ``any_place``'s tree search may hold, in GB (1e9 bytes; ``math.inf``: no
    limit); None (the default) is the memory free on the model's device when the search starts. Each depth is
    estimated before it is expanded (logits and their expansion per frontier row, the KV cache, the prefixes read;
    :mod:`~marginal_generate.decoding.budget`), and a depth past the budget raises ``SearchBudgetError`` (a
    ``ValueError``) naming the size, the budget, the sample of the batch that holds most of it and what to change,
    before the memory is allocated: ``eps=0, top_p=1`` on a large vocabulary is refused within a few new tokens.
    ``stats["search_estimate_gb"]`` gives the largest estimate of a run, ``stats["search_budget_gb"]`` its budget.

    ``max_label_sets``: ``any_place`` keeps the distribution over label sets (``LabelScores.label_sets``,
    ``prob_any``, ``prob_all``, ``cooccurrence``: :mod:`~marginal_generate.label_sets`), the heaviest
    ``max_label_sets`` sets per prompt by name and the rest folded into one entry; 0 keeps none.

    ``backend``: what the search runs the model through (:mod:`~marginal_generate.decoding.next_tokens`), as a
    factory ``(input_ids, attention_mask) -> NextTokenBackend`` called once for the batch, e.g. an engine that serves
    at scale, or :meth:`~marginal_generate.testing.engine_backend.TopKEngineBackend.factory`, the reference one;
    None (the default): the HF steppers. ``attention``, ``logits_processor`` and ``model_kwargs`` belong to the HF
    steppers and are refused with a backend; a backend with only the top k of a row refuses ``first_token``,
    ``max_over_generations``, ``first_generation`` and ``label_normalization="vocab"`` before any forward.
    ``stats["backend"]`` names it: its class and ``max_k``.
    """
    strategies = list(strategies)
    _check_strategies(strategies)
    _check_params(eps, top_p, max_new_tokens, label_normalization)
    check_inputs(model, input_ids, attention_mask, max_new_tokens)
    check_estimate(estimate)
    check_max_label_sets(max_label_sets)
    budget = SearchBudget.of(search_budget_gb, getattr(model, "device", None))  # checks search_budget_gb too
    if not isinstance(label_space, LabelSpace):
        raise ValueError(
            f"`label_space` must be a marginal_generate.LabelSpace, got {type(label_space).__name__}; "
            "build one with mg.LabelSpace.llama_guard(tokenizer) (generate passes no tokenizer to custom_generate)."
        )
    for s in strategies:
        label_space.check_strategy(s)
    estimate = grammar_estimate(label_space, estimate)  # "best" is the lower bound on a grammar that says so
    if input_ids.ndim != 2:
        raise ValueError(f"`input_ids` must be [batch, length], got shape {tuple(input_ids.shape)}.")
    eos = eos_ids(eos_token_ids, name="eos_token_ids", model=model)
    model_kwargs = dict(model_kwargs or {})
    if backend is None:
        model = _text_model(model, model_kwargs)
        stepper_class, attention_note = _choose_attention(model, attention)
        source: Any = stepper_class(model, input_ids, attention_mask, **model_kwargs)
        stats: dict[str, Any] = {"attention": "tree" if stepper_class is TreeAttentionStepper else "batched"}
    else:
        source = _built_backend(backend, input_ids, attention_mask, attention, logits_processor, model_kwargs)
        stats, attention_note = {"backend": f"{type(source).__name__}(max_k={source.max_k})"}, None
    recorder = GreedyRecorder(
        label_space, input_ids.shape[0], eos, normalization=label_normalization, strategies=strategies
    )
    tree = None
    if "any_place" in strategies:
        tree = TreeParams(top_p=float(top_p), eps=float(eps), estimate=EstimateParams() if estimate == "best" else None)
    joint = None
    if tree is not None and max_label_sets > 0:
        joint = JointAccumulator(label_space.labels, label_space.categories, input_ids.shape[0], max_label_sets)
    result = run_search(
        source,
        label_space,
        eos,
        max_new_tokens,
        tree,
        recorder,
        logits_processor,
        top_completions,
        budget=budget,
        joint=joint,
        strategies=strategies,
    )
    texts = recorder.texts()
    if isinstance(source, TreeAttentionStepper) and source.chunked_steps:
        attention_note = (
            f"tree attention fed {source.chunked_steps} depth{'s' if source.chunked_steps > 1 else ''} in up to "
            f"{source.most_chunks} forwards each, to keep a forward's mask and attention scores under "
            f"{source.attention_bytes / 1e9:g} GB"
        )
    stats = {
        **stats,
        **({"attention_note": attention_note} if attention_note else {}),
        "forward_passes": source.forward_passes,
        "frontier_widths": result.frontier_widths,
        "nodes_expanded": result.nodes_expanded,
    }
    out = {}
    for s in strategies:
        if s == "any_place":
            out[s] = LabelScores(
                labels=label_space.labels,
                probs=result.estimate if result.estimate is not None else result.lower.clone(),
                texts=texts,
                strategy=s,
                lower=result.lower,
                upper=result.upper,
                completions=result.completions,
                estimate=estimate,
                joint=joint.finish() if joint is not None else None,
                stats=dict(
                    stats,
                    top_p=float(top_p),
                    eps=float(eps),
                    rollouts=result.rollouts,
                    search_estimate_gb=result.memory_estimate / 1e9,
                    search_budget_gb=budget.max_bytes / 1e9,
                ),
            )
        else:
            out[s] = LabelScores(
                labels=label_space.labels, probs=recorder.read(s), texts=texts, strategy=s, stats=dict(stats)
            )
    return out


def marginalize(
    model: Any,
    input_ids: torch.Tensor,
    logits_processor: LogitsProcessorList | None = None,
    stopping_criteria: Any = None,
    generation_config: GenerationConfig | None = None,
    synced_gpus: bool = False,
    streamer: Any = None,
    label_space: LabelSpace | None = None,
    strategy: Strategy = "any_place",
    eps: float = 0.01,
    top_p: float = 0.99,
    label_normalization: LabelNormalization = "label_tokens",
    top_completions: int = 10,
    attention: Attention = "auto",
    estimate: Estimate = "best",
    search_budget_gb: float | None = None,
    max_label_sets: int = 32,
    backend: BackendFactory | None = None,
    **model_kwargs: Any,
) -> LabelScores:
    """``custom_generate`` callable: per-label probabilities for each prompt of the batch.

    ``max_new_tokens`` is read from the generation config, as ``generate`` resolves it.
    ``label_space``, ``strategy``, ``eps``, ``top_p`` (the tree's nucleus, not a sampling setting:
    a model's sampling ``top_p`` in its generation config is not used), ``label_normalization``,
    ``top_completions``, ``attention``, ``estimate`` (what ``any_place``'s ``probs`` holds:
    ``"best"`` or ``"lower"``), ``search_budget_gb`` (the tree search's memory budget, see :func:`score`)
    ``max_label_sets`` (the label sets kept per prompt, see :func:`score`) and ``backend`` (a factory of the
    backend the search runs the model through, see :func:`score`) are this function's own arguments.
    Returns :class:`LabelScores`.
    """
    if label_space is None:
        raise ValueError(
            "marginalize needs `label_space=`: pass label_space=mg.LabelSpace.llama_guard(tokenizer) to generate "
            "(transformers does not hand the tokenizer to a custom_generate callable)."
        )
    _check_strategies([strategy])
    if streamer is not None:
        raise ValueError("`streamer` is not supported by marginalize; its output is a LabelScores, not a token stream.")
    config = generation_config if generation_config is not None else model.generation_config
    max_new_tokens = config.max_new_tokens
    if max_new_tokens is None and config.max_length is not None:
        max_new_tokens = config.max_length - input_ids.shape[1]
    attention_mask = model_kwargs.get("attention_mask")
    extra = {k: v for k, v in model_kwargs.items() if k not in _GENERATE_OWNED}
    return score(
        model,
        input_ids,
        attention_mask,
        label_space,
        [strategy],
        max_new_tokens=max_new_tokens,
        top_p=top_p,
        eps=eps,
        label_normalization=label_normalization,
        eos_token_ids=eos_ids(generation_config=config, model=model),
        logits_processor=logits_processor,
        top_completions=top_completions,
        attention=attention,
        estimate=estimate,
        search_budget_gb=search_budget_gb,
        max_label_sets=max_label_sets,
        model_kwargs=extra,
        backend=backend,
    )[strategy]


def _flagged_generate(generate: Any, args: tuple, marginalize_flag: str | None, kwargs: dict) -> Any:
    if marginalize_flag is None:
        return generate(*args, **kwargs)
    if kwargs.get("custom_generate") is not None:
        raise ValueError("pass either `marginalize=` or `custom_generate=` to generate, not both.")
    _check_strategies([marginalize_flag])
    return generate(*args, custom_generate=marginalize, strategy=marginalize_flag, **kwargs)


def enable(model: Any) -> Any:
    """Give ``model.generate`` the flag ``marginalize=<strategy>``; returns the same model.

    >>> import marginal_generate as mg
    >>> from marginal_generate.testing import word_level_tokenizer, tiny_llama
    >>> tok = word_level_tokenizer(["safe", "unsafe", "S1", ",", "\\n"])
    >>> model = mg.enable(tiny_llama(tok))
    >>> out = model.generate(input_ids=tok(["safe"], return_tensors="pt").input_ids, marginalize="greedy",
    ...                      label_space=mg.LabelSpace(tok, categories=["S1"]), max_new_tokens=3)
    >>> out.strategy
    'greedy'
    """
    if getattr(model, "_marginal_generate_enabled", False):
        return model
    original = model.generate

    @functools.wraps(original)
    def generate(*args: Any, marginalize: str | None = None, **kwargs: Any) -> Any:
        return _flagged_generate(original, args, marginalize, kwargs)

    model.generate = generate
    model._marginal_generate_enabled = True
    return model


class MarginalGenerationMixin:
    """Mix into a model class before the transformers class to get the ``marginalize=`` flag.

    ``class GuardModel(MarginalGenerationMixin, LlamaForCausalLM): pass``
    """

    def generate(self, *args: Any, marginalize: str | None = None, **kwargs: Any) -> Any:
        return _flagged_generate(super().generate, args, marginalize, kwargs)  # type: ignore[misc]
