"""The ``marginal-generate`` command.

``marginal-generate evaluate`` with no arguments scores the embedded tiny guard's held-out data
offline under every strategy and prints the table; see ``marginal-generate evaluate --help``.
Until the console script is installed: ``python -m marginal_generate.cli evaluate``.
Data-parallel: ``accelerate launch -m marginal_generate.cli evaluate ...`` (on CPU:
``ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 -m marginal_generate.cli evaluate``).

>>> parser = build_parser()
>>> args = parser.parse_args(["evaluate", "--strategies", "greedy_generation,any_place", "--calibrate", "ts,bc"])
>>> config_from_args(args).strategies, config_from_args(args).calibrate
(['greedy', 'any_place'], ['ts', 'bc'])
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .commands import search_budget_gb
from .evaluation import CALIBRATORS, EvalConfig, label_lists, run_evaluation
from .evaluation.groups import format_group_table
from .policy import cli as policy_cli
from .serving import command as serve_command
from .space import command as space_command
from .strategies import ALIASES, ALL_STRATEGIES

__all__ = ["build_parser", "config_from_args", "main"]


def _columns(text: str) -> dict[str, str]:
    out = {}
    for item in text.split(","):
        if "=" not in item:
            raise argparse.ArgumentTypeError(
                f"--columns item {item!r} is not key=column; e.g. prompt=question,categories=labels"
            )
        key, column = item.split("=", 1)
        out[key.strip()] = column.strip()
    return out


def _list(text: str) -> list[str]:
    """Comma-separated names, empty ones kept: :class:`EvalConfig` refuses them with a message (``S1,,S2``)."""
    return [t.strip() for t in text.split(",")]


def package_version() -> str:
    """The installed package's version (its metadata), or ``unknown`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("marginal-generate")
    except PackageNotFoundError:
        return "unknown (not installed; pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marginal-generate", description="Per-label probabilities from generative guard models."
    )
    parser.add_argument("--version", action="version", version=f"marginal-generate {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser(
        "evaluate",
        help="score a data set under every strategy, calibrate, and print the metrics table",
        description="Score a data set with a guard model under every strategy, "
        "calibrate on a validation split, and print "
        "the strategy-by-metric table (also written as CSV and JSON, with per-sample JSONL and reliability diagrams).",
    )
    add_evaluate_arguments(ev)
    label_lists.add_command(sub, add_evaluate_arguments)  # evaluate-labels: evaluate --grammar label_list
    space_command.add_command(sub)  # space: the Gradio Space from the installed package
    serve_command.add_command(sub)  # serve: OpenAI's /v1/moderations, /v1/classify, /metrics
    policy_cli.add_command(sub)  # policy: per-label thresholds with a guarantee, fitted on a run
    return parser


