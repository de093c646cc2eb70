"""The model card (``README.md`` of a trained model): the template ``model_card.md.jinja`` filled with the run's record
(``training.json``), its recipe and the sizes of the data it was built from.

The card describes the run that trained the model (its recorded arguments), not the command line that writes it.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from training import donotanswer, pools, tables
from training.generators import benign, harmful, privacy

TEMPLATE = Path(__file__).resolve().parent / "model_card.md.jinja"


@functools.lru_cache(maxsize=1)
def _template():
    import jinja2

    env = jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    return env.from_string(TEMPLATE.read_text(encoding="utf-8"))


def write_model_card(out: Path, info: dict, args: argparse.Namespace) -> None:
    """``README.md`` of the model: what it is, how to use it, its data, training, held-out figures and misses."""
    (out / "README.md").write_text(render_model_card(info, args))


def render_model_card(info: dict, args: argparse.Namespace) -> str:
    """The card's text for a run's record ``info`` (``training.json``) and its arguments (the recorded ones win)."""
    args = argparse.Namespace(**{**vars(args), **info.get("args", {})})
    return _template().render(**card_context(info, args))


def card_context(info: dict, args: argparse.Namespace) -> dict:
    """What the template reads: the record, the recipe, and every figure it computes from them."""
    h = info.get("heldout")
    return {
        "info": info,
        "args": args,
        "h": h,
        "dna": info.get("donotanswer", {}),
        "hand": info.get("handwritten", {}),
        "dna_license": donotanswer.LICENSE,
        "parameters_m": f"{info['parameters'] / 1e6:.1f}",
        "hand_count": hand_count(info),
        "percent": {
            name: int(getattr(args, name) * 100)
            for name in ("dna_test_frac", "docstring_frac", "hand_val_frac", "agent_frac", "policy_frac", "unary_frac")
        },
        "counts": data_counts(),
        "type_map": donotanswer.TYPE_MAP,
        "keyword_rules": donotanswer.KEYWORD_RULES,
        "concat_queries": int(args.concat_frac * info["train_rows"]),
        "schedule_epochs": max(args.epochs, args.schedule_epochs or 0),
        "word_dropout_sentence": word_dropout_sentence(args),
        "unsafe_weight_sentence": unsafe_weight_sentence(args),
        "seed_rows": f"{h['n_unsafe']} seed test rows + {h['n_benign']} benign" if h else "",
        "mark": goal_marks(h, info) if h else {},
        "missed": listed((h or {}).get("oneline_missed", [])),
        "flagged": listed((h or {}).get("benign_flagged", [])),
    }


def data_counts() -> dict[str, int]:
    """The sizes of the data tables the card names."""
    train_pool, test_pool = benign.pool("train"), benign.pool("test")
    practices_harmful, practices_benign = pools.practices()
    held_harmful, held_shared = pools.held_out_one_liners()
    return {
        "harmful_tasks": sum(len(v) for v in harmful.HARMFUL_TASKS.values()),
        "harmful_requests": sum(len(v) for v in harmful.HARMFUL_REQUESTS.values()),
        "harmful_templates": len(harmful.TEMPLATES),
        "benign_templates": len(train_pool.templates),
        "benign_topics": len(train_pool.tasks) + len(train_pool.concepts) + len(train_pool.things),
        "docstring_sentences": len(benign.docstring_sentences()),
        "benign_shared_tasks": len(harmful.BENIGN_SHARED_TASKS),
        "benign_shared_topics": len(harmful.BENIGN_SHARED_TOPICS),
        "hand_harmful": len(pools.hand_harmful()),
        "hand_questions": len(tables.prompts(pools.HARMFUL_TABLES[1])),
        "hand_shared_words": len(pools.hand_shared_words()),
        "hand_everyday": len(pools.hand_everyday()),
        "hand_requests": len(tables.prompts(pools.EVERYDAY_TABLES[1])),
        "oneline_harmful": len(held_harmful),
        "oneline_benign": len(held_shared),
        "test_templates": len(test_pool.templates),
        "handwritten_test": len(benign.handwritten_test()),
        "item_frames": len(privacy.ITEM_FRAMES),
        "status_frames": len(privacy.STATUS_FRAMES),
        "private_items": len(privacy.PRIVATE_ITEMS),
        "private_statuses": len(privacy.PRIVATE_STATUSES),
        "relations": len(privacy.RELATIONS),
        "practices_harmful": len(practices_harmful),
        "practices_benign": len(practices_benign),
    }


def hand_count(info: dict) -> int:
    """How many hand-written training prompts (the validation parts left out) the run trained on.

    >>> hand_count({"handwritten": {"harmful": [10, 2], "everyday": [5, 1], "dropped": 3}})
    15
    """
    return sum(train for train, _ in (v for k, v in info.get("handwritten", {}).items() if k != "dropped"))


def listed(texts: list[str]) -> str:
    """Prompts as the card lists them, one ``repr`` a line, or `` none``.

    >>> listed(["a", "b"]), listed([])
    ("\\n  - 'a'\\n  - 'b'", ' none')
    """
    return "".join(f"\n  - {t!r}" for t in texts) or " none"


def word_dropout_sentence(args: argparse.Namespace) -> str:
    """The card's sentence on ``--word-dropout`` (empty when the run did not use it).

    >>> word_dropout_sentence(argparse.Namespace(word_dropout=0.0))
    ''
    >>> word_dropout_sentence(argparse.Namespace(word_dropout=0.15)).split(";")[0]
    ' Word dropout: in half the queries of an epoch each word is dropped with probability 0.15 (at least two kept)'
    """
    if not args.word_dropout:
        return ""
    return (
        f" Word dropout: in half the queries of an epoch each word is dropped with probability {args.word_dropout} "
        "(at least two kept); this one can drop the word a label rests on, so unlike the others it does not keep "
        "the labels exact."
    )


def unsafe_weight_sentence(args: argparse.Namespace) -> str:
    """The card's sentence on ``--unsafe-weight`` (empty when the run weighed both verdicts alike).

    >>> unsafe_weight_sentence(argparse.Namespace(unsafe_weight=1.0))
    ''
    >>> unsafe_weight_sentence(argparse.Namespace(unsafe_weight=1.6)).split(";")[0]
    ' On the plain guard prompt the loss on the verdict token `unsafe` weighs 1.6 times that on `safe`'
    """
    if args.unsafe_weight == 1.0:
        return ""
    return (
        f" On the plain guard prompt the loss on the verdict token `unsafe` weighs {args.unsafe_weight} times that on "
        f"`safe`; a missed harmful request costs {args.unsafe_weight} flagged benign ones, which moves the point "
        f"where greedy decoding writes `unsafe` to about p(unsafe) {1 / (1 + args.unsafe_weight):.2f} of an "
        "unweighted model (it does not make the scores separate harmful from benign prompts any better; prompts "
        "with a policy of a few categories keep weight 1)."
    )


def goal_marks(h: dict, info: dict) -> dict[str, str]:
    """``met`` or ``NOT met`` for each of the project's goals (the card's "Goals" list).

    >>> h = {"oneline_recall_any_place": 0.9, "donotanswer_recall_any_place": 0.8, "oneline_top_category_correct": 0.7,
    ...      "donotanswer_top_category_correct": 0.6, "benign_all_safe_greedy": 0.95, "benign_all_safe_any_place": 0.9,
    ...      "greedy_micro_f1_S1_S14": 0.8, "any_place_roc_auc_micro": 0.96, "greedy_roc_auc_micro": 0.9}
    >>> goal_marks(h, {"training_wall_time_s": 901.0})
    {'oneline': 'NOT met', 'top': 'met', 'benign': 'met', 'f1': 'met', 'auc': 'met', 'time': 'NOT met'}
    """

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    recall = min(h["oneline_recall_any_place"], h["donotanswer_recall_any_place"])
    top = min(h["oneline_top_category_correct"], h["donotanswer_top_category_correct"])
    benign_safe = min(h["benign_all_safe_greedy"], h["benign_all_safe_any_place"])
    auc = h["any_place_roc_auc_micro"]
    return {
        "oneline": mark(recall >= 0.85),
        "top": mark(top >= 0.6),
        "benign": mark(benign_safe >= 0.9),
        "f1": mark(h["greedy_micro_f1_S1_S14"] >= 0.8),
        "auc": mark(auc >= 0.95 and auc > h["greedy_roc_auc_micro"]),
        "time": mark(info["training_wall_time_s"] < 900),
    }
