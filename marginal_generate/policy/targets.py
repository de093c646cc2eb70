"""What an operating point must meet: a :class:`Target` (``recall >= 0.9``, ``fpr <= 0.01``, ``precision >= 0.95``),
given as a tuple, a ``"kind=value"`` string, or per label as a dict.

>>> Target.parse(("recall", 0.9))
Target(kind='recall', value=0.9)
>>> str(Target.parse("fpr=0.01"))
'fpr <= 0.01'
>>> per_label_targets({"S1": "recall=0.95"}, ("unsafe", "S1"), "target")
{'S1': Target(kind='recall', value=0.95)}
>>> Target.parse("recal=0.9")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: `target` kind must be one of recall, fpr, precision; got 'recal' (in 'recal=0.9'). E.g. recall=0.9...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .bounds import KINDS

__all__ = ["Target", "TargetSpec", "per_label_targets"]

#: One target for every label, or a dict ``{label: target}``; each target a :class:`Target`, a ``(kind, value)``
#: pair or a ``"kind=value"`` string.
TargetSpec = Any


class Target(NamedTuple):
    """A target on one label's population rate: ``recall >= value``, ``fpr <= value`` or ``precision >= value``."""

    kind: str
    value: float

    def __str__(self) -> str:
        return f"{self.kind} {'<=' if self.kind == 'fpr' else '>='} {self.value:g}"

    @classmethod
    def parse(cls, spec: Any, name: str = "target") -> Target:
        """A :class:`Target` from a ``Target``, a ``(kind, value)`` pair or a ``"kind=value"`` string; a
        ``ValueError`` naming ``name`` otherwise. ``value`` must lie strictly between 0 and 1."""
        shown = repr(spec)
        if isinstance(spec, str):
            if "=" not in spec:
                raise ValueError(f"`{name}` must be kind=value, e.g. recall=0.9 or fpr=0.01; got {shown}.")
            kind, text = (part.strip() for part in spec.split("=", 1))
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"`{name}` value must be a number in (0, 1); got {text!r} (in {shown}).") from None
        elif isinstance(spec, Sequence) and len(spec) == 2:
            kind, value = spec
        else:
            raise ValueError(
                f"`{name}` must be a (kind, value) pair or a 'kind=value' string, e.g. ('recall', 0.9); got {shown}."
            )
        if kind not in KINDS:
            raise ValueError(
                f"`{name}` kind must be one of {', '.join(KINDS)}; got {kind!r} (in {shown}). "
                "E.g. recall=0.9, fpr=0.01 or precision=0.95."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
            raise ValueError(
                f"`{name}` value must be a number strictly between 0 and 1; got {value!r} (in {shown}). "
                "A rate of exactly 0 or 1 cannot be guaranteed from a sample."
            )
        return cls(str(kind), float(value))


def per_label_targets(spec: TargetSpec, labels: Sequence[str], name: str) -> dict[str, Target]:
    """``{label: Target}``: one target for each of ``labels``, or a dict that names some of them (the others get
    none); a ``ValueError`` naming ``name`` for a dict key that is not a label.

    >>> per_label_targets(("fpr", 0.05), ("a", "b"), "review")
    {'a': Target(kind='fpr', value=0.05), 'b': Target(kind='fpr', value=0.05)}
    """
    if isinstance(spec, Mapping):
        unknown = [key for key in spec if key not in labels]
        if unknown:
            raise ValueError(
                f"`{name}` names {unknown}, which are not among the labels {list(labels)}; key the dict by label name."
            )
        return {label: Target.parse(spec[label], f"{name}[{label!r}]") for label in labels if label in spec}
    target = Target.parse(spec, name)
    return {label: target for label in labels}
