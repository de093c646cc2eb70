"""The one registry of strategies: name -> family, defaults, and what the answer's grammar must offer.

``generate``, the evaluation parameters (``params.yaml``), the CLI and the Space all read it.
A strategy belongs to one family, which says how it is computed:

- ``greedy_path``: read from one greedy decode (``greedy``, ``first_token``, ``token_probability``,
  ``fixed_place``, ``max_over_generations``, ``first_generation``);
- ``tree``: the greedy decode plus the search of the output tree (``any_place``);
- ``prompted``: one prompt per label (``per_category_prompt``, ``unary``), via
  :func:`marginal_generate.score_label_prompts`;
- ``uncertainty``: the uncertainty baselines of the evaluation (probability, entropy, LogTokU), one
  forced pass over the answer.

>>> REGISTRY["any_place"].family, REGISTRY["any_place"].defaults["eps"]
('tree', 0.01)
>>> [s for s in ALL_STRATEGIES if REGISTRY[s].needs == ("verbalizer",)]
['first_token', 'per_category_prompt']
>>> canonical_strategy("marginal_probability_at_any_place")
'any_place'
>>> check_search_param("top_p", 1.5)
Traceback (most recent call last):
...
ValueError: `top_p` must be a number in (0, 1], got 1.5; use 0.99 for the usual nucleus or 1.0 for none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

__all__ = [
    "Family",
    "Strategy",
    "StrategyInfo",
    "REGISTRY",
    "STRATEGIES",
    "PROMPTED_STRATEGIES",
    "UNCERTAINTY_STRATEGIES",
    "ALL_STRATEGIES",
    "ALIASES",
    "SEARCH_DEFAULTS",
    "canonical_strategy",
    "strategies_of",
    "check_search_param",
]

Family = Literal["greedy_path", "tree", "prompted", "uncertainty"]

#: The strategies one decode computes (``mg.marginalize`` / ``mg.score``).
Strategy = Literal[
    "greedy",
    "first_token",
    "token_probability",
    "fixed_place",
    "any_place",
    "max_over_generations",
    "first_generation",
]

#: The search's defaults (the seed repository's: a nucleus of 0.99, a prefix cut of 0.01).
SEARCH_DEFAULTS: Mapping[str, Any] = MappingProxyType({"top_p": 0.99, "eps": 0.01, "max_new_tokens": 20})


@dataclass(frozen=True)
class StrategyInfo:
    """One strategy: its family, a one-line summary, its default parameters, what the grammar must offer.

    ``needs``: ``"verbalizer"`` (the grammar names the words whose first token decides the answer,
    such as ``safe`` / ``unsafe``), ``"categories"`` (the answer lists labels after a verdict).
    ``defaults``: ``max_new_tokens``, ``threshold`` (``None`` = picked on the validation split),
    and for the tree ``top_p`` and ``eps``.
    """

    name: str
    family: Family
    summary: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()


def _info(name: str, family: Family, summary: str, needs: tuple[str, ...] = (), **defaults: Any) -> StrategyInfo:
    base: dict[str, Any] = {"max_new_tokens": SEARCH_DEFAULTS["max_new_tokens"], "threshold": 0.5}
    if family == "tree":
        base.update(top_p=SEARCH_DEFAULTS["top_p"], eps=SEARCH_DEFAULTS["eps"])
    base.update(defaults)
    return StrategyInfo(name, family, summary, MappingProxyType(base), needs)


_ENTRIES = (
    _info("greedy", "greedy_path", "1.0 if the greedy answer contains the label, else 0.0"),
    _info(
        "first_token",
        "greedy_path",
        "p(unsafe) as the softmax over the verbalizer tokens where the answer starts",
        ("verbalizer",),
    ),
    _info("token_probability", "greedy_path", "the probability of the label's tokens on the greedy path"),
    _info("fixed_place", "greedy_path", "the greedy path's probability up to and including the label"),
    _info("any_place", "tree", "P(label in the answer's label set), summed over the output tree, with bounds"),
    _info(
        "max_over_generations",
        "greedy_path",
        "the max over the label-generation steps of the label's probability",
        ("categories",),
    ),
    _info(
        "first_generation",
        "greedy_path",
        "the label's probability at the first label-generation step of its slot (of its field)",
        ("categories",),
    ),
    _info(
        "per_category_prompt",
        "prompted",
        "one prompt per category (a one-category policy), read as first_token",
        ("verbalizer",),
        max_new_tokens=8,
    ),
    _info("unary", "prompted", "one yes/no question per category, p(yes) against p(no)", max_new_tokens=8),
    _info(
        "probability_uncertainty",
        "uncertainty",
        "top-1 or top-2 categories by the top category's probability",
        threshold=None,
    ),
    _info(
        "entropy_uncertainty",
        "uncertainty",
        "top-1 or top-2 categories by the entropy over the categories",
        threshold=None,
    ),
    _info("logtoku", "uncertainty", "top-1 or top-2 categories by LogTokU's uncertainty", threshold=None),
)

#: name -> :class:`StrategyInfo`, in the order the tables list them.
REGISTRY: Mapping[str, StrategyInfo] = MappingProxyType({info.name: info for info in _ENTRIES})


def strategies_of(*families: Family) -> tuple[str, ...]:
    """The names of the strategies of the given families, in registry order.

    >>> strategies_of("prompted")
    ('per_category_prompt', 'unary')
    """
    unknown = [f for f in families if f not in get_args(Family)]
    if unknown:
        raise ValueError(f"unknown strategy family {unknown[0]!r}; use one of {list(get_args(Family))}.")
    return tuple(info.name for info in _ENTRIES if info.family in families)


STRATEGIES: tuple[str, ...] = get_args(Strategy)
PROMPTED_STRATEGIES: tuple[str, ...] = strategies_of("prompted")
UNCERTAINTY_STRATEGIES: tuple[str, ...] = strategies_of("uncertainty")
ALL_STRATEGIES: tuple[str, ...] = tuple(REGISTRY)
assert set(STRATEGIES) == set(strategies_of("greedy_path", "tree")), "Strategy and the registry disagree"

#: The seed repository's strategy names -> this project's.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "greedy_generation": "greedy",
        "marginal_probability_at_any_place": "any_place",
        "marginal_probability_at_fixed_place": "fixed_place",
        "LogTokU": "logtoku",
        "first_token_probability": "first_token",
    }
)


def canonical_strategy(name: str) -> str:
    """This project's name of a strategy (seed aliases resolved).

    >>> canonical_strategy("greedy_generation"), canonical_strategy("LogTokU"), canonical_strategy("any_place")
    ('greedy', 'logtoku', 'any_place')
    >>> canonical_strategy("beam")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown strategy 'beam'; use one of ['greedy', 'first_token', 'token_probability', 'fixed_place'...
    """
    if name in REGISTRY:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise ValueError(f"unknown strategy {name!r}; use one of {list(ALL_STRATEGIES)} or a seed alias {list(ALIASES)}.")


_RULES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "top_p": ("a number in (0, 1]", "use 0.99 for the usual nucleus or 1.0 for none"),
        "eps": ("a number in [0, 1)", "0.01 is the usual cut (0 searches everything)"),
        "max_new_tokens": ("an integer >= 1", "a Llama Guard answer needs about 10 (the seed repo uses 20 to 50)"),
    }
)


def check_search_param(key: str, value: Any, name: str | None = None) -> Any:
    """``value`` if it is a valid ``top_p``, ``eps`` or ``max_new_tokens``, else a ``ValueError``.

    ``name`` is how the message names the value (default: the key in backquotes; the evaluation
    parameters pass ``"params: strategies.any_place.eps"``). The one check of the search
    parameters, for ``generate`` and ``params.yaml`` alike.

    >>> check_search_param("eps", 0), check_search_param("max_new_tokens", 20)
    (0, 20)
    >>> check_search_param("eps", 1.0, name="params: strategies.any_place.eps")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: params: strategies.any_place.eps must be a number in [0, 1), got 1.0; 0.01 is the usual cut (0...
    """
    if key not in _RULES:
        raise ValueError(f"`key` must be one of {list(_RULES)}, got {key!r}.")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key == "top_p":
        ok = number and 0.0 < value <= 1.0
    elif key == "eps":
        ok = number and 0.0 <= value < 1.0
    else:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if not ok:
        rule, fix = _RULES[key]
        raise ValueError(f"{name or f'`{key}`'} must be {rule}, got {value!r}; {fix}.")
    return value
