"""Generic input checks that raise a ``ValueError`` naming the argument.

Each check echoes the offending value and, for element errors, the first offending index
(``3`` for a vector, ``(3, 1)`` for a matrix), and suggests the fix.

>>> check_probabilities("scores", [0.2, 1.0, 0.0]).tolist()
[0.2, 1.0, 0.0]
>>> check_probabilities("scores", [[0.2, 0.5], [0.1, 1.5]])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: `scores` must hold probabilities in [0, 1]; got 1.5 at index (1, 1). Pass probabilities, not logits...
>>> check_binary_references("references", [0, 1, 2]).tolist()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: `references` must hold 0 or 1; got 2 at index 2. Encode the positive class (unsafe, or the label...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "as_float_array",
    "check_finite",
    "check_probabilities",
    "check_binary_references",
    "check_soft_references",
    "check_same_shape",
    "check_pair",
    "check_both_classes",
    "check_choice",
    "check_positive_int",
    "format_index",
]


def format_index(flat_index: int, shape: tuple[int, ...]) -> str:
    """``3`` for a vector, ``(3, 1)`` for a matrix.

    >>> format_index(7, (4, 2))
    '(3, 1)'
    >>> format_index(2, (5,))
    '2'
    """
    index = np.unravel_index(int(flat_index), shape)
    if len(shape) == 1:
        return str(int(index[0]))
    return "(" + ", ".join(str(int(i)) for i in index) + ")"


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    return value


def as_float_array(name: str, value: Any, ndims: Sequence[int] = (1, 2)) -> np.ndarray:
    """``value`` as a float64 array with one of ``ndims`` dimensions and at least one element.

    >>> as_float_array("scores", [[0.1, 0.2]]).shape
    (1, 2)
    >>> as_float_array("scores", [])
    Traceback (most recent call last):
    ...
    ValueError: `scores` is empty; pass at least one score.
    """
    if value is None:
        raise ValueError(f"`{name}` is None; pass an array of numbers.")
    try:
        array = np.asarray(_to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"`{name}` must be numbers in a list, numpy array or tensor of equal-length rows; "
            f"could not convert it ({err})."
        ) from None
    if array.size == 0:
        raise ValueError(f"`{name}` is empty; pass at least one score.")
    if array.ndim not in ndims:
        wanted = " or ".join({1: "[n]", 2: "[n, num_labels]"}.get(d, f"{d}-d") for d in ndims)
        raise ValueError(f"`{name}` must have shape {wanted}; got shape {array.shape}.")
    return array


def check_finite(name: str, value: Any, ndims: Sequence[int] = (1, 2)) -> np.ndarray:
    """``value`` as a float64 array without NaN or infinity.

    >>> check_finite("scores", [0.5, float("nan")])
    Traceback (most recent call last):
    ...
    ValueError: `scores` must be finite; got nan at index 1. Drop or impute the missing scores first.
    """
    array = as_float_array(name, value, ndims)
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{name}` must be finite; got {array.flat[first]} at index {format_index(first, array.shape)}. "
            "Drop or impute the missing scores first."
        )
    return array


def _check_unit_interval(name: str, value: Any, ndims: Sequence[int], what: str, fix: str) -> np.ndarray:
    """``value`` as a float64 array of finite values in [0, 1]; the error says ``what`` it must hold and the ``fix``."""
    array = check_finite(name, value, ndims)
    bad = (array < 0.0) | (array > 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{name}` must hold {what}; got {array.flat[first]} at index {format_index(first, array.shape)}. {fix}"
        )
    return array


def check_probabilities(name: str, value: Any, ndims: Sequence[int] = (1, 2)) -> np.ndarray:
    """``value`` as a float64 array of finite probabilities in [0, 1] (0 and 1 included)."""
    return _check_unit_interval(
        name,
        value,
        ndims,
        "probabilities in [0, 1]",
        "Pass probabilities, not logits (apply a sigmoid or softmax first).",
    )


def check_binary_references(name: str, value: Any, ndims: Sequence[int] = (1, 2)) -> np.ndarray:
    """``value`` as an int64 array of 0/1 (booleans and 0.0/1.0 accepted)."""
    array = check_finite(name, value, ndims)
    bad = (array != 0.0) & (array != 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        shown = array.flat[first]
        shown_text = str(int(shown)) if float(shown).is_integer() else str(shown)
        raise ValueError(
            f"`{name}` must hold 0 or 1; got {shown_text} at index {format_index(first, array.shape)}. "
            "Encode the positive class (unsafe, or the label present) as 1."
        )
    return array.astype(np.int64)


def check_soft_references(name: str, value: Any, ndims: Sequence[int] = (1, 2)) -> np.ndarray:
    """``value`` as a float64 array of finite values in [0, 1]: soft references (the fraction of
    annotators who chose the label) or 0/1.

    >>> check_soft_references("references", [1.0, 2 / 3, 0]).round(4).tolist()
    [1.0, 0.6667, 0.0]
    >>> check_soft_references("references", [0.5, 3.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `references` must hold values in [0, 1] (the fraction of annotators who chose the label, or 0/1)...
    """
    return _check_unit_interval(
        name,
        value,
        ndims,
        "values in [0, 1] (the fraction of annotators who chose the label, or 0/1)",
        "Divide annotator counts by the number of annotators.",
    )


def check_same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Equal lengths, then equal label counts.

    >>> check_same_shape("predictions", np.zeros((3, 2)), "references", np.zeros((3, 4)))
    Traceback (most recent call last):
    ...
    ValueError: `predictions` has 2 labels per row but `references` has 4; pass one column per label in both.
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"`{name_a}` has {a.shape[0]} rows but `{name_b}` has {b.shape[0]}; pass one reference per score."
        )
    if a.ndim != b.ndim:
        raise ValueError(
            f"`{name_a}` has shape {a.shape} but `{name_b}` has shape {b.shape}; pass both as [n] (binary) "
            "or both as [n, num_labels]."
        )
    if a.shape != b.shape:
        raise ValueError(
            f"`{name_a}` has {a.shape[1]} labels per row but `{name_b}` has {b.shape[1]}; "
            "pass one column per label in both."
        )


def check_both_classes(name: str, references: np.ndarray, label_names: Sequence[str] | None = None) -> None:
    """Each column of ``references`` (or the vector) holds both 0 and 1.

    >>> check_both_classes("references", np.array([[0, 1], [1, 1]]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `references` has only one class (1) for label 1; a validation set needs both 0 and 1 for every...
    """
    columns = references[:, None] if references.ndim == 1 else references
    for j in range(columns.shape[1]):
        values = np.unique(columns[:, j])
        if values.size < 2:
            where = "" if references.ndim == 1 else f" for label {label_names[j] if label_names else j}"
            raise ValueError(
                f"`{name}` has only one class ({int(values[0])}){where}; a validation set needs both 0 and 1"
                f"{'' if references.ndim == 1 else ' for every label'}. "
                f"Add examples of the missing class{'' if references.ndim == 1 else ' or drop the label'}."
            )


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``.

    >>> check_choice("norm", "l3", ("l1", "l2", "max"))
    Traceback (most recent call last):
    ...
    ValueError: `norm` must be one of ('l1', 'l2', 'max'); got 'l3'.
    """
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}; got {value!r}.")
    return value


def check_positive_int(name: str, value: Any) -> int:
    """``value`` if it is an int >= 1 (bools refused).

    >>> check_positive_int("n_bins", 0)
    Traceback (most recent call last):
    ...
    ValueError: `n_bins` must be an integer >= 1; got 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1; got {value!r}.")
    return int(value)


def check_pair(
    predictions: Any,
    references: Any,
    ndims: Sequence[int] = (1,),
    names: tuple[str, str] = ("predictions", "references"),
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and 0/1 references of one shape, each checked (:func:`check_probabilities`,
    :func:`check_binary_references`, :func:`check_same_shape`).

    >>> p, y = check_pair([0.2, 0.9], [0, 1])
    >>> p.dtype.name, y.tolist()
    ('float64', [0, 1])
    """
    p = check_probabilities(names[0], predictions, ndims)
    y = check_binary_references(names[1], references, ndims)
    check_same_shape(names[0], p, names[1], y)
    return p, y
