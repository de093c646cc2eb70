"""Label lists (Ma et al.) on the command line: ``evaluate-labels``, and ``--labels`` checked against the data.

``marginal-generate evaluate-labels`` is an alias of ``marginal-generate evaluate --grammar label_list``: the
same parser flags, the same :class:`~marginal_generate.evaluation.EvalConfig`, the same runner and outputs. Its
earlier flags of its own still work: ``--separator`` and ``--none`` are evaluate's, and ``--max-new-tokens``,
``--eps`` and ``--top-p`` set every strategy's value, as a ``--params`` file would (:func:`params_of`).

:func:`check_labels` refuses label names that no record of the data carries at all (``--labels joy,anger`` on
Llama Guard data), which would otherwise give a table of zeros without a word.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..labels.taxonomy import category_sort_key
from ..strategies import ALL_STRATEGIES, check_search_param

__all__ = ["ALIAS", "LEGACY_FLAGS", "add_command", "params_of", "check_labels"]

#: The alias's name.
ALIAS = "evaluate-labels"
#: ``evaluate-labels`` flags of its own: flag → the ``params.yaml`` key each strategy gets.
LEGACY_FLAGS: dict[str, str] = {"--max-new-tokens": "max_new_tokens", "--eps": "eps", "--top-p": "top_p"}


def add_command(sub: Any, add_evaluate_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``evaluate-labels`` on the CLI's subparsers: ``evaluate``'s flags (``add_evaluate_arguments``) with
    ``--grammar label_list`` as the default, and the alias's own :data:`LEGACY_FLAGS`."""
    parser = sub.add_parser(
        ALIAS,
        help="alias of 'evaluate --grammar label_list': score a model that writes label lists",
        description="An alias of 'marginal-generate evaluate --grammar label_list' (same flags, same run, same "
        "outputs): score records (JSONL with categories = the label list and optional soft_labels, or "
        "'go_emotions') with a model that answers with a list of label names, under every strategy the grammar "
        "supports, and print the metrics and the alignment with the soft references.",
    )
    add_evaluate_arguments(parser)
    parser.set_defaults(grammar="label_list")
    group = parser.add_argument_group("flags of the earlier evaluate-labels (each sets every strategy's value)")
    group.add_argument("--max-new-tokens", type=int, help="answer tokens (default: the params file's, 20)")
    group.add_argument("--eps", type=float, help="any_place's prefix cut (default: the params file's, 0.01)")
    group.add_argument("--top-p", type=float, help="any_place's nucleus (default: the params file's, 0.99)")


def params_of(args: argparse.Namespace) -> str | dict[str, Any] | None:
    """The run's ``params``: ``--params``, or for ``evaluate-labels`` with any of :data:`LEGACY_FLAGS` a parsed
    params file that sets their values for every strategy. Both at once is a ``ValueError``: one place says it.

    >>> ns = argparse.Namespace(params=None, max_new_tokens=10, eps=None, top_p=None)
    >>> params_of(ns)["strategies"]["any_place"]
    {'max_new_tokens': 10}
    >>> params_of(argparse.Namespace(params=None, max_new_tokens=None, eps=1.5, top_p=None))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --eps must be a number in [0, 1), got 1.5; ...
    """
    given = {
        flag: getattr(args, key)
        for flag, key in LEGACY_FLAGS.items()
        if getattr(args, key, None) is not None  # evaluate's namespace has none of them
    }
    if not given:
        return args.params
    if args.params is not None:
        raise ValueError(
            f"{', '.join(given)} and `--params` {args.params} both set strategy parameters; put "
            f"{', '.join(LEGACY_FLAGS[f] for f in given)} in that file instead (strategies: <name>: ...)."
        )
    values = {LEGACY_FLAGS[flag]: check_search_param(LEGACY_FLAGS[flag], v, name=flag) for flag, v in given.items()}
    return {"strategies": {name: dict(values) for name in ALL_STRATEGIES}}


def check_labels(labels: Sequence[str], records: Iterable[Any], data_name: str, shown: int = 12) -> list[str]:
    """``--labels`` against the records read: a ``ValueError`` when no record carries any of the names (in its
    ``categories`` or ``soft_labels``), else one note per name that no record carries (an empty list when all do).

    >>> from marginal_generate.data import Record
    >>> records = [Record(({"role": "user", "content": "q"},), False, ("S1",))]
    >>> check_labels(["S1", "S2"], records, "d.jsonl")
    ["note: no record of d.jsonl carries the label 'S2' (--labels); its metrics have no positive to find"]
    >>> check_labels(["joy"], records, "d.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `--labels` ['joy']: no record of d.jsonl carries any of them (its records carry S1); pass the ...
    """
    carried: set[str] = set()
    for record in records:
        carried.update(record.categories)
        if isinstance(record.soft_labels, Mapping):
            carried.update(record.soft_labels)
    missing = [name for name in labels if name not in carried]
    if len(missing) < len(labels):
        return [
            f"note: no record of {data_name} carries the label {name!r} (--labels); "
            "its metrics have no positive to find"
            for name in missing
        ]
    names = sorted(carried, key=category_sort_key)
    listed = ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")
    raise ValueError(
        f"`--labels` {list(labels)!r}: no record of {data_name} carries any of them "
        f"(its records carry {listed or 'no label at all'}); pass the label names the data uses, "
        f"e.g. --labels {','.join(names[:3]) or 'joy,anger'}."
    )
