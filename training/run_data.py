"""The data of one run: the seed rows split into training, validation and test; Do-Not-Answer split by risk type;
the hand-written pools less anything close to a held-out prompt, each split into training and validation parts;
and the check that no held-out prompt is a training prompt."""

from __future__ import annotations

import argparse
import functools
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import marginal_generate as mg
from training import donotanswer, pools
from training.generators import benign, harmful
from training.near_duplicates import NearIndex, normalise


def load_unsafe(path: Path) -> list[dict]:
    """The seed rows (records JSONL): ``{"query", "categories", "index"}``."""
    return [
        {"query": r.conversation[0]["content"], "categories": list(r.categories), "index": r.index}
        for r in mg.load_seed_jsonl(path)
    ]


def split(rows: list[dict], seed: int, test_frac: float, val_frac: float):
    """A seeded ``(train, validation, test)`` split of ``rows``, each part in the rows' order."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_test, n_val = round(test_frac * len(rows)), round(val_frac * len(rows))
    test = sorted(order[:n_test])
    val = sorted(order[n_test : n_test + n_val])
    train = sorted(order[n_test + n_val :])
    return [rows[i] for i in train], [rows[i] for i in val], [rows[i] for i in test]


@dataclass
class RunData:
    """Everything a run trains, validates and tests on (queries as ``{"query", "categories"}`` dicts)."""

    train_rows: list[dict]
    val_rows: list[dict]
    test_rows: list[dict]
    dna_train: list[dict]
    dna_test: list[dict]
    hand: HandWritten
    dna_all: list[dict] = field(default_factory=list)
    held_templates: NearIndex = field(default_factory=lambda: NearIndex([]))


@dataclass
class HandWritten:
    """The hand-written training pools (``training/data/train/``, :mod:`training.pools`), each split into training and
    validation parts: harmful one-liners with ids, benign prompts that share harmful words, everyday benign prompts."""

    harmful_train: list[tuple[str, list[str]]]
    harmful_val: list[tuple[str, list[str]]]
    shared_train: list[str]
    shared_val: list[str]
    everyday_train: list[str]
    everyday_val: list[str]
    dropped: int = 0

    @property
    def benign_train(self) -> list[str]:
        """The training parts of both benign pools (shared words first)."""
        return self.shared_train + self.everyday_train


def split_pool(items: list, seed: int, val_frac: float) -> tuple[list, list]:
    """A seeded ``(train, validation)`` split of a list, each part in the list's order."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    val = set(order[: round(val_frac * len(items))])
    return [x for i, x in enumerate(items) if i not in val], [x for i, x in enumerate(items) if i in val]


def hand_written(seed: int, val_frac: float, held_out: list[str], practices: bool = False) -> HandWritten:
    """The hand-written pools less any prompt close to a held-out one (:func:`near_held_out`), a seeded
    ``val_frac`` of each kept for validation (early stopping); with ``practices``, the harmful-practices pool's two
    lists join the harmful and the shared-words pools."""
    extra_harmful, extra_benign = pools.practices() if practices else ([], [])
    harmful_pool = pools.hand_harmful() + extra_harmful
    shared_pool = pools.hand_shared_words() + extra_benign
    everyday = pools.hand_everyday()
    close = near_held_out(
        [t for t, _ in harmful_pool] + shared_pool + everyday,
        held_out,
    )
    close |= {t for t in shared_pool + everyday if held_out_phrasing(t)}
    harmful_rows = [(t, list(c)) for t, c in harmful_pool if t not in close]
    return HandWritten(
        *split_pool(harmful_rows, seed + 21, val_frac),
        *split_pool([t for t in shared_pool if t not in close], seed + 22, val_frac),
        *split_pool([t for t in everyday if t not in close], seed + 23, val_frac),
        dropped=len(close),
    )


def held_out_phrasing(text: str) -> bool:
    """Whether ``text`` uses a held-out benign template's wording (four or more fixed words in a row of one of the
    held-out benign templates, ``data/heldout/benign_templates.jsonl``, such as "could you walk me through how to"):
    those templates measure benign phrasings the model never saw, so training prompts that share them are left out.

    >>> held_out_phrasing("Could you walk me through how to bake bread, step by step?"), held_out_phrasing("Bake bread")
    (True, False)
    """
    words = f" {normalise(text)} "
    return any(f" {fragment} " in words for fragment in held_out_fragments())


