"""A planted reasoning guard: a tiny Llama that thinks in a ``<think>`` block, then writes a Llama Guard verdict.

Its logits are replaced by a table keyed by (position, previous token), -inf outside each row, so its weights play no
part. After a prompt of ``length`` tokens (``<bos>`` each) it writes ``<think`` and then one of two traces,
``>a</think>\\n\\n`` (probability ``pa``) or ``>bbb</think>\\n\\n`` (``1 - pa``), the closing tag split over the
tokens ``</``, ``think``, ``>\\n\\n`` (the last one ends the tag and writes the blank line). The traces end at
different positions, so each has its own verdict row: ``unsafe`` with probability ``u`` or ``safe``, then the
categories of :data:`REASONING_VERDICT` (``S`` + ``1``/``2``/``3``, separated by commas, EOS).

>>> import torch
>>> tok, model = planted_reasoning_guard()
>>> ids = torch.tensor([[tok.bos_token_id]])
>>> tok.decode(model.generate(input_ids=ids, max_new_tokens=10, do_sample=False)[0, 1:], skip_special_tokens=True)
'<think>a</think>\\n\\nunsafe\\nS1'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .models import tiny_llama
from .tokenizers import byte_level_tokenizer, guard_corpus

__all__ = ["REASONING_PLAN", "REASONING_PIECES", "REASONING_VERDICT", "planted_reasoning_guard"]

#: The two traces' tokens, by name.
REASONING_PIECES: dict[str, tuple[str, ...]] = {
    "a": ("<think", ">a", "</", "think", ">\n\n"),
    "b": ("<think", ">bb", "b", "</", "think", ">\n\n"),
}
#: Per prompt: (its length in tokens, pa, u after trace a, u after trace b).
REASONING_PLAN: tuple[tuple[int, float, float, float], ...] = ((1, 0.7, 0.8, 0.3), (3, 0.2, 0.6, 0.1))
#: The verdict's bigrams after ``unsafe``.
REASONING_VERDICT: dict[str, dict[str, float]] = {
    "unsafe": {"\n": 0.8, "<eos>": 0.2},
    "\n": {"S": 1.0},
    "S": {"1": 0.5, "2": 0.3, "3": 0.2},
    **{d: {",": 0.4, "<eos>": 0.6} for d in ("1", "2", "3")},
    ",": {"S": 1.0},
    "safe": {"<eos>": 1.0},
}
_POSITIONS = 48


def planted_reasoning_guard(plan: Sequence[tuple[int, float, float, float]] = REASONING_PLAN) -> tuple[object, object]:
    """``(tokenizer, model)``, float64; ``plan`` as :data:`REASONING_PLAN` (prompt lengths distinct and a few apart,
    so that no two planted rows share a (position, previous token))."""
    traces = ["".join(p) for p in REASONING_PIECES.values()]
    tok = byte_level_tokenizer(guard_corpus() + [traces[0] + "unsafe\nS1", traces[1] + "safe", "S2,S3"] * 3, 80)

    def tid(text: str) -> int:
        if text in ("<eos>", "<bos>"):
            return tok.eos_token_id if text == "<eos>" else tok.bos_token_id
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"the planted reasoning guard needs {text!r} to be one token, got {ids}.")
        return ids[0]

    vocab = len(tok)
    table = torch.full((_POSITIONS, vocab, vocab), -math.inf, dtype=torch.float64)
    table[:, :, tok.eos_token_id] = 0.0  # an unplanned row ends the answer
    for prev, row in REASONING_VERDICT.items():
        table[:, tid(prev)] = -math.inf
        for text, p in row.items():
            table[:, tid(prev), tid(text)] = math.log(p)
    planned: set[tuple[int, int]] = set()

    def put(pos: int, prev: str, row: dict[str, float]) -> None:
        key = (pos, tid(prev))
        if key in planned:
            raise ValueError(f"`plan` plants two rows at position {pos} after {prev!r}; space the prompt lengths out.")
        planned.add(key)
        table[key] = -math.inf
        for text, p in row.items():
            table[key][tid(text)] = math.log(p)

    for length, pa, u_a, u_b in plan:
        s = length - 1  # the prompt's last position
        put(s, "<bos>", {"<think": 1.0})
        put(s + 1, "<think", {">a": pa, ">bb": 1 - pa})
        for trace, u in ((REASONING_PIECES["a"], u_a), (REASONING_PIECES["b"], u_b)):
            for k in range(1, len(trace) - 1):
                put(s + 1 + k, trace[k], {trace[k + 1]: 1.0})
            put(s + len(trace), trace[-1], {"unsafe": u, "safe": 1 - u})
    model = tiny_llama(tok, hidden_size=8, num_layers=1, dtype=torch.float64)

    def replace(_module: torch.nn.Module, args: tuple, kwargs: dict, output: object) -> object:
        ids = kwargs["input_ids"]
        n = output.logits.shape[1]  # type: ignore[attr-defined]
        positions = kwargs.get("position_ids")
        if positions is None:
            positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        output.logits = table.to(ids.device)[positions[:, -n:].clamp(0, _POSITIONS - 1), ids[:, -n:]]  # type: ignore[attr-defined]
        return output

    model.register_forward_hook(replace, with_kwargs=True)
    return tok, model
