"""``marginal-generate policy RUN_DIR``: fit a policy on an evaluation run's validation (calibration) split, report
it on the test split, write the policy file; and ``evaluate --policy FILE``, which applies one to the run it makes.

>>> parser = argparse.ArgumentParser(prog="marginal-generate")
>>> add_command(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["policy", "run", "--target", "recall=0.9", "--target", "S1:recall=0.95"])
>>> command_targets(args.target, "--target")
{'S1': 'recall=0.95', '*': 'recall=0.9'}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .fit import fit_policy, refusals
from .policy import Policy, load_policy
from .run import format_split_report, load_run, split_report

__all__ = [
    "add_command",
    "main",
    "run_command",
    "command_targets",
    "add_evaluate_flag",
    "check_for_run",
    "apply_to_run",
    "print_decisions",
]

DECISIONS_FILE = "policy_decisions.json"


def add_command(sub: Any) -> None:
    """Add the ``policy`` subcommand to ``marginal-generate``'s subparsers."""
    cmd = sub.add_parser(
        "policy",
        help="fit per-label thresholds with a finite-sample guarantee on an evaluation run, and write a policy file",
        description="Fit, on the validation (calibration) split of a finished `marginal-generate evaluate` run, "
        "one threshold per label that meets a target in the population with probability --confidence; report "
        "what it achieves on the test split (bootstrap intervals) and write the policy file (JSON).",
    )
    cmd.add_argument("run_dir", metavar="RUN_DIR", help="the --output-dir of a finished evaluate run")
    cmd.add_argument("--strategy", default="any_place", help="whose scores to fit (default any_place)")
    cmd.add_argument(
        "--target",
        action="append",
        help="kind=value with kind recall (>=), fpr (<=) or precision (>=), e.g. recall=0.9 (the default); "
        "LABEL:kind=value for one label (repeat the flag)",
    )
    cmd.add_argument(
        "--review",
        action="append",
        help="a second target, e.g. fpr=0.01: between the two thresholds samples go to review "
        "(block above both, allow below both); LABEL:kind=value for one label",
    )
    cmd.add_argument(
        "--confidence", type=float, default=0.9, help="probability that each label meets its target (default 0.9)"
    )
    cmd.add_argument(
        "--best-effort",
        action="store_true",
        help="give labels with too few positives (or negatives) for the guarantee a threshold that meets the target "
        "on the validation split only, marked unguaranteed (default: leave them out)",
    )
    cmd.add_argument("--out", default="policy.json", help="the policy file to write (default policy.json)")
    cmd.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the test intervals")
    cmd.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default 0)")


def command_targets(items: list[str] | None, flag: str) -> dict[str, str] | None:
    """``--target`` values as ``{label or "*": "kind=value"}``; None when the flag was not given."""
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        label, _, spec = item.rpartition(":")
        key = label.strip() or "*"
        if key in out:
            raise ValueError(f"`{flag}` gives {'every label' if key == '*' else key} two targets; give one.")
        out[key] = spec.strip()
    return dict(sorted(out.items(), key=lambda kv: kv[0] == "*"))


def _targets_for(given: dict[str, str] | None, labels: tuple[str, ...], flag: str) -> Any:
    """The ``target`` / ``review`` argument of :func:`fit_policy` for ``labels``."""
    if given is None:
        return None
    unknown = [k for k in given if k != "*" and k not in labels]
    if unknown:
        raise ValueError(f"`{flag}` names {unknown}, which are not labels of the run ({', '.join(labels)}).")
    if set(given) == {"*"}:
        return given["*"]
    return {label: given.get(label, given.get("*")) for label in labels if label in given or "*" in given}


