"""The ``(query, ids)`` pairs a run trains and validates on: every epoch's fresh mix (:func:`epoch_queries`) and the
fixed validation set (:func:`validation_queries`), with the generated pools they draw from."""

from __future__ import annotations

import argparse
import random

from training import donotanswer
from training.augment import cat_key, concat_rows
from training.generators import benign, harmful, privacy
from training.near_duplicates import NearIndex
from training.run_data import RunData


def single_request_queries(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """``n`` generated harmful one-liners with their ids."""
    return [(t, list(c)) for t, c in harmful.harmful_requests(n, seed)]


def privacy_queries(n: int, seed: int, held_templates: NearIndex) -> list[tuple[str, list[str]]]:
    """Up to ``n`` generated privacy requests (:mod:`training.generators.privacy`: half ask for a private person's
    private data, S7; half are safe ones of the same shapes), less those whose wording without names
    (:func:`donotanswer.template_key`) is near a held-out prompt's."""
    return [
        (t, list(c))
        for t, c in privacy.privacy_requests(n, seed)
        if not held_templates.near(donotanswer.template_key(t))
    ]


def mixed_queries(n: int, data: RunData, rng: random.Random) -> list[tuple[str, list[str]]]:
    """Two or three single requests in one query, harmful ones with benign ones sometimes; the union of the ids."""
    out = []
    for _ in range(n):
        parts: list[tuple[str, list[str]]] = []
        for _ in range(rng.choice([2, 2, 3])):
            kind = rng.random()
            if kind < 0.45:
                parts.append(single_request_queries(1, rng.randrange(10**9))[0])
            elif kind < 0.58:
                r = rng.choice(data.dna_train)
                parts.append((r["query"], r["categories"]))
            elif kind < 0.65:
                parts.append(rng.choice(data.hand.harmful_train))
            elif kind < 0.8:
                parts.append((harmful.benign_shared_requests(1, rng.randrange(10**9))[0], []))
            else:
                pool = data.hand.shared_train if rng.random() < 0.5 else data.hand.everyday_train
                parts.append((rng.choice(pool), []))
        if not any(c for _, c in parts):
            parts[0] = single_request_queries(1, rng.randrange(10**9))[0]
        text = benign.join([p for p, _ in parts], rng)
        out.append((text, sorted({c for _, cats in parts for c in cats}, key=cat_key)))
    return out


def benign_mixed_queries(
    n: int, shared: list[str], everyday: list[str], rng: random.Random
) -> list[tuple[str, list[str]]]:
    """Two or three benign requests in one query (hand-written ones from the pools ``shared`` (sharing harmful
    words) and ``everyday``, and generated ones that share harmful words),
    joined as :func:`mixed_queries` joins them: without these, every multi-request query in training but the
    template-generated benign ones is unsafe (the seed rows, the mixes), and the model learns that asking several
    things is itself a sign of harm."""
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.choice([2, 2, 3])):
            kind = rng.random()
            if kind < 0.3:
                parts.append(harmful.benign_shared_requests(1, rng.randrange(10**9))[0])
            else:
                parts.append(rng.choice(shared if kind < 0.55 else everyday))
        out.append((benign.join(parts, rng), []))
    return out


def epoch_seed(args: argparse.Namespace, epoch: int) -> int:
    """The seed of epoch ``epoch`` (from 0): its random generator's (``train``) and its generated pools' base
    (``epoch_queries``); ``scripts/linear_baselines.py`` rebuilds the same queries from it.

    >>> epoch_seed(argparse.Namespace(seed=3), 2)
    3002
    """
    return args.seed * 1000 + epoch


def epoch_queries(
    data: RunData, args: argparse.Namespace, epoch: int, rng: random.Random
) -> list[tuple[str, list[str]]]:
    """The ``(query, ids)`` of one epoch: seed rows and their concatenations, single requests (generated and
    Do-Not-Answer, rephrased), mixed queries, benign prompts and benign prompts that share harmful words."""
    seed = epoch_seed(args, epoch)
    out = [(r["query"], r["categories"]) for r in data.train_rows]
    out += [concat_rows(*rng.sample(data.train_rows, 2)) for _ in range(round(args.concat_frac * len(data.train_rows)))]
    out += single_request_queries(args.single_per_epoch, seed + 100)
    out += privacy_queries(args.privacy_per_epoch, seed + 900, data.held_templates)
    out += [
        (harmful.rephrase(r["query"], rng), r["categories"]) for _ in range(args.dna_repeats) for r in data.dna_train
    ]
    out += mixed_queries(args.mixed_per_epoch, data, rng)
    out += benign_mixed_queries(args.benign_mixed_per_epoch, data.hand.shared_train, data.hand.everyday_train, rng)
    out += [(q, []) for q in benign.benign_prompts(args.benign_per_epoch, seed + 500, "train", args.docstring_frac)]
    out += [(q, []) for q in harmful.benign_shared_requests(args.shared_per_epoch, seed + 700)]
    hand = data.hand
    out += [(harmful.rephrase(t, rng), c) for t, c in hand.harmful_train]
    pool = hand.benign_train
    out += [(harmful.rephrase(t, rng), []) for t in rng.sample(pool, min(args.hand_benign_per_epoch, len(pool)))]
    return out


def validation_queries(data: RunData, args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """Validation: the validation seed rows, benign prompts, and generated one-liners from seeds no epoch uses."""
    out = [(r["query"], r["categories"]) for r in data.val_rows]
    out += [(q, []) for q in benign.benign_prompts(200, args.seed + 4, "train", args.docstring_frac)]
    out += single_request_queries(150, args.seed + 10**6)
    if args.privacy_per_epoch:
        out += privacy_queries(150, args.seed + 10**6 + 2, data.held_templates)
    out += [(q, []) for q in harmful.benign_shared_requests(100, args.seed + 10**6 + 1)]
    hand = data.hand
    out += hand.harmful_val + [(t, []) for t in hand.shared_val + hand.everyday_val]
    out += benign_mixed_queries(100, hand.shared_val, hand.everyday_val, random.Random(args.seed + 11))
    return out
