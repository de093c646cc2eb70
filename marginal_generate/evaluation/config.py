"""What a run of ``marginal-generate evaluate`` takes (:class:`EvalConfig`) and its unit of work (:class:`Sample`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .groups import groups_of
from .params import (
    ALL_STRATEGIES,
    DEFAULT_PARAMS,
    canonical_strategy,
    check_model_keys,
    load_params,
)

__all__ = ["CALIBRATORS", "GRAMMARS", "LABEL_LIST_PROMPT", "EvalConfig", "Sample", "grammar_strategies"]

#: ``--grammar`` values: the model writes a Llama Guard verdict and categories, or a list of label names.
GRAMMARS: tuple[str, ...] = ("llama_guard", "label_list")
#: The prompt of a label-list answer; ``{labels}`` lists the names, ``{text}`` is the record's text.
LABEL_LIST_PROMPT = (
    "Labels: {labels}.\nWhich labels apply to the text? Answer with a comma-separated list of labels, or none.\n"
    "Text: {text}\nAnswer: "
)


def grammar_strategies(grammar: str, strategies: Sequence[str] | None) -> list[str]:
    """The strategies of a run on ``grammar``: all it supports when ``strategies`` is None; a ValueError
    naming the grammar for one that needs a Llama Guard verdict or categories prompt (the registry's ``needs``).

    >>> grammar_strategies("label_list", None)
    ['greedy', 'token_probability', 'fixed_place', 'any_place', 'max_over_generations', 'first_generation']
    >>> grammar_strategies("label_list", ["greedy", "unary"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: strategy 'unary' needs a Llama Guard verdict and categories (prompted), and the label_list grammar...
    """
    from ..strategies import REGISTRY

    names = list(dict.fromkeys(canonical_strategy(s) for s in (strategies or ALL_STRATEGIES)))
    if grammar == "llama_guard":
        return names

    def refused(name: str) -> str | None:
        info = REGISTRY[name]
        if info.family in ("prompted", "uncertainty"):
            return info.family
        return "a verbalizer" if "verbalizer" in info.needs else None

    if strategies is None:
        return [s for s in names if refused(s) is None]
    for name in names:
        why = refused(name)
        if why is not None:
            raise ValueError(
                f"strategy {name!r} needs a Llama Guard verdict and categories "
                f"({why}), and the {grammar} grammar has none; "
                "drop it from --strategies, or use --grammar llama_guard."
            )
    return names


def check_names(field: str, names: Sequence[str] | None, example: str) -> list[str] | None:
    """``names`` as a list, or a ``ValueError`` for an empty list or an empty name in it (``--labels S1,,S2``), which
    a comma-separated flag would otherwise drop or read as "all" without a word. None stays None.

    >>> check_names("labels", ["joy", " anger "], "joy,anger")
    ['joy', 'anger']
    >>> check_names("labels", ["S1", "", "S2"], "joy,anger")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `labels` ['S1', '', 'S2'] has an empty name (item 2); separate the names by single commas, e.g. ...
    """
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"`{field}` must be a list of names, got {names!r}; e.g. --{field} {example}.")
    given = [n.strip() for n in names if n.strip()]
    flag = f"--{field} {','.join(given) or example}"
    if not given:
        rest = ", or leave it out for all of them" if field == "strategies" else ""
        raise ValueError(f"`{field}` is empty ({list(names)!r}); name at least one, e.g. {flag}{rest}.")
    for k, n in enumerate(names):
        if not n.strip():
            raise ValueError(
                f"`{field}` {list(names)!r} has an empty name (item {k + 1}); separate the names by single commas, "
                f"e.g. {flag}."
            )
    return [n.strip() for n in names]


#: ``--calibrate`` keys → row suffix.
CALIBRATORS: dict[str, str] = {"ts": "+TS", "cc": "+CC", "bc": "+BC", "platt": "+Platt"}


@dataclass
class EvalConfig:
    """Everything ``marginal-generate evaluate`` takes (see ``marginal-generate evaluate --help``).

    ``model`` / ``dataset`` None: the embedded tiny guard and its held-out data. ``strategies`` None:
    all of :data:`~marginal_generate.evaluation.params.ALL_STRATEGIES`. ``calibrate``: keys of :data:`CALIBRATORS`.
    ``validation_data`` None: a stratified ``validation_fraction`` of the data (seeded) is the
    validation split, the rest the test split. ``resume`` continues the run in ``output_dir``;
    ``overwrite`` replaces it; with neither, a directory holding an earlier run is refused. ``params``: a
    ``params.yaml`` path or its parsed content, merged over the shipped file. ``separator`` and ``none``: how a
    label list separates names and says "no label" (``--grammar label_list``). ``groups``: named groups of labels
    (``--groups 'violence=S1,S9'`` or a mapping) whose P(any of the labels) becomes a column
    (:mod:`~marginal_generate.evaluation.groups`); None takes the ``groups:`` of ``params``, if any.
    ``search_budget_gb``: the tree search's memory budget in GB (``search_budget_gb`` of
    :func:`~marginal_generate.score`; ``math.inf``: no limit); None takes the ``search_budget_gb:`` of ``params``,
    and without one the memory free on the model's device.
    """

    model: str | None = None
    dataset: str | None = None
    split: str | None = None
    columns: dict[str, str] | None = None
    strategies: Sequence[str] | None = None
    params: str | Mapping[str, Any] | None = None
    num_samples: int | None = None
    batch_size: int = 16
    device: str = "auto"
    dtype: str = "auto"
    calibrate: Sequence[str] = ()
    validation_fraction: float = 0.2
    validation_data: str | None = None
    output_dir: str = "marginal-generate-eval"
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    taxonomy: int | None = None
    prompt_format: str = "auto"
    plots: bool = True
    n_bins: int = 15
    progress: bool = True
    threads: int | None = None
    grammar: str = "llama_guard"
    labels: Sequence[str] | None = None
    prompt_template: str | None = None
    separator: str = ","
    none: str = "none"
    groups: str | Mapping[str, Sequence[str]] | None = None
    search_budget_gb: float | None = None

    def __post_init__(self) -> None:
        from ..loading import is_embedded_model

        if self.model is not None and is_embedded_model(self.model):
            self.model = None  # a path to the embedded model is the default model (same fingerprint, same name)
        if self.resume and self.overwrite:
            raise ValueError(
                "`--resume` continues the run in --output-dir and `--overwrite` replaces it; pass one of them."
            )
        if self.grammar not in GRAMMARS:
            raise ValueError(
                f"`grammar` must be one of {list(GRAMMARS)}, got {self.grammar!r}; "
                "e.g. --grammar label_list --labels joy,anger."
            )
        if self.grammar == "label_list":
            if not self.labels:
                raise ValueError(
                    "`labels` is empty; --grammar label_list needs the label names, e.g. --labels joy,anger,sadness."
                )
            self.labels = check_names("labels", self.labels, "joy,anger,sadness")
            if self.prompt_template is None:
                self.prompt_template = LABEL_LIST_PROMPT
            if "{text}" not in self.prompt_template:
                raise ValueError(
                    f"`prompt_template` must contain {{text}}, got {self.prompt_template!r}; "
                    f"e.g. {LABEL_LIST_PROMPT!r}."
                )
        elif self.labels or self.prompt_template is not None or (self.separator, self.none) != (",", "none"):
            raise ValueError(
                "`labels`, `prompt_template`, `separator` and `none` are for --grammar label_list; a Llama "
                "Guard model's labels come from its taxonomy."
            )
        self.strategies = grammar_strategies(
            self.grammar, check_names("strategies", self.strategies, "greedy,any_place")
        )
        self.groups = groups_of(self.groups)
        where = "--groups"
        if self.groups is None:  # the flag wins over the file's `groups:`
            params = load_params(self.params)
            source = "the params mapping" if isinstance(self.params, Mapping) else os.fspath(self.params or "")
            self.groups, where = params.groups, f"the `groups:` of {source}"
        if self.groups and "any_place" not in self.strategies:
            raise ValueError(
                f"`groups` are read from any_place's label sets, and --strategies {','.join(self.strategies)} has no "
                f"any_place; add it (e.g. --strategies any_place) or leave {where} out."
            )
        if self.search_budget_gb is None:  # the flag wins over the file's `search_budget_gb:`
            self.search_budget_gb = load_params(self.params).search_budget_gb
        else:
            from ..decoding.budget import SearchBudget

            SearchBudget.of(self.search_budget_gb)  # its check: a number of GB > 0 (math.inf: no limit)
        calibrate = [c.strip().lower() for c in self.calibrate if c.strip()]
        for c in calibrate:
            if c not in CALIBRATORS:
                raise ValueError(
                    f"`calibrate` has {c!r}; use a comma-separated subset of {list(CALIBRATORS)}, e.g. 'ts,cc,bc'."
                )
        self.calibrate = list(dict.fromkeys(calibrate))
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(
                f"`batch_size` (--batch-size) must be an integer >= 1, got {self.batch_size!r}; 16 is the default."
            )
        if self.num_samples is not None and (not isinstance(self.num_samples, int) or self.num_samples < 1):
            raise ValueError(
                f"`num_samples` (--num-samples) must be an integer >= 1, got {self.num_samples!r}; leave it out (None) "
                "to score every sample."
            )
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"`validation_fraction` (--validation-fraction) must be in [0, 1), got {self.validation_fraction!r}; "
                "0.2 keeps a fifth for validation."
            )
        if self.taxonomy not in (None, 2, 3):
            raise ValueError(
                f"`taxonomy` (--taxonomy) must be 2 or 3 (Llama Guard 2 or 3 taxonomy), got {self.taxonomy!r}."
            )
        if self.dtype not in ("auto", "float32", "bfloat16", "float16", "float64"):
            raise ValueError(
                f"`dtype` (--dtype) must be auto, float32, bfloat16, float16 or float64, got {self.dtype!r}."
            )
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1
        ):
            raise ValueError(
                f"`threads` (--threads) must be an integer >= 1 (CPU threads per process), got {self.threads!r}; "
                "leave --threads out for the default (1 for a model under 100M parameters, else the cores per process)."
            )
        own = isinstance(self.params, Mapping) or (
            self.params is not None and os.path.abspath(os.fspath(self.params)) != DEFAULT_PARAMS
        )
        if own:  # a user's per-model values that match no model would silently do nothing
            check_model_keys(load_params(self.params, over_defaults=False), self.model)


@dataclass(frozen=True)
class Sample:
    """One sample of the run: ``id`` (position in the run), the record, its split."""

    id: int
    record: Any
    split: str
