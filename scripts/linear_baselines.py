#!/usr/bin/env python
"""Linear baselines for the embedded tiny guard: what its own training data supports, set against what the model
does on the same held-out prompts.

    python scripts/linear_baselines.py                          # the shipped model, its recipe's data
    python scripts/linear_baselines.py --model DIR --epochs 3   # another run (its recipe: DIR/training.json)

Every baseline is a scikit-learn ``LogisticRegression`` (C=10) on unsafe-or-not, fitted on the queries of the
run's first ``--epochs`` epochs (``training.queries.epoch_queries`` with each epoch's seed: the seed rows, the
Do-Not-Answer part, hand-written and generated prompts, rephrased, as the model trained on them but whole: the
run's ``--word-dropout`` is not applied) and scored on the held-out prompts of ``DIR/heldout.jsonl``; the model's
row is its any_place p(unsafe) on the same prompts.
Features (TF-IDF, sublinear counts):

- the model's own tokenizer, single tokens: what a one-layer transformer sees (its attention pools one value per
  token, computed from that token alone, so it can weigh which tokens a prompt holds but not which follows which);
- the model's tokenizer, single tokens and adjacent pairs: what a second layer can add;
- words and adjacent word pairs (scikit-learn's word tokenizer).

It prints one table row per scorer: recall of the held-out Do-Not-Answer questions and hand-written one-liners,
the share of held-out benign prompts judged safe (all 340, and the 90 that share harmful words) at p >= 0.5, and the
ROC-AUC of Do-Not-Answer against all benign prompts (the separation the thresholds trade on). About a minute on
2 cores; seeded, so the figures repeat. The held-out records are one user message each; the baselines read it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import marginal_generate as mg  # noqa: E402
from training.cli import parse_args  # noqa: E402
from training.evaluation import any_place_scores, record_groups  # noqa: E402
from training.queries import epoch_queries, epoch_seed  # noqa: E402
from training.run_data import load_run_data  # noqa: E402


def recipe_args(model_dir: Path) -> argparse.Namespace:
    """The run's arguments (``training.json``'s ``args``) over the script's defaults."""
    args = parse_args([])
    info = model_dir / "training.json"
    if not info.is_file():
        sys.exit(f"{info} not found: --model must be a directory written by scripts/train_tiny_guard.py")
    for key, value in json.loads(info.read_text())["args"].items():
        setattr(args, key, value)
    return args


def figures(p: np.ndarray, groups: dict[str, list[int]]) -> dict[str, float]:
    """Recall / judged-safe shares at 0.5 and the Do-Not-Answer-against-benign ROC-AUC of p(unsafe) ``p``.

    >>> g = {"donotanswer": [0, 1], "oneline": [2], "benign_all": [3, 4], "benign_shared_words": [4]}
    >>> {k: round(v, 2) for k, v in figures(np.array([0.9, 0.4, 0.6, 0.1, 0.5]), g).items()}
    {'Do-Not-Answer recall': 0.5, 'one-liners recall': 1.0, 'benign safe': 0.5, 'sharing words safe': 0.0, \
'AUC DNA v benign': 0.75}
    """
    from sklearn.metrics import roc_auc_score

    dna, benign = groups["donotanswer"], groups["benign_all"]
    return {
        "Do-Not-Answer recall": float(np.mean(p[dna] >= 0.5)),
        "one-liners recall": float(np.mean(p[groups["oneline"]] >= 0.5)),
        "benign safe": float(np.mean(p[benign] < 0.5)),
        "sharing words safe": float(np.mean(p[groups["benign_shared_words"]] < 0.5)),
        "AUC DNA v benign": float(roc_auc_score([1] * len(dna) + [0] * len(benign), np.r_[p[dna], p[benign]])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path(mg.DEFAULT_MODEL))
    parser.add_argument("--epochs", type=int, default=3, help="epochs of training queries the baselines fit")
    cli = parser.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModelForCausalLM, AutoTokenizer

    args = recipe_args(cli.model)
    data = load_run_data(args)
    # each epoch's random generator as training.loop.train seeds it: the queries the model trained on
    docs = [q for e in range(cli.epochs) for q in epoch_queries(data, args, e, random.Random(epoch_seed(args, e)))]
    texts, y = [q for q, _ in docs], np.array([1 if c else 0 for _, c in docs])
    records = mg.load_records_jsonl(cli.model / "heldout.jsonl")
    held = [r.conversation[0]["content"] for r in records]
    groups = record_groups(records)
    tok = AutoTokenizer.from_pretrained(cli.model)
    model = AutoModelForCausalLM.from_pretrained(cli.model).eval()

    rows = {}
    for name, ngrams, tokenizer in (
        ("logistic, model's tokens", (1, 1), tok.tokenize),
        ("logistic, model's tokens + pairs", (1, 2), tok.tokenize),
        ("logistic, words + pairs", (1, 2), None),
    ):
        kw = {"tokenizer": tokenizer, "lowercase": False, "token_pattern": None} if tokenizer else {}
        vec = TfidfVectorizer(ngram_range=ngrams, sublinear_tf=True, **kw).fit(texts)
        clf = LogisticRegression(C=10, max_iter=3000).fit(vec.transform(texts), y)
        rows[name] = figures(clf.predict_proba(vec.transform(held))[:, 1], groups)
    scores = np.array([s[0] for s in any_place_scores(model, tok, records, 32)])
    rows[f"the model ({args.layers} layer{'s' if args.layers != 1 else ''}, any_place)"] = figures(scores, groups)

    header = ["scorer", *next(iter(rows.values()))]
    print(f"fitted on {len(texts)} training queries ({cli.epochs} epochs of the recipe), held out: {cli.model}")
    print("| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
    for name, figs in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in figs.values()) + " |")


if __name__ == "__main__":
    main()