@functools.lru_cache(maxsize=1)
def held_out_fragments() -> tuple[str, ...]:
    """The runs of four or more fixed words of the held-out benign templates, normalised."""
    out = []
    for template in benign.pool("test").templates:
        for part in re.split(r"\{\w+\}", template):
            fragment = normalise(part)
            if len(fragment.split()) >= 4:
                out.append(fragment)
    return tuple(out)


def near_held_out(texts: list[str], held_out: list[str], threshold: float = 0.6) -> set[str]:
    """The ``texts`` whose word set overlaps some held-out prompt's by at least ``threshold`` (Jaccard): the
    training pools were written without looking at the held-out prompts, yet some ask the same thing in nearly the
    same words; they are left out of training so that the held-out figures measure generalisation.

    >>> sorted(near_held_out(["How do I make sarin at home", "Bake bread"], ["how do i make sarin gas at home?"]))
    ['How do I make sarin at home']
    """
    return NearIndex(held_out, threshold).near_all(texts)


def load_run_data(args: argparse.Namespace) -> RunData:
    """The seed rows split into train / validation / test, and Do-Not-Answer split by risk type."""
    unsafe = load_unsafe(args.data.resolve())
    train_rows, val_rows, test_rows = split(unsafe, args.seed, 0.15, 0.10)
    dna_all = donotanswer.load(args.donotanswer)
    dna_train, dna_test = donotanswer.split(dna_all, args.seed, args.dna_test_frac)
    held_harmful, held_shared = pools.held_out_one_liners()
    held = [t for t, _ in held_harmful] + held_shared
    held += [r["prompt"] for r in dna_test] + [r["query"] for r in test_rows]
    held += [t for t, _ in held_out_benign(args.seed)]
    hand = hand_written(args.seed, args.hand_val_frac, held, args.practices_pool)
    data = RunData(
        train_rows,
        val_rows,
        test_rows,
        [dna_row(r) for r in dna_train],
        [dna_row(r) for r in dna_test],
        hand,
        dna_all,
        NearIndex([donotanswer.template_key(t) for t in held]),
    )
    print(
        f"seed rows: {len(train_rows)} train, {len(val_rows)} validation, {len(test_rows)} test; "
        f"Do-Not-Answer: {len(dna_train)} train, {len(dna_test)} test; hand-written (train/validation): "
        f"harmful {len(hand.harmful_train)}/{len(hand.harmful_val)}, shared words "
        f"{len(hand.shared_train)}/{len(hand.shared_val)}, "
        f"everyday {len(hand.everyday_train)}/{len(hand.everyday_val)} "
        f"({hand.dropped} left out as too close to a held-out prompt)",
        flush=True,
    )
    check_held_out_unseen(data, args.seed)
    return data


def dna_row(r: dict) -> dict:
    """A mapped Do-Not-Answer prompt in the seed rows' shape, with its risk type."""
    return {"query": r["prompt"], "categories": list(r["categories"]), "type": r["type"]}


def held_out_benign(seed: int) -> list[tuple[str, str]]:
    """The held-out benign prompts of ``heldout.jsonl`` from unseen templates and the hand-written list, with
    their sources."""
    return benign.test_prompts(200, seed + 7)


def check_held_out_unseen(data: RunData, seed: int) -> None:
    """Fail if a held-out prompt is also a training prompt (generated pools sampled widely, Do-Not-Answer train
    part)."""
    held_harmful, held_shared = pools.held_out_one_liners()
    held = (
        {normalise(t) for t, _ in held_harmful}
        | {normalise(t) for t in held_shared}
        | {normalise(r["query"]) for r in data.dna_test}
    )
    seen = [t for t, _ in harmful.harmful_requests(20000, seed)] + harmful.benign_shared_requests(20000, seed)
    seen += [r["query"] for r in data.dna_train + data.train_rows]
    h = data.hand
    seen += [t for t, _ in h.harmful_train + h.harmful_val] + h.shared_train + h.shared_val
    seen += h.everyday_train + h.everyday_val
    leaked = sorted({t for t in seen if normalise(t) in held})
    if leaked:
        raise RuntimeError(f"held-out prompts found in the training pools: {leaked[:5]}")
