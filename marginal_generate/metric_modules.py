"""The ``evaluate`` metric modules that ship with the package: where each one is, and loading it.

The repository keeps them at its top, ``metrics/<name>/`` (each folder is also a metric Space for
the Hub); a built package carries a copy in ``marginal_generate/_metrics/<name>/`` (``setup.py``
makes it at build time). :func:`metric_path` finds the folder in either place, so the same call
works in a checkout, an editable install and an installed wheel, from any working directory.

>>> import os
>>> import marginal_generate as mg
>>> os.path.basename(mg.metric_path("calibration_error"))
'calibration_error'
>>> ece = mg.load_metric("calibration_error")
>>> out = ece.compute(predictions=[0.25, 0.25, 0.55, 0.75, 0.75], references=[0, 0, 1, 1, 1], n_bins=2)
>>> round(out["ece"], 4)
0.29
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["metric_path", "load_metric"]

_HERE = os.path.dirname(os.path.abspath(__file__))
# An installed wheel first (setup.py copies the modules there), then the repository's own folder.
_ROOTS = (os.path.join(_HERE, "_metrics"), os.path.join(os.path.dirname(_HERE), "metrics"))


def _available() -> dict[str, str]:
    """``{name: folder}`` of the metric modules found, from the first root that has any."""
    for root in _ROOTS:
        if not os.path.isdir(root):
            continue
        found = {
            name: os.path.join(root, name)
            for name in sorted(os.listdir(root))
            if os.path.isfile(os.path.join(root, name, f"{name}.py"))
        }
        if found:
            return found
    return {}


def metric_path(name: str) -> str:
    """The folder of the ``evaluate`` metric module ``name``, e.g. ``"calibration_error"``.

    Pass it to ``evaluate.load`` (``evaluate.load(mg.metric_path("calibration_error"), "multilabel")``),
    or publish the folder as a metric Space.

    Raises:
        ValueError: for a name that is not a shipped module, listing the ones that are.
    """
    available = _available()
    if name not in available:
        if not available:
            raise ValueError(
                f"no evaluate metric modules were found (looked in {list(_ROOTS)}); this installation of "
                "marginal-generate is incomplete: reinstall it from a wheel or a source checkout."
            )
        raise ValueError(f"`name` must be one of {sorted(available)}, got {name!r}.")
    return available[name]


def load_metric(name: str, config_name: str | None = None, **kwargs: Any) -> Any:
    """``evaluate.load`` of the shipped metric module ``name`` (``config_name`` e.g. ``"multilabel"``).

    ``kwargs`` go to ``evaluate.load`` (``experiment_id``, ``keep_in_memory``, ...). Returns the
    ``evaluate.EvaluationModule``.

    >>> import marginal_generate as mg
    >>> alignment = mg.load_metric("distribution_alignment", "multilabel")
    >>> alignment.compute(predictions=[[0.0, 0.5]], references=[[1.0, 0.5]], labels=["S1", "S2"])["jsd"]
    0.5
    >>> mg.load_metric("accuracy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `name` must be one of ['calibration_error', 'distribution_alignment', 'multilabel_classification']...
    """
    path = metric_path(name)
    import evaluate

    return evaluate.load(path, config_name, **kwargs)
