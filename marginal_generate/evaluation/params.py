"""``params.yaml``: per-strategy parameters of the evaluation, in the seed repository's shape.

A file has four top-level keys, all optional::

    strategies:
      marginal_probability_at_any_place:   # the seed's name; `any_place` is the same
        top_p: 0.99
        max_new_tokens: 50
        eps: 0.01
    models:
      meta-llama/Llama-3.1-8B-Instruct:
        top_p: 0.9                           # overrides every strategy's top_p for this model
        strategies:                          # per-strategy overrides for this model (take precedence)
          any_place: {eps: 0.001}
    groups:                                  # named groups of labels, as `evaluate --groups` (the flag wins)
      violence: [S1, S9]
    search_budget_gb: 4                      # the tree search's memory budget (GB), as `--search-budget-gb`

Keys of a strategy: ``top_p`` (the ``any_place`` tree's nucleus), ``max_new_tokens``, ``eps``
(the ``any_place`` prefix cut), ``threshold`` (the decision threshold on a label's probability;
for the uncertainty baselines the uncertainty above which the top two categories are taken,
``auto`` = picked on the validation split). Precedence, lowest first: the built-in defaults
(:class:`StrategyParams`), ``strategies.<name>``, ``models.<model>``, ``models.<model>.strategies.<name>``.
A model entry matches the exact model id or path, or its last path component; the embedded tiny guard
(no ``--model``, or a path to it) is ``tiny-guard``. A user's file whose ``models`` entries match none of
the run's model is refused (:func:`check_model_keys`): its overrides would silently do nothing.

Strategy names are the registry's (:data:`marginal_generate.strategies.ALL_STRATEGIES`: the core's, the
prompted ones and the uncertainty baselines) and the seed's aliases (:data:`ALIASES`). An unknown key is a
``ValueError`` naming it. ``groups`` maps a group's name to its labels
(:mod:`~marginal_generate.evaluation.groups`); a user's file's ``groups`` replace the shipped file's whole.
``search_budget_gb`` is ``search_budget_gb`` of :func:`marginal_generate.score` (GB above 0, ``.inf`` for no
limit; absent or null: the memory free on the model's device); ``evaluate --search-budget-gb`` wins over it.

>>> p = parse_params({"strategies": {"marginal_probability_at_any_place": {"eps": 0.05}},
...                   "models": {"org/guard": {"top_p": 0.9}}})
>>> p.for_model("org/guard")["any_place"]
StrategyParams(top_p=0.9, eps=0.05, max_new_tokens=20, threshold=0.5)
>>> p.for_model("/local/copy/of/guard")["any_place"].top_p
0.9
>>> parse_params({"models": {"tiny-guard": {"eps": 0.05}}}).for_model(None)["any_place"].eps
0.05
>>> parse_params({"groups": {"violence": ["S1", "S9"]}}).groups
{'violence': ['S1', 'S9']}
>>> parse_params({"search_budget_gb": 4}).search_budget_gb
4.0
>>> parse_params({"strategies": {"greedy": {"temperature": 1.0}}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: params: strategies.greedy has unknown key 'temperature'; allowed keys are ['eps', 'max_new_tokens'...
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..strategies import (
    ALIASES,
    ALL_STRATEGIES,
    REGISTRY,
    UNCERTAINTY_STRATEGIES,
    canonical_strategy,
    check_search_param,
)
from .groups import groups_of

__all__ = [
    "UNCERTAINTY_STRATEGIES",
    "ALL_STRATEGIES",
    "ALIASES",
    "DEFAULT_PARAMS",
    "StrategyParams",
    "Params",
    "canonical_strategy",
    "parse_params",
    "merge_params",
    "load_params",
    "check_model_keys",
]

#: The shipped parameter file.
DEFAULT_PARAMS: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "params.yaml")

_KEYS = ("eps", "max_new_tokens", "threshold", "top_p")
_TOP_KEYS = ("strategies", "models", "groups", "search_budget_gb")


@dataclass(frozen=True)
class StrategyParams:
    """The resolved parameters of one strategy. ``threshold=None`` means "pick on the validation split"."""

    top_p: float = 0.99
    eps: float = 0.01
    max_new_tokens: int = 20
    threshold: float | None = 0.5


def _defaults(strategy: str) -> StrategyParams:
    """The registry's defaults of ``strategy`` (:data:`marginal_generate.strategies.REGISTRY`)."""
    return dataclasses.replace(StrategyParams(), **REGISTRY[strategy].defaults)


