"""Contextual calibration (Zhao et al., 2021): shift the logit by the content-free inputs' mean score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import Calibrator, as_param, check_means_inside, columns, logit, param_vector, sigmoid
from .validation import check_probabilities

__all__ = ["ContextualCalibration", "CONTENT_FREE_INPUTS"]

#: The content-free inputs of contextual calibration (Zhao et al., 2021): run each through the same
#: model and prompt as the real inputs and pass the resulting scores to
#: :meth:`ContextualCalibration.fit_content_free`.
CONTENT_FREE_INPUTS: tuple[str, ...] = ("N/A", "", " ")


class ContextualCalibration(Calibrator):
    """Contextual calibration: divide by the model's bias on content-free inputs, then renormalize.

    ``W = diag(p(y | content-free))^-1`` with ``p(y | content-free)`` averaged over the content-free
    inputs (:data:`CONTENT_FREE_INPUTS` by default) run through the same model and prompt. For
    binary scores with mean content-free ``q = p(unsafe | content-free)``:
    ``p' = (p / q) / (p / q + (1 - p) / (1 - q))``.

    It is fitted from the content-free scores alone, which have no references: use
    :meth:`fit_content_free` (``fit(content_free_scores)`` is the same, scikit-learn style).

    Args:
        content_free_inputs: the texts the caller ran through the model (kept for the record and
            saved to JSON; the calibrator itself only sees their scores).

    Attributes:
        bias_: mean ``p(y=1 | content-free)`` (a float, or one per label).

    >>> cc = ContextualCalibration().fit_content_free([[0.9, 0.1], [0.7, 0.3]])
    >>> cc.bias_
    [0.8, 0.2]
    >>> cc.transform([[0.8, 0.2], [0.9, 0.5]]).round(4).tolist()
    [[0.5, 0.5], [0.6923, 0.8]]
    """

    _params = ("bias_",)
    _config = ("content_free_inputs",)

    def __init__(self, content_free_inputs: Sequence[str] = CONTENT_FREE_INPUTS) -> None:
        if isinstance(content_free_inputs, str) or not all(isinstance(s, str) for s in content_free_inputs):
            raise ValueError(
                f"`content_free_inputs` must be a sequence of strings such as {CONTENT_FREE_INPUTS!r}; "
                f"got {content_free_inputs!r}."
            )
        if len(content_free_inputs) == 0:
            raise ValueError(f"`content_free_inputs` is empty; pass at least one, e.g. {CONTENT_FREE_INPUTS!r}.")
        self.content_free_inputs = tuple(content_free_inputs)
        self.bias_: float | list[float] | None = None
        self.num_labels_ = None

    def fit_content_free(self, content_free_scores: Any) -> ContextualCalibration:
        """Fit from the model's ``p(y=1)`` on each content-free input: ``[m]`` binary or ``[m, k]``.

        A label whose content-free scores average exactly 0 or 1 is refused (a ``ValueError`` naming it):
        contextual calibration divides by that mean, which would send every score of the label to 0.5 or to 1.
        This is what a strategy of 0/1 decisions (greedy) gives on content-free inputs.

        >>> ContextualCalibration().fit_content_free([0.0, 0.0, 0.0])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `content_free_scores` average 0; contextual calibration divides by that mean, so it is undefined...
        """
        q = check_probabilities("content_free_scores", content_free_scores)
        bias = columns(q).mean(axis=0)
        check_means_inside("content_free_scores", bias, q.ndim == 1, "contextual calibration")
        self.num_labels_ = None if q.ndim == 1 else q.shape[1]
        self.bias_ = as_param(bias, q.ndim == 1)
        return self

    def fit(self, scores: Any, references: Any = None) -> ContextualCalibration:
        """Same as :meth:`fit_content_free`: ``scores`` are the content-free scores; ``references`` must be None."""
        if references is not None:
            raise ValueError(
                "`references` must be None: ContextualCalibration is fitted from the model's scores on "
                f"content-free inputs ({', '.join(repr(s) for s in self.content_free_inputs)}), which have no "
                "references. Call `fit_content_free(content_free_scores)`."
            )
        return self.fit_content_free(scores)

    def fit_transform(self, scores: Any, references: Any = None) -> Any:  # noqa: D102
        raise ValueError(
            "ContextualCalibration is fitted on content-free scores, not on the scores it transforms; call "
            "`fit_content_free(content_free_scores)` and then `transform(scores)`."
        )

    def transform(self, scores: Any) -> Any:
        """``sigmoid(logit(scores) - logit(bias_))``, per label."""
        p = self._check_transform(scores)
        q = param_vector(self.bias_)
        out = sigmoid(logit(p) - logit(q[0] if p.ndim == 1 else q))
        return self._wrap_like(out, scores)
