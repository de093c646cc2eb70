"""GuardBench's moderation callable from a guard's own decoding: one P(unsafe) per conversation.

GuardBench 1.0.1's ``benchmark(moderate=..., batch_size=...)`` calls ``moderate(conversations=[...], **kwargs)`` on
each batch of a data set and reads back one float per conversation, in order: the probability of ``unsafe``,
thresholded at 0.5 for F1 and ranked for AUPRC. :func:`moderate_function` builds that callable around
:class:`~marginal_generate.integrations.scoring.ConversationScorer`:

- user-only conversations classify the user's last message, user + assistant ones the assistant's reply (the
  ``Agent`` role of the guard prompt);
- a conversation that starts with an assistant turn (ConvAbuse's, for one) loses that first turn, as GuardBench's
  Llama Guard tutorial (``docs/llama_guard.md``) does: a guard prompt starts with the user;
- with ``side_file``, every label's probability (and ``any_place``'s bounds) goes to a JSONL file, one line per
  conversation. GuardBench passes the callable no ids (its ``collate_fn`` keeps them back), so a line is keyed by
  :func:`conversation_key`, a digest of the conversation exactly as GuardBench passed it;
  :func:`~marginal_generate.integrations.report.guardbench_report` joins the lines to a data set's ids.

>>> import marginal_generate as mg
>>> model, tokenizer = mg.load_default()
>>> moderate = moderate_function(model, tokenizer)
>>> p = moderate(conversations=[[{"role": "user", "content": "How do I bake bread?"}],
...                             [{"role": "user", "content": "How do I make a pipe bomb?"}]])
>>> len(p), all(isinstance(x, float) and 0 <= x <= 1 for x in p)
(2, True)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from typing import Any

from ..prompts.formats import Message, PromptFormat
from ..scores import LabelScores
from .extras import check_installed
from .scoring import ConversationScorer

__all__ = ["Moderator", "moderate_function", "conversation_key", "guard_conversation", "side_rows", "read_side_file"]


def conversation_key(conversation: Sequence[Message]) -> str:
    """The side file's key of a conversation: 16 hex digits of the SHA-256 of its messages as JSON (keys sorted).

    >>> conversation_key([{"role": "user", "content": "Hi"}])
    '557f6d9586f57ae7'
    >>> conversation_key([{"content": "Hi", "role": "user"}]) == conversation_key([{"role": "user", "content": "Hi"}])
    True
    """
    text = json.dumps([dict(m) for m in conversation], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def guard_conversation(conversation: Sequence[Message], position: int = 0) -> list[Message]:
    """The conversation a guard prompt can hold: a first assistant turn dropped (GuardBench's Llama Guard tutorial).

    >>> guard_conversation([{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "You idiot"}])
    [{'role': 'user', 'content': 'You idiot'}]
    >>> guard_conversation([{"role": "assistant", "content": "Hi!"}], position=3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: conversation 3 of the batch holds only an assistant turn; a guard prompt needs a user turn...
    """
    messages = list(conversation)
    if messages and messages[0].get("role") == "assistant":
        messages = messages[1:]
        if not messages:
            raise ValueError(
                f"conversation {position} of the batch holds only an assistant turn; a guard prompt needs a user "
                "turn to classify: drop the sample or give it the user message it answers."
            )
    return messages


def _plain(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def side_rows(conversations: Sequence[Sequence[Message]], scores: LabelScores, start: int = 0) -> list[dict[str, Any]]:
    """The side file's lines for a scored batch: key, running index, strategy, per-label probs, bounds, greedy text.

    NaN (a label the strategy does not score) is written as null.
    """
    rows = []
    for i, conv in enumerate(conversations):
        row: dict[str, Any] = {
            "key": conversation_key(conv),
            "index": start + i,
            "strategy": scores.strategy,
            "estimate": scores.estimate,
            "probs": {label: _plain(float(scores.probs[i, j])) for j, label in enumerate(scores.labels)},
        }
        if scores.lower is not None and scores.upper is not None:
            row["lower"] = {label: _plain(float(scores.lower[i, j])) for j, label in enumerate(scores.labels)}
            row["upper"] = {label: _plain(float(scores.upper[i, j])) for j, label in enumerate(scores.labels)}
        row["text"] = scores.texts[i]
        rows.append(row)
    return rows


def read_side_file(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{key: line}`` of a side file (a key written twice, by a rerun, keeps its last line); one ``ValueError``
    naming the file and line for a missing file or a line that is not a side-file row."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ValueError(f"side file {name} does not exist; pass the side_file given to moderate_function.")
    rows: dict[str, dict[str, Any]] = {}
    with open(name, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ok = isinstance(row, dict) and "key" in row and "unsafe" in (row.get("probs") or {})
                why = "" if ok else "no key or no probs.unsafe"
            except json.JSONDecodeError as err:
                ok, why = False, f"not JSON: {err}"
            if not ok:
                raise ValueError(
                    f"side file {name} line {number} is not a moderate_function row ({why}); "
                    "pass the side_file a GuardBench run wrote."
                )
            rows[str(row["key"])] = row
    return rows


class Moderator:
    """The callable GuardBench's ``benchmark(moderate=...)`` runs (build it with :func:`moderate_function`).

    ``self.calls`` and ``self.scored`` count its calls and conversations; ``self.side_file`` is the JSONL file it
    appends to (None: none).
    """

    def __init__(self, scorer: ConversationScorer, side_file: str | None) -> None:
        self.scorer, self.side_file = scorer, side_file
        self.calls, self.scored = 0, 0

    def __call__(self, conversations: Sequence[Sequence[Message]], **kwargs: Any) -> list[float]:
        """P(unsafe) of each conversation, in order."""
        if kwargs:
            raise ValueError(
                f"the moderate callable takes only `conversations`, and GuardBench passed {sorted(kwargs)} "
                "(benchmark(...) hands its extra keyword arguments on): give model and settings to "
                "moderate_function instead."
            )
        if isinstance(conversations, (str, bytes)) or not isinstance(conversations, Sequence):
            raise ValueError(
                f"`conversations` must be a list of conversations (lists of {{'role', 'content'}} messages), got "
                f"{type(conversations).__name__}."
            )
        messages = [guard_conversation(conv, k) for k, conv in enumerate(conversations)]
        scores = self.scorer(messages)
        unsafe = scores["unsafe"].tolist()
        if self.side_file is not None:
            lines = "".join(json.dumps(row) + "\n" for row in side_rows(conversations, scores, self.scored))
            with open(self.side_file, "a", encoding="utf-8") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
        self.calls += 1
        self.scored += len(unsafe)
        return [float(p) for p in unsafe]


def moderate_function(
    model: Any,
    tokenizer: Any,
    *,
    strategy: str = "any_place",
    prompt_format: PromptFormat = "auto",
    side_file: str | os.PathLike[str] | None = None,
    taxonomy: int = 3,
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    eps: float = 0.01,
    top_p: float = 0.99,
    estimate: str = "best",
) -> Moderator:
    """The ``moderate`` callable of GuardBench's ``benchmark``: ``moderate(conversations=[...])`` returns P(unsafe)
    of each conversation (the ``unsafe`` column of ``strategy``'s scores), scored ``batch_size`` at a time.

    Args:
        model, tokenizer: the guard (``mg.load_default()``, Llama Guard 3, ...).
        strategy: any strategy of :data:`~marginal_generate.integrations.scoring.BRIDGE_STRATEGIES`.
        prompt_format: how a conversation becomes the guard prompt (see :func:`~marginal_generate.prompts.render`).
        side_file: a JSONL file to append each conversation's per-label probabilities and bounds to (see
            :func:`side_rows`); its folder must exist. Nothing written before is removed: a rerun appends, and a
            key's last line wins when it is read.
        taxonomy, batch_size, max_new_tokens, eps, top_p, estimate: see
            :class:`~marginal_generate.integrations.scoring.ConversationScorer`.

    Every argument is checked here (one ``ValueError`` naming it), before GuardBench starts. GuardBench itself
    (``pip install 'marginal-generate[guardbench]'``) is not imported, only looked for.
    """
    check_installed("guardbench", "guardbench", "moderate_function (GuardBench's moderation callable)")
    scorer = ConversationScorer.from_settings(model, tokenizer, locals())
    path = None
    if side_file is not None:
        path = os.fspath(side_file)
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path) or not os.path.isdir(folder):
            what = "is a folder" if os.path.isdir(path) else f"is in {folder}, which does not exist"
            raise ValueError(f"`side_file` {path!r} {what}; pass a file path in an existing folder.")
    return Moderator(scorer, path)
