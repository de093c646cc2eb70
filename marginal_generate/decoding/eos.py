"""The ids that end a completion, looked up in one place for every entry point.

Order: the ids passed explicitly, else the generation config of the call, else the model's generation config, else
the tokenizer's ``eos_token_id``. The model's generation config comes before the tokenizer because instruct models
end on more than one id there (Llama 3 lists ``<|end_of_text|>``, ``<|eom_id|>`` and ``<|eot_id|>``) while their
tokenizer names one.

>>> from types import SimpleNamespace as NS
>>> model = NS(generation_config=NS(eos_token_id=[128001, 128008, 128009]))
>>> sorted(eos_ids(model=model, tokenizer=NS(eos_token_id=128009)))
[128001, 128008, 128009]
>>> eos_ids(7, model=model)
{7}
>>> eos_ids(tokenizer=NS(eos_token_id=2))
{2}

Every message names the caller's own argument (``name``), so a user reads the word they wrote:

>>> eos_ids([-1], name="eos_token_ids")
Traceback (most recent call last):
...
ValueError: `eos_token_ids` must be a token id >= 0 or a list of them, got [-1].
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["eos_ids"]


def eos_ids(
    explicit: int | list[int] | tuple[int, ...] | set[int] | torch.Tensor | None = None,
    *,
    name: str = "eos_token_id",
    generation_config: Any = None,
    model: Any = None,
    tokenizer: Any = None,
) -> set[int]:
    """The end-of-sequence ids: ``explicit``, else ``generation_config``'s, else ``model.generation_config``'s,
    else ``tokenizer.eos_token_id``.

    ``name`` is the caller's name of ``explicit`` (``score`` takes ``eos_token_ids``, the logits processor and
    ``generate`` ``eos_token_id``): the messages name it.

    Raises:
        ValueError: when none of them names an id (a completion could never end; the message says what to set), or
            when the ids found are not integers >= 0.
    """
    sources: list[tuple[str, Any]] = [(name, explicit)]
    if generation_config is not None:
        sources.append(("generation_config.eos_token_id", getattr(generation_config, "eos_token_id", None)))
    if model is not None:
        config = getattr(model, "generation_config", None)
        sources.append(("model.generation_config.eos_token_id", getattr(config, "eos_token_id", None)))
    if tokenizer is not None:
        sources.append(("tokenizer.eos_token_id", getattr(tokenizer, "eos_token_id", None)))
    for source, value in sources:
        if value is None:
            continue
        if isinstance(value, torch.Tensor):
            value = value.tolist()
        values = [value] if isinstance(value, int) else list(value) if isinstance(value, (list, tuple, set)) else []
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            raise ValueError(f"`{source}` must be a token id >= 0 or a list of them, got {value!r}.")
        return {int(v) for v in values}
    looked = [source for source, _ in sources[1:]]
    raise ValueError(
        "no end-of-sequence id ("
        + (" and ".join(looked) + (" is" if len(looked) == 1 else " are") + " None" if looked else "none given")
        + "), so a completion could never end; set model.generation_config.eos_token_id (e.g. to "
        f"tokenizer.eos_token_id) or pass {name}=."
    )
