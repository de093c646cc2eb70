"""The benchmark behind ``marginal-generate evaluate``: records -> scores -> calibration -> metrics -> report.

One module per step, data flowing one way:

- :mod:`.config`: :class:`EvalConfig` (what a run takes) and :class:`Sample`;
- :mod:`.params`: ``params.yaml``, per-strategy parameters in the seed repository's shape;
- :mod:`.records`: the data source read and split into validation and test samples;
- :mod:`.scoring`: a batch of samples scored under every strategy;
- :mod:`.results`: per-sample results appended to disk (resume after a kill), the run's fingerprint;
- :mod:`.report`: calibrators and thresholds fitted on validation, the metric table, alignment, files;
- :mod:`.runner`: :func:`run_evaluation`, which strings them together (data parallel under ``accelerate``).
"""

from .config import CALIBRATORS, EvalConfig, Sample
from .params import ALL_STRATEGIES, Params, StrategyParams, load_params
from .report import Report, format_alignment_table, format_table
from .runner import run_evaluation

__all__ = [
    "CALIBRATORS",
    "EvalConfig",
    "Sample",
    "Report",
    "run_evaluation",
    "format_table",
    "format_alignment_table",
    "ALL_STRATEGIES",
    "Params",
    "StrategyParams",
    "load_params",
]
