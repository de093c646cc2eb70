"""What a run of ``marginal-generate evaluate`` takes (:class:`EvalConfig`) and its unit of work (:class:`Sample`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .params import (
    ALL_STRATEGIES,
    canonical_strategy,
)

__all__ = ["CALIBRATORS", "EvalConfig", "Sample"]


#: ``--calibrate`` keys → row suffix.
CALIBRATORS: dict[str, str] = {"ts": "+TS", "cc": "+CC", "bc": "+BC", "platt": "+Platt"}


@dataclass
class EvalConfig:
    """Everything ``marginal-generate evaluate`` takes (see ``marginal-generate evaluate --help``).

    ``model`` / ``dataset`` None: the embedded tiny guard and its held-out data. ``strategies`` None:
    all of :data:`~marginal_generate.evaluation.params.ALL_STRATEGIES`. ``calibrate``: keys of :data:`CALIBRATORS`.
    ``validation_data`` None: a stratified ``validation_fraction`` of the data (seeded) is the
    validation split, the rest the test split. ``resume`` continues the run in ``output_dir``;
    ``overwrite`` replaces it; with neither, a directory holding an earlier run is refused.
    """

    model: str | None = None
    dataset: str | None = None
    split: str | None = None
    columns: dict[str, str] | None = None
    strategies: Sequence[str] | None = None
    params: str | None = None
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

    def __post_init__(self) -> None:
        from ..loading import is_embedded_model

        if self.model is not None and is_embedded_model(self.model):
            self.model = None  # a path to the embedded model is the default model (same fingerprint, same name)
        if self.resume and self.overwrite:
            raise ValueError("`--resume` continues the run in --output-dir and `--overwrite` replaces it; pass one of them.")
        self.strategies = list(dict.fromkeys(canonical_strategy(s) for s in (self.strategies or ALL_STRATEGIES)))
        calibrate = [c.strip().lower() for c in self.calibrate if c.strip()]
        for c in calibrate:
            if c not in CALIBRATORS:
                raise ValueError(f"`calibrate` has {c!r}; use a comma-separated subset of {list(CALIBRATORS)}, e.g. 'ts,cc,bc'.")
        self.calibrate = list(dict.fromkeys(calibrate))
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"`batch_size` must be an integer >= 1, got {self.batch_size!r}.")
        if self.num_samples is not None and (not isinstance(self.num_samples, int) or self.num_samples < 1):
            raise ValueError(f"`num_samples` must be an integer >= 1 (or None for all), got {self.num_samples!r}.")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"`validation_fraction` must be in [0, 1), got {self.validation_fraction!r}; 0.2 keeps a fifth for validation.")
        if self.taxonomy not in (None, 2, 3):
            raise ValueError(f"`taxonomy` must be 2 or 3 (Llama Guard 2 or 3 taxonomy), got {self.taxonomy!r}.")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16", "float64"):
            raise ValueError(f"`dtype` must be auto, float32, bfloat16, float16 or float64, got {self.dtype!r}.")


@dataclass(frozen=True)
class Sample:
    """One sample of the run: ``id`` (position in the run), the record, its split."""

    id: int
    record: Any
    split: str
