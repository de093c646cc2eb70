"""Training conversations from queries: an agent turn now and then (whose reply can change the label), and the
prompts each conversation trains besides the plain guard prompt (a policy of a few categories, a yes/no question).

The agent replies are ``data/templates/agent_replies.jsonl``: refusals (after an unsafe query they make the
conversation safe), helpful openings (after a benign query) and compliant answers (``{q}`` is the query: they keep
its categories).
"""

from __future__ import annotations

import random

from marginal_generate.labels.taxonomy import LLAMA_GUARD_3
from marginal_generate.prompts.label_prompts import unary_question
from training import tables
from training.augment import cat_key, shuffle_sentences
from training.prompt_format import CATEGORIES, DEFAULT_POLICY

REPLIES = "templates/agent_replies"
REFUSALS = tables.texts(REPLIES, "refusal")
HELPFUL = tables.texts(REPLIES, "helpful")
COMPLIANT = tables.texts(REPLIES, "compliant")


def make_example(
    query: str,
    categories: list[str],
    rng: random.Random,
    agent_frac: float,
    shuffle: bool,
    sentence_shuffle: float = 0.0,
) -> tuple[list[dict], list[str]]:
    """A conversation and its target ids, in the order the target lists them.

    With ``shuffle`` the ids are listed in a random order and, for unsafe queries, with probability
    ``sentence_shuffle`` the query's sentences are too (augmentation)."""
    cats = list(categories)
    if shuffle:
        rng.shuffle(cats)
        if cats and sentence_shuffle > 0 and rng.random() < sentence_shuffle:
            query = shuffle_sentences(query, rng)
    conv = [{"role": "user", "content": query}]
    if rng.random() < agent_frac:
        if not cats:
            conv.append({"role": "assistant", "content": rng.choice(HELPFUL)})
        elif rng.random() < 0.5:
            conv.append({"role": "assistant", "content": rng.choice(REFUSALS)})
            cats = []
        else:
            conv.append({"role": "assistant", "content": rng.choice(COMPLIANT).format(q=query.strip())})
    return conv, cats


def branches_for(
    cats: list[str], conv_role: str, rng: random.Random, policy_frac: float, unary_frac: float
) -> list[tuple]:
    """The prompts one conversation trains: the plain guard prompt, and sometimes a guard prompt with a
    policy of a few categories (the answer keeps only those) and a yes/no question (unary)."""
    out: list[tuple] = [("guard", None, cats)]
    if rng.random() < policy_frac:
        others = [c for c in CATEGORIES if c not in cats]
        if rng.random() < 0.6:
            chosen = [rng.choice(cats)] if cats and rng.random() < 0.5 else [rng.choice(others)]
        else:
            chosen = rng.sample(CATEGORIES, rng.randint(2, 6))
        chosen = sorted(set(chosen), key=cat_key)
        kept = [c for c in cats if c in chosen]
        out.append(("guard", {c: DEFAULT_POLICY[c] for c in chosen}, kept))
    if rng.random() < unary_frac:
        if rng.random() < 0.25:
            out.append(("unary", unary_question(conv_role), bool(cats)))
        else:
            c = (
                rng.choice(cats)
                if cats and rng.random() < 0.5
                else rng.choice([c for c in CATEGORIES if c not in cats])
            )
            out.append(("unary", unary_question(conv_role, c, LLAMA_GUARD_3[c].name), c in cats))
    return out
