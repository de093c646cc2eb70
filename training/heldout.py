"""``heldout.jsonl``, the held-out records a run is evaluated on (and ``marginal-generate evaluate``'s default data
for the shipped model): the seed test rows, the held-out Do-Not-Answer part, the hand-written one-liners and benign
prompts (from unseen templates, hand-written, sharing harmful words); ``source`` says which."""

from __future__ import annotations

from pathlib import Path

import marginal_generate as mg
from training import pools
from training.run_data import RunData, held_out_benign

SEED_SOURCE = "content_moderation_lm3.train.jsonl"
OLD_BENIGN_SOURCES = ("benign_heldout_templates", "benign_handwritten")
ONELINE_SOURCE = "oneline_handwritten"
SHARED_SOURCE = "benign_shared_words_handwritten"
DNA_SOURCE = "donotanswer_heldout"


def write_heldout(path: Path, data: RunData, seed: int) -> None:
    """``heldout.jsonl``: seed test rows, held-out Do-Not-Answer prompts (source names their risk type), the
    hand-written one-liners, and benign prompts (unseen templates, hand-written, sharing harmful words)."""
    records = [user_record(r["query"], r["categories"], r["index"], SEED_SOURCE) for r in data.test_rows]
    records += [
        user_record(r["query"], r["categories"], k, f"{DNA_SOURCE}/{r['type']}") for k, r in enumerate(data.dna_test)
    ]
    harmful, shared = pools.held_out_one_liners()
    records += [user_record(text, list(cats), k, ONELINE_SOURCE) for k, (text, cats) in enumerate(harmful)]
    records += [user_record(text, [], k, source) for k, (text, source) in enumerate(held_out_benign(seed))]
    records += [user_record(text, [], k, SHARED_SOURCE) for k, text in enumerate(shared)]
    mg.save_records_jsonl(records, path)


def user_record(text: str, categories: list[str], index: int, source: str):
    """A one-message record; unsafe when it has categories."""
    return mg.Record(
        conversation=({"role": "user", "content": text},),
        is_safe=not categories,
        categories=tuple(categories),
        index=index,
        source=source,
    )
