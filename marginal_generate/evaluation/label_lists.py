"""Evaluating a model that writes label lists (Ma et al.): every strategy, against 0/1 and soft references.

:func:`evaluate_label_lists` renders one prompt per record (``prompt_template`` with ``{text}`` and
``{labels}``), scores every strategy of :data:`~marginal_generate.strategies.STRATEGIES` that the
grammar supports with one decode (plus the tree for ``any_place``), and reports per strategy:

- ranking and decisions against the records' label lists (``categories``): macro ROC-AUC, micro F1 at 0.5;
- distribution alignment (macro L1, NLL, Brier, JSD) against the soft references (``soft_labels``,
  GoEmotions' rater fractions through :func:`~marginal_generate.data.load_go_emotions`; the 0/1
  label lists when a record has none), raw and after Platt scaling per label fitted on a
  validation split.

The CLI's ``evaluate-labels`` command calls it (``--grammar label_list --labels joy,anger,...``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..calibration.alignment import distribution_alignment
from ..calibration.metrics import multilabel_classification_metrics
from ..calibration.platt import PlattScaling
from ..decoding.eos import eos_ids
from ..generate import score
from ..labels.space import LabelSpace
from ..strategies import STRATEGIES

__all__ = [
    "DEFAULT_PROMPT",
    "GRAMMARS",
    "label_space_for",
    "evaluate_label_lists",
    "format_table",
    "add_command",
    "run_command",
]

#: The instruct prompt of a label-list answer; ``{labels}`` lists the names, ``{text}`` is the record's text.
DEFAULT_PROMPT = (
    "Labels: {labels}.\nWhich labels apply to the text? Answer with a comma-separated list of labels, or none.\n"
    "Text: {text}\nAnswer: "
)
#: The grammars the command builds from flags.
GRAMMARS = ("label_list",)


def label_space_for(
    tokenizer: Any, grammar: str, labels: Sequence[str], separator: str = ",", none: str = "none"
) -> LabelSpace:
    """The label space the flags name.

    >>> from marginal_generate.testing import word_level_tokenizer
    >>> label_space_for(word_level_tokenizer(["joy", "none"]), "label_list", ["joy"]).labels
    ('joy',)
    >>> label_space_for(word_level_tokenizer(["joy"]), "fields", ["joy"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `--grammar` must be one of ['label_list'] for evaluate-labels, got 'fields'; Llama Guard models use...
    """
    if grammar not in GRAMMARS:
        raise ValueError(
            f"`--grammar` must be one of {list(GRAMMARS)} for evaluate-labels, got {grammar!r}; "
            "Llama Guard models use the evaluate command."
        )
    if not labels:
        raise ValueError("`--labels` is empty; pass the label names, e.g. --labels joy,anger,sadness.")
    return LabelSpace.label_list(tokenizer, labels, separator=separator, none=none)


def _text(record: Any) -> str:
    return "\n".join(m["content"] for m in record.conversation)


def _references(records: Sequence[Any], labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    hard = np.array([[1.0 if label in r.categories else 0.0 for label in labels] for r in records])
    soft = np.array(
        [
            [float(r.soft_labels.get(label, 0.0)) if r.soft_labels is not None else h for label, h in zip(labels, row)]
            for r, row in zip(records, hard)
        ]
    )
    return hard, soft


def evaluate_label_lists(
    model: Any,
    tokenizer: Any,
    space: LabelSpace,
    records: Sequence[Any],
    strategies: Sequence[str] | None = None,
    *,
    prompt_template: str = DEFAULT_PROMPT,
    max_new_tokens: int = 20,
    eps: float = 0.01,
    top_p: float = 0.99,
    batch_size: int = 16,
    validation_fraction: float = 0.3,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-strategy metrics and alignment (see the module docstring); ``strategies`` default: all the grammar
    supports."""
    if "{text}" not in prompt_template:
        raise ValueError(f"`prompt_template` must contain {{text}}, got {prompt_template!r}; e.g. {DEFAULT_PROMPT!r}.")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must be in (0, 1), got {validation_fraction!r}; 0.3 is usual.")
    if len(records) < 4:
        raise ValueError(f"`records` holds {len(records)} records; pass at least 4 (a validation and a test split).")
    if strategies is None:
        strategies = [s for s in STRATEGIES if s != "first_token" or space.verbalizer is not None]
    labels = list(space.labels)
    prompts = [prompt_template.format(text=_text(r), labels=", ".join(labels)) for r in records]
    eos = eos_ids(model=model, tokenizer=tokenizer)
    probs: dict[str, list[torch.Tensor]] = {s: [] for s in strategies}
    texts: list[str] = []
    for start in range(0, len(prompts), batch_size):
        inputs = tokenizer(
            prompts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
        )
        out = score(
            model,
            inputs.input_ids,
            inputs.attention_mask,
            space,
            list(strategies),
            max_new_tokens=max_new_tokens,
            eps=eps,
            top_p=top_p,
            eos_token_ids=eos,
        )
        for s in strategies:
            probs[s].append(out[s].probs)
        texts += out[strategies[0]].texts
    hard, soft = _references(records, labels)
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_val = max(2, int(round(validation_fraction * len(records))))
    val, test = sorted(order[:n_val]), sorted(order[n_val:])
    results: dict[str, Any] = {}
    for s in strategies:
        p = torch.cat(probs[s]).numpy()
        p = np.nan_to_num(p, nan=0.0).clip(0.0, 1.0)
        metrics = multilabel_classification_metrics(p[test], hard[test])
        raw = distribution_alignment(p[test], soft[test], labels=labels)
        calibrated = PlattScaling().fit(p[val], soft[val]).transform(p[test])
        platt = distribution_alignment(np.asarray(calibrated), soft[test], labels=labels)
        results[s] = {
            "roc_auc_macro": metrics.get("roc_auc_macro"),
            "f1_micro": metrics.get("f1_micro"),
            **{f"{k}": raw[k] for k in ("l1", "nll", "brier", "jsd")},
            **{f"{k}_platt": platt[k] for k in ("l1", "nll", "brier", "jsd")},
        }
    return {"labels": labels, "strategies": results, "n_test": len(test), "n_validation": len(val), "texts": texts}


def format_table(report: dict[str, Any]) -> str:
    """One row per strategy: ROC-AUC, F1, and alignment raw / after Platt scaling (test split)."""
    columns = [
        "roc_auc_macro",
        "f1_micro",
        "l1",
        "nll",
        "brier",
        "jsd",
        "l1_platt",
        "nll_platt",
        "brier_platt",
        "jsd_platt",
    ]
    lines = ["strategy".ljust(22) + "".join(c.rjust(13) for c in columns)]
    for s, row in report["strategies"].items():
        cells = []
        for c in columns:
            v = row.get(c)
            cells.append(("n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}").rjust(13))
        lines.append(s.ljust(22) + "".join(cells))
    return "\n".join(lines)


def add_command(sub: Any) -> None:
    """Register ``evaluate-labels`` on the CLI's subparsers."""
    ev = sub.add_parser(
        "evaluate-labels",
        help="score records with an instruct model that writes label lists, under every strategy",
        description="Score records (JSONL with categories = the label list and optional "
        "soft_labels, or 'go_emotions') with a model "
        "that answers with a list of label names; print ROC-AUC, F1 and the alignment "
        "with the soft references, raw and Platt-scaled.",
    )
    ev.add_argument("--model", required=True, help="Hub id or local path of a causal LM and its tokenizer")
    ev.add_argument(
        "--dataset", required=True, help="records JSONL path, or 'go_emotions' (the raw rater rows, soft labels)"
    )
    ev.add_argument("--grammar", default="label_list", help=f"the answer's grammar: {', '.join(GRAMMARS)}")
    ev.add_argument(
        "--labels",
        required=True,
        type=lambda t: [x.strip() for x in t.split(",") if x.strip()],
        help="comma-separated label names",
    )
    ev.add_argument("--separator", default=",", help="what separates label names in the answer (default ',')")
    ev.add_argument("--none", default="none", help="the answer's word for no label (default 'none')")
    ev.add_argument(
        "--strategies",
        type=lambda t: [x.strip() for x in t.split(",") if x.strip()],
        help="comma-separated (default: all the grammar supports)",
    )
    ev.add_argument("--prompt-template", default=DEFAULT_PROMPT, help="prompt with {text} and {labels}")
    ev.add_argument("--max-new-tokens", type=int, default=20)
    ev.add_argument("--eps", type=float, default=0.01)
    ev.add_argument("--top-p", type=float, default=0.99)
    ev.add_argument("--num-samples", type=int, help="score the first N records")
    ev.add_argument("--validation-fraction", type=float, default=0.3)
    ev.add_argument("--output-dir", help="write label_list_metrics.json here")


def run_command(args: argparse.Namespace) -> str:
    """Run ``evaluate-labels``; returns the table."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..data import load_go_emotions
    from ..data.records import load_records_jsonl

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    space = label_space_for(tokenizer, args.grammar, args.labels, args.separator, args.none)
    if args.dataset == "go_emotions":
        records = load_go_emotions()
    elif os.path.exists(args.dataset):
        records = load_records_jsonl(args.dataset, taxonomy=None)
    else:
        raise ValueError(
            f"`--dataset` must be a records JSONL path or 'go_emotions', got {args.dataset!r}; no such file."
        )
    if args.num_samples:
        records = records[: args.num_samples]
    report = evaluate_label_lists(
        model,
        tokenizer,
        space,
        records,
        args.strategies,
        prompt_template=args.prompt_template,
        max_new_tokens=args.max_new_tokens,
        eps=args.eps,
        top_p=args.top_p,
        validation_fraction=args.validation_fraction,
    )
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "label_list_metrics.json"), "w") as f:
            json.dump({k: v for k, v in report.items() if k != "texts"}, f, indent=2, default=float)
    return (
        format_table(report)
        + f"\n\n{report['n_test']} test records, {report['n_validation']} validation records (Platt fitted there)."
    )
