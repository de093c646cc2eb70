"""The hand-written prompt pools of ``training/data/``, by the role a run gives them.

Training (each split into training and validation parts by :func:`training.run_data.hand_written`): harmful
one-liners with their ids (requests, then questions in the style of red-teaming question sets), benign prompts that
share harmful words, everyday benign prompts (requests on many subjects, then how-to requests and the safe
counterparts of the harmful questions), and the optional harmful-practices pool (``--practices-pool``). Held out,
never trained on: harmful one-liners and benign prompts that share their words, written before training.

>>> len(hand_harmful()), len(hand_shared_words()), len(hand_everyday())
(1389, 1214, 2743)
>>> [len(p) for p in held_out_one_liners()], [len(p) for p in practices()]
([101, 90], [495, 539])
"""

from __future__ import annotations

from training import tables

HARMFUL_TABLES = ("train/harmful_requests", "train/harmful_questions")
SHARED_WORDS_TABLE = "train/benign_shared_words"
EVERYDAY_TABLES = ("train/benign_everyday", "train/benign_requests")
PRACTICES_TABLE = "train/harmful_practices"
ONELINE_TABLE = "heldout/oneline"


def _labelled(names: tuple[str, ...], label: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(p.text, p.categories) for name in names for p in tables.prompts(name) if p.label == label]


def hand_harmful() -> list[tuple[str, tuple[str, ...]]]:
    """The hand-written harmful training one-liners with their ids: the requests, then the questions."""
    return _labelled(HARMFUL_TABLES, "unsafe")


def hand_shared_words() -> list[str]:
    """The hand-written benign training prompts that share harmful words."""
    return [text for text, _ in _labelled((SHARED_WORDS_TABLE,), "safe")]


def hand_everyday() -> list[str]:
    """The hand-written everyday benign training prompts: on many subjects, then how-to requests and safe
    counterparts of the harmful questions."""
    return [text for text, _ in _labelled(EVERYDAY_TABLES, "safe")]


def practices() -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
    """The optional pool (``--practices-pool``): harmful requests about harmful practices with their ids, and benign
    ones sharing their words."""
    return _labelled((PRACTICES_TABLE,), "unsafe"), [text for text, _ in _labelled((PRACTICES_TABLE,), "safe")]


def held_out_one_liners() -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
    """The hand-written held-out harmful one-liners (with ids) and benign prompts that share their words."""
    return _labelled((ONELINE_TABLE,), "unsafe"), [text for text, _ in _labelled((ONELINE_TABLE,), "safe")]
