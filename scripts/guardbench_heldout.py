#!/usr/bin/env python
"""GuardBench on the embedded model's held-out data: its own ``benchmark`` (F1, AUPRC) through
``marginal_generate.integrations.guardbench.moderate_function``, then what GuardBench lacks (the project's ECE, Brier,
the worst-calibrated category) from ``guardbench_report``.

    python scripts/guardbench_heldout.py                                   # any_place
    python scripts/guardbench_heldout.py --strategy any_place --strategy greedy
    python scripts/guardbench_heldout.py --policy policy.json              # + the metrics at its unsafe threshold

The held-out records (``marginal_generate.DEFAULT_EVAL_DATA``) become a GuardBench custom data set (``id``,
``label`` = unsafe, ``conversation``, and ``categories`` for the report) in a GuardBench data folder
(``--dev-path``, default a temporary one: nothing is downloaded and ``~/.guardbench-dev`` is left alone). GuardBench
writes its predictions under ``--out-dir``; each strategy's side file goes there too. Needs
``pip install 'marginal-generate[guardbench]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import marginal_generate as mg  # noqa: E402
from marginal_generate.integrations.scoring import BRIDGE_STRATEGIES  # noqa: E402

DATASET = "tiny_guard_heldout"


def guardbench_samples(records: list[mg.Record]) -> list[dict]:
    """GuardBench's sample format for the records: ``id`` (their position), ``label`` (True: unsafe),
    ``conversation`` and ``categories``."""
    return [
        {
            "id": f"heldout-{k}",
            "label": not r.is_safe,
            "conversation": [{"role": m["role"], "content": m["content"]} for m in r.conversation],
            "categories": list(r.categories),
        }
        for k, r in enumerate(records)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", action="append", choices=BRIDGE_STRATEGIES, help="repeat for several")
    parser.add_argument("--batch-size", type=int, default=32, help="conversations per batch (default 32)")
    parser.add_argument("--policy", default=None, help="a policy file (marginal-generate policy) for the report")
    parser.add_argument("--dev-path", default=None, help="GuardBench's data folder (default: a temporary one)")
    parser.add_argument("--out-dir", default=None, help="GuardBench's results and the side files (default: temp)")
    parser.add_argument("--json", default=None, help="also write the reports to this JSON file")
    parser.add_argument("--limit", type=int, default=None, help="score N records spread over the data (a quick run)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.limit is not None and args.limit < 2:
        parser.error(f"--limit must be >= 2 (the data has safe and unsafe records), got {args.limit}")
    policy = None
    if args.policy is not None:
        try:
            policy = mg.load_policy(args.policy)
        except ValueError as err:
            parser.error(str(err))
    strategies = args.strategy or ["any_place"]
    dev_path = args.dev_path or tempfile.mkdtemp(prefix="guardbench-dev-")
    out_dir = Path(args.out_dir or tempfile.mkdtemp(prefix="guardbench-results-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GUARDBENCH_DEV_PATH"] = dev_path  # before GuardBench is imported: it reads it on every path

    import guardbench

    from marginal_generate.integrations.guardbench import moderate_function
    from marginal_generate.integrations.report import guardbench_report

    data = out_dir / f"{DATASET}.jsonl"
    records = mg.load_default_eval_data()
    if args.limit is not None and args.limit < len(records):
        records = records[:: len(records) // args.limit][: args.limit]  # spread: the file lists unsafe, then safe
    data.write_text("".join(json.dumps(s) + "\n" for s in guardbench_samples(records)))
    guardbench.CustomDataset(DATASET).load_data(data)
    model, tokenizer = mg.load_default()
    reports = {}
    for strategy in strategies:
        side = out_dir / f"side-{strategy}.jsonl"
        side.unlink(missing_ok=True)
        moderate = moderate_function(model, tokenizer, strategy=strategy, side_file=side, batch_size=args.batch_size)
        guardbench.benchmark(
            moderate=moderate,
            model_name=f"tiny-guard-{strategy}",
            out_dir=str(out_dir),
            batch_size=args.batch_size,
            datasets=[DATASET],
            metrics=["f1", "auprc", "precision", "recall"],
        )
        fitted_on = None if policy is None else policy.provenance.get("strategy", strategy)
        report = guardbench_report(DATASET, side, policy=policy if fitted_on == strategy else None)
        reports[strategy] = report.to_dict()
        print(report.table(), end="\n\n")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n")
    print(f"GuardBench's predictions and the side files: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