def _check_value(where: str, key: str, value: Any, strategy: str | None) -> Any:
    """One key's value, checked; ``strategy`` None means a model-wide override (any strategy)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key != "threshold":
        check_search_param(key, value, name=f"params: {where}.{key}")
    else:
        uncertainty = strategy is None or strategy in UNCERTAINTY_STRATEGIES
        if value is None or value == "auto":
            if not uncertainty:
                raise ValueError(
                    f"params: {where}.threshold is {value!r}, but only the uncertainty "
                    "baselines pick a threshold on the "
                    "validation split; give a probability in [0, 1] such as 0.5."
                )
            return None
        if not number or value < 0 or (not uncertainty and value > 1):
            bound = "a number >= 0 or 'auto'" if uncertainty else "a probability in [0, 1]"
            raise ValueError(f"params: {where}.threshold must be {bound}, got {value!r}.")
        return float(value)
    return float(value) if key in ("top_p", "eps") else value


def _check_block(where: str, block: Any, strategy: str | None, nested: bool = False) -> dict[str, Any]:
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise ValueError(f"params: {where} must be a mapping of keys {list(_KEYS)}, got {type(block).__name__}.")
    out: dict[str, Any] = {}
    for key, value in block.items():
        if nested and key == "strategies":
            continue
        if key not in _KEYS:
            allowed = sorted([*_KEYS, "strategies"]) if nested else list(_KEYS)
            raise ValueError(f"params: {where} has unknown key {key!r}; allowed keys are {allowed}.")
        out[key] = _check_value(where, key, value, strategy)
    return out


def _check_strategies(where: str, block: Any) -> dict[str, dict[str, Any]]:
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise ValueError(
            f"params: {where} must be a mapping of strategy name → parameters, got {type(block).__name__}."
        )
    out: dict[str, dict[str, Any]] = {}
    for name, params in block.items():
        try:
            canonical = canonical_strategy(str(name))
        except ValueError as err:
            raise ValueError(f"params: {where} has unknown key {name!r}: {err}") from None
        out.setdefault(canonical, {}).update(_check_block(f"{where}.{name}", params, canonical))
    return out


@dataclass
class Params:
    """Checked parameters: per-strategy values and per-model overrides (see the module docstring)."""

    strategies: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_strategies: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    source: str = "<dict>"
    groups: dict[str, list[str]] | None = None
    search_budget_gb: float | None = None

    def _model_key(self, model: str | None) -> str | None:
        """The ``models`` entry of ``model`` (None: the embedded tiny guard), or None."""
        if model is None:
            from ..default_model import DEFAULT_MODEL

            model = DEFAULT_MODEL
        if model in self.models:
            return model
        tail = os.path.basename(os.path.normpath(str(model)))
        for key in self.models:
            if os.path.basename(key) == tail:
                return key
        return None

    def for_model(self, model: str | None = None, strategies: Any = None) -> dict[str, StrategyParams]:
        """Resolved :class:`StrategyParams` per strategy (all strategies, or those named) for ``model``."""
        names = ALL_STRATEGIES if strategies is None else [canonical_strategy(s) for s in strategies]
        key = self._model_key(model)
        out = {}
        for name in names:
            base = _defaults(name)
            values = dict(self.strategies.get(name, {}))
            if key is not None:
                model_wide = dict(self.models[key])
                if "threshold" in model_wide and model_wide["threshold"] is None and name not in UNCERTAINTY_STRATEGIES:
                    model_wide.pop("threshold")  # 'auto' applies to the uncertainty baselines only
                values.update(model_wide)
                values.update(self.model_strategies.get(key, {}).get(name, {}))
            out[name] = dataclasses.replace(base, **values)
        return out


def _check_groups(source: str, block: Any) -> dict[str, list[str]] | None:
    """The ``groups:`` block as ``{name: [labels]}`` (None: absent); its errors name the file.

    >>> _check_groups("p.yaml", {"violence": "S1,S9"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: params: p.yaml groups: group 'violence' must list label names, got 'S1,S9'; e.g. violence: [S1, S9].
    """
    if block is None:
        return None
    if not isinstance(block, Mapping) or not block:
        raise ValueError(
            f"params: {source} groups: must map each group's name to its labels, got {block!r}; "
            "e.g. groups: {violence: [S1, S9]}."
        )
    for name, members in block.items():
        if isinstance(members, str) or not isinstance(members, (list, tuple)):
            raise ValueError(
                f"params: {source} groups: group {name!r} must list label names, got {members!r}; "
                f"e.g. {name}: [S1, S9]."
            )
    try:
        return groups_of({str(name): [str(m) for m in members] for name, members in block.items()})
    except ValueError as err:
        raise ValueError(f"params: {source} groups: {str(err).removeprefix('`groups` ')}") from None


def _check_budget(source: str, value: Any) -> float | None:
    """The ``search_budget_gb:`` value (None: absent or null); its error names the file.

    >>> _check_budget("p.yaml", 0)
    Traceback (most recent call last):
    ...
    ValueError: params: p.yaml search_budget_gb must be a number of GB above 0 (.inf for no limit), got 0; e.g. search_budget_gb: 4, or leave it out for the memory free on the model's device.
    """  # noqa: E501
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(
            f"params: {source} search_budget_gb must be a number of GB above 0 (.inf for no limit), got {value!r}; "
            "e.g. search_budget_gb: 4, or leave it out for the memory free on the model's device."
        )
    return float(value)


def parse_params(data: Any, source: str = "<dict>") -> Params:
    """Check a parsed ``params.yaml`` (a mapping) and return :class:`Params`."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(
            f"params: {source} must hold a mapping with keys 'strategies', 'models', 'groups' and "
            f"'search_budget_gb', got {type(data).__name__}."
        )
    for key in data:
        if key not in _TOP_KEYS:
            raise ValueError(
                f"params: {source} has unknown top-level key {key!r}; allowed keys are {sorted(_TOP_KEYS)}."
            )
    params = Params(
        strategies=_check_strategies("strategies", data.get("strategies")),
        source=source,
        groups=_check_groups(source, data.get("groups")),
        search_budget_gb=_check_budget(source, data.get("search_budget_gb")),
    )
    models = data.get("models") or {}
    if not isinstance(models, Mapping):
        raise ValueError(f"params: models must be a mapping of model id → overrides, got {type(models).__name__}.")
    for model, block in models.items():
        where = f"models.{model}"
        params.models[str(model)] = _check_block(where, block, None, nested=True)
        if isinstance(block, Mapping) and "strategies" in block:
            params.model_strategies[str(model)] = _check_strategies(f"{where}.strategies", block["strategies"])
    return params


def merge_params(base: Params, over: Params) -> Params:
    """``over`` merged into ``base`` key by key: a strategy's (or model's) keys that ``over`` sets replace
    ``base``'s, the others stay. So a file that sets one ``top_p`` changes that value only.

    >>> base = parse_params({"strategies": {"any_place": {"top_p": 0.99,
    ...     "max_new_tokens": 20}, "greedy": {"max_new_tokens": 20}}})
    >>> merged = merge_params(base, parse_params({"strategies": {"any_place": {"top_p": 0.9}}}))
    >>> merged.strategies
    {'any_place': {'top_p': 0.9, 'max_new_tokens': 20}, 'greedy': {'max_new_tokens': 20}}
    """

    def merged(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out = {k: dict(v) for k, v in a.items()}
        for k, v in b.items():
            out.setdefault(k, {}).update(v)
        return out

    model_strategies = {k: merged({}, v) for k, v in base.model_strategies.items()}
    for model, blocks in over.model_strategies.items():
        model_strategies[model] = merged(model_strategies.get(model, {}), blocks)
    return Params(
        strategies=merged(base.strategies, over.strategies),
        models=merged(base.models, over.models),
        model_strategies=model_strategies,
        source=f"{over.source} over {base.source}",
        groups=over.groups if over.groups is not None else base.groups,
        search_budget_gb=over.search_budget_gb if over.search_budget_gb is not None else base.search_budget_gb,
    )


def check_model_keys(params: Params, model: str | None) -> None:
    """A ``ValueError`` when ``params`` has ``models`` entries and none of them is ``model`` (None: the embedded
    tiny guard): the file's per-model values would silently not apply. A file for several models (the seed's
    shape) passes when one entry matches.

    >>> check_model_keys(parse_params({"models": {"org/guard": {"top_p": 0.9}}}), "/local/copy/of/guard")
    >>> check_model_keys(parse_params({"models": {"org/guard-x": {"top_p": 0.9}}}), None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: params: <dict> sets models ['org/guard-x'], and none of them is this run's model (the embedded tiny...
    """
    if not params.models or params._model_key(model) is not None:
        return
    name = "the embedded tiny guard, key tiny-guard" if model is None else repr(model)
    raise ValueError(
        f"params: {params.source} sets models {sorted(params.models)}, and none of them is this run's model "
        f"({name}); a key matches the --model id or path, or its last path component: rename the key, "
        "or put its values under `strategies:` to apply them to any model."
    )


def _read_params(path: str) -> Params:
    """One ``params.yaml`` read and checked, without merging."""
    import yaml

    if not os.path.isfile(path):
        raise ValueError(
            f"`--params` {path!r} is not a file; pass the path of a params.yaml (the shipped one is {DEFAULT_PARAMS})."
        )
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise ValueError(
                f"params: {path} is not valid YAML ({' '.join(str(err).split())}); fix it there, or start from the "
                f"shipped one: {DEFAULT_PARAMS}."
            ) from None
    return parse_params(data, source=path)


def load_params(path: str | os.PathLike[str] | Mapping[str, Any] | None = None, over_defaults: bool = True) -> Params:
    """Read and check a ``params.yaml``; ``None`` reads the shipped :data:`DEFAULT_PARAMS`; a mapping is taken as
    the parsed content of such a file.

    A user's file is merged over the shipped one key by key (:func:`merge_params`): it needs to
    name only what it changes. ``over_defaults=False`` reads the file alone.

    >>> load_params().for_model(None)["logtoku"].threshold is None
    True
    >>> load_params({"strategies": {"greedy": {"max_new_tokens": 10}}}).for_model(None)["greedy"].max_new_tokens
    10
    """
    if isinstance(path, Mapping):
        own = parse_params(path, source="the params mapping")
    elif path is None or os.path.abspath(os.fspath(path)) == DEFAULT_PARAMS:
        return _read_params(DEFAULT_PARAMS)
    else:
        own = _read_params(os.fspath(path))
    return merge_params(_read_params(DEFAULT_PARAMS), own) if over_defaults else own