def _check_out(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise ValueError(f"`--out` {path} cannot be written; pass a file path in a directory you can write to.")


def run_command(args: argparse.Namespace) -> str:
    """Fit, report, write; returns what to print. A ``ValueError`` (one line) for anything wrong."""
    if not 0 < args.confidence < 1:
        raise ValueError(f"`--confidence` must be strictly between 0 and 1, e.g. 0.9; got {args.confidence}.")
    if args.bootstrap < 1:
        raise ValueError(f"`--bootstrap` must be at least 1, e.g. 1000; got {args.bootstrap}.")
    _check_out(args.out)
    run = load_run(args.run_dir, args.strategy)
    val_p, val_y = run.split("validation")
    if len(val_p) == 0:
        raise ValueError(
            f"{args.run_dir} has no validation samples to fit on; run evaluate with --validation-fraction > 0 "
            "or --validation-data."
        )
    target = _targets_for(command_targets(args.target, "--target") or {"*": "recall=0.9"}, run.labels, "--target")
    review = _targets_for(command_targets(args.review, "--review"), run.labels, "--review")
    policy = fit_policy(
        val_p,
        val_y,
        labels=run.labels,
        target=target,
        confidence=args.confidence,
        review=review,
        best_effort=args.best_effort,
        skip_refused=True,
        provenance=run.provenance,
    )
    test_p, test_y = run.split("test")
    report = split_report(policy, test_p, test_y, run.labels, args.bootstrap, args.seed)
    policy.save(args.out)
    targets = sorted({str(t) for t in policy.targets.values()})
    reviews = sorted({str(r.review.target) for r in policy.rules.values() if r.review is not None})
    lines = [
        f"policy for {args.strategy}: {', '.join(targets)} at confidence {args.confidence:g}"
        + (f"; review: {', '.join(reviews)}" if reviews else "")
        + f"; fitted on {policy.validation_size} validation samples, reported on {report['samples']} test samples "
        f"(percentile bootstrap, {args.bootstrap} resamples, seed {args.seed})",
        format_split_report(policy, report),
    ]
    if policy.review_rate is not None:
        lines.append(f"expected review rate (validation): {policy.review_rate:.1%} of samples")
    if policy.refused:
        lines.append(f"left out ({len(policy.refused)} label(s)): {refusals(policy.refused)}")
    lines.append(f"written to {args.out} ({len(policy.labels)} label(s))")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """``marginal-generate policy``: print the report and return 0, or one error line and 2."""
    try:
        print(run_command(args))
    except ValueError as err:
        print(f"marginal-generate: error: {err}", file=sys.stderr)
        return 2
    return 0


def add_evaluate_flag(ev: argparse.ArgumentParser) -> None:
    """``evaluate --policy FILE``."""
    ev.add_argument(
        "--policy",
        help="a policy file (marginal-generate policy): apply it to the test split of this run and print the "
        "block / review / allow counts per label (also policy_decisions.json)",
    )


def check_for_run(path: str | None, strategies: Any) -> Policy | None:
    """Before ``evaluate`` runs: the policy file, loaded, and a ``ValueError`` when the run will not score its
    strategy (None without ``--policy``)."""
    if path is None:
        return None
    policy = load_policy(path)
    strategy = policy.provenance.get("strategy")
    if strategy is not None and strategies is not None and strategy not in list(strategies):
        raise ValueError(
            f"`--policy` {path} was fitted on {strategy} scores, but --strategies does not score {strategy}; "
            f"add it to --strategies."
        )
    return policy


def apply_to_run(policy: Policy, run_dir: str) -> str:
    """Apply ``policy`` to the test split of the finished run in ``run_dir``: the outcome table (also written to
    ``policy_decisions.json`` there)."""
    run = load_run(run_dir, policy.provenance.get("strategy") or "any_place")
    test_p, test_y = run.split("test")
    report = split_report(policy, test_p, test_y, run.labels)
    with open(os.path.join(run_dir, DECISIONS_FILE), "w", encoding="utf-8") as f:
        f.write(json.dumps({"policy": policy.provenance, **report}, indent=2, allow_nan=False) + "\n")
    return f"policy decisions on the test split ({run.provenance['strategy']}):\n" + format_split_report(policy, report)


def print_decisions(policy: Policy, run_dir: str) -> int:
    """After ``evaluate --policy``: print :func:`apply_to_run`'s table and return 0, or one error line and 2 (the
    run's own files are written already)."""
    try:
        print("\n" + apply_to_run(policy, run_dir))
    except ValueError as err:
        print(f"marginal-generate: error: --policy: {err}", file=sys.stderr)
        return 2
    return 0