def add_evaluate_arguments(ev: argparse.ArgumentParser) -> None:
    """The flags of ``evaluate`` (``evaluate-labels``, its alias for label lists, takes the same)."""
    ev.add_argument("--model", help="Hub id or local path (default: the embedded tiny guard, offline)")
    ev.add_argument(
        "--dataset",
        help="seed JSONL path, records JSONL path, 'beavertails', or any datasets "
        "name/folder/file with --columns (default: the embedded "
        "model's held-out data). Records with soft_labels (the fraction of "
        "raters per label: aggregate rater-level rows with "
        "marginal_generate.data.load_rater_annotations and write them with "
        "save_records_jsonl) add a second table, alignment with the "
        "soft references (L1, NLL, Brier, JSD; also alignment.json)",
    )
    ev.add_argument(
        "--split",
        help="split of a datasets source (BeaverTails: 30k_test; a Hub data set "
        "or a saved DatasetDict); not for a single file",
    )
    ev.add_argument(
        "--columns",
        type=_columns,
        help="column map for a datasets source or a CSV / Parquet / other JSONL file (read through datasets): "
        "prompt=...,response=...,categories=...,is_safe=...|unsafe=...",
    )
    ev.add_argument(
        "--strategies",
        type=_list,
        help=f"comma-separated (default: all): {', '.join(ALL_STRATEGIES)}; seed names {', '.join(ALIASES)} accepted",
    )
    ev.add_argument("--params", help="params.yaml in the seed's shape (default: the shipped one)")
    ev.add_argument("--num-samples", type=int, help="score a seeded random subset of this many samples")
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: the process's device)")
    ev.add_argument(
        "--dtype", default="auto", help="auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16, float16"
    )
    ev.add_argument(
        "--calibrate",
        type=_list,
        default=[],
        help=f"comma-separated calibrators fitted on the validation split: {', '.join(CALIBRATORS)} "
        "(platt fits on the soft references where the data has them)",
    )
    ev.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="stratified share of the data held out for calibration and thresholds (default 0.2)",
    )
    ev.add_argument(
        "--validation-data", help="a separate validation data set (same forms as --dataset) instead of a split"
    )
    ev.add_argument(
        "--output-dir", default="marginal-generate-eval", help="where results go (default: ./marginal-generate-eval)"
    )
    ev.add_argument(
        "--resume", action="store_true", help="continue the run in --output-dir, skipping samples already scored"
    )
    ev.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --output-dir (without --resume or --overwrite, "
        "a directory holding an earlier run is refused)",
    )
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument(
        "--taxonomy",
        type=int,
        choices=(2, 3),
        help="Llama Guard taxonomy, 2 or 3 (default: 2 for *Guard-2* models, else 3)",
    )
    ev.add_argument(
        "--prompt-format",
        default="auto",
        help="auto, chat_template, the published templates llama_guard_3, "
        "llama_guard_3_1b, shieldgemma, granite_guardian, "
        "or llama_guard_2, instruct (run.json records what auto resolved to)",
    )
    ev.add_argument(
        "--grammar",
        default="llama_guard",
        choices=("llama_guard", "label_list"),
        help="what the model writes: llama_guard (a verdict and categories, labels "
        "from the taxonomy; default) or label_list "
        "(a comma-separated list of --labels, or none; Ma et al.)",
    )
    ev.add_argument(
        "--labels", type=_list, help="comma-separated label names for --grammar label_list, e.g. joy,anger,sadness"
    )
    ev.add_argument(
        "--prompt-template",
        help="for --grammar label_list: the prompt with {text} (the record's text) and "
        "{labels} (the names); default: an instruct prompt",
    )
    ev.add_argument(
        "--separator", default=",", help="for --grammar label_list: what separates names in the answer (default ',')"
    )
    ev.add_argument("--none", default="none", help="for --grammar label_list: the answer's word for no label")
    ev.add_argument(
        "--groups",
        help="named groups of labels scored as P(any of them) from any_place's label sets, a column each with "
        "the unsafe column's metrics, e.g. 'violence=S1,S9;sexual=S3,S4,S12'",
    )
    ev.add_argument(
        "--search-budget-gb",
        help="memory the any_place tree search may hold, in GB (inf: no limit); a search past it is refused before "
        "it allocates, and that sample fails with what to change (default: the params file's search_budget_gb, "
        "else the memory free on the model's device)",
    )
    ev.add_argument("--no-plots", action="store_true", help="skip the reliability diagrams")
    ev.add_argument(
        "--threads",
        type=int,
        help="CPU threads per process (default: 1 for a model under 100M parameters, else the cores per process)",
    )
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")
    policy_cli.add_evaluate_flag(ev)  # --policy FILE


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    return EvalConfig(
        model=args.model,
        dataset=args.dataset,
        split=args.split,
        columns=args.columns,
        strategies=args.strategies,
        params=label_lists.params_of(args),
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        calibrate=args.calibrate,
        validation_fraction=args.validation_fraction,
        validation_data=args.validation_data,
        output_dir=args.output_dir,
        resume=args.resume,
        overwrite=args.overwrite,
        seed=args.seed,
        taxonomy=args.taxonomy,
        prompt_format=args.prompt_format,
        plots=not args.no_plots,
        progress=not args.no_progress,
        threads=args.threads,
        grammar=args.grammar,
        labels=args.labels,
        prompt_template=args.prompt_template,
        separator=args.separator,
        none=args.none,
        groups=args.groups,
        search_budget_gb=search_budget_gb(args.search_budget_gb),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``marginal-generate``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "space":
        return space_command.run_command(args)
    if args.command == "serve":
        return serve_command.run_command(args)
    if args.command == "policy":
        return policy_cli.main(args)
    try:  # evaluate, or its alias evaluate-labels (--grammar label_list)
        config = config_from_args(args)
        policy = policy_cli.check_for_run(args.policy, config.strategies)
        report = run_evaluation(config)
    except ValueError as err:
        print(f"marginal-generate: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if os.environ.get("RANK", "0") == "0":  # data parallel: the main process says it once
            print(f"marginal-generate: interrupted: {interrupted(args.output_dir, argv)}", file=sys.stderr)
        return 130
    if report is None:  # not the main process
        return 0
    print(report.table())
    if report.details.get("groups"):
        print("\n" + format_group_table(report.details["groups"]))
    if report.alignment:
        print("\n" + report.alignment_table())
    print(f"\nwritten to {config.output_dir}: {', '.join(written_files(config.output_dir))}")
    counts = report.details.get("samples", {})
    samples, now, failed = report.samples, report.scored_now, counts.get("failed", 0)
    rate = now / report.wall_time_s if report.wall_time_s > 0 else float("nan")
    skipped = counts.get("skipped_records", 0)
    print(
        f"done: {samples} samples ({now} scored now, {report.resumed} from an earlier run; {failed} of them failed"
        + (f"; {skipped} record(s) of the data skipped" if skipped else "")
        + f") in {report.wall_time_s:.1f} s wall, {rate:.1f} samples/s"
    )
    return 0 if policy is None else policy_cli.print_decisions(policy, config.output_dir)


def interrupted(output_dir: str, argv: Sequence[str] | None) -> str:
    """What a run stopped by Ctrl-C saved in ``output_dir``, and the command that continues it: ``argv`` (default
    ``sys.argv[1:]``) with ``--resume`` instead of ``--overwrite``, or the same command when nothing was saved.

    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> interrupted(out, ["evaluate", "--output-dir", out])  # doctest: +ELLIPSIS
    'nothing was scored yet; start again with: marginal-generate evaluate --output-dir ...'
    >>> with open(os.path.join(out, "samples.rank0.jsonl"), "w") as f:
    ...     _ = f.write('{"sample": 3}\\n{"sample": 5}\\n{"sam')
    >>> interrupted(out, ["evaluate", "--overwrite", "--output-dir", out])  # doctest: +ELLIPSIS
    '2 scored sample(s) are saved in ...; continue with: marginal-generate evaluate --output-dir ... --resume'
    """
    import shlex

    from .evaluation.results import read_jsonl_results, result_files

    words = list(sys.argv[1:] if argv is None else argv)
    saved, _ = read_jsonl_results(result_files(output_dir))  # scores.jsonl (a resumed run's) and the journals
    if not saved:
        return f"nothing was scored yet; start again with: {shlex.join(['marginal-generate', *words])}"
    resume = [w for w in words if w != "--overwrite"] + ([] if "--resume" in words else ["--resume"])
    return (
        f"{len(saved)} scored sample(s) are saved in {output_dir}; continue with: "
        f"{shlex.join(['marginal-generate', *resume])}"
    )


def written_files(output_dir: str) -> list[str]:
    """The files of a run's output directory, sorted, the reliability diagrams as one ``plots/*.png (N)`` entry."""
    names = sorted(
        n for n in os.listdir(output_dir) if os.path.isfile(os.path.join(output_dir, n)) and not n.startswith(".")
    )
    plots = os.path.join(output_dir, "plots")
    pngs = [n for n in os.listdir(plots) if n.endswith(".png")] if os.path.isdir(plots) else []
    return names + ([f"plots/*.png ({len(pngs)})"] if pngs else [])


if __name__ == "__main__":
    sys.exit(main())
