"""Thin bridges to other libraries' guard APIs, each behind its optional extra (imported only when used).

- :mod:`.guardbench` (``pip install 'marginal-generate[guardbench]'``): :func:`~.guardbench.moderate_function`, the
  callable GuardBench's ``benchmark(moderate=...)`` runs, one P(unsafe) per conversation, with per-label
  probabilities and bounds in a side file; :mod:`.report`: :func:`~.report.guardbench_report`, what GuardBench does
  not report (ECE, Brier, the worst-calibrated category, the metrics at a policy's threshold).
- :mod:`.any_guardrail` (``pip install 'marginal-generate[any-guardrail]'``):
  :class:`~.any_guardrail.MarginalGuardrail`, an any-guardrail guardrail whose ``score`` is P(unsafe) and whose
  categories carry P(category).
- :mod:`.scoring` (conversations to scores, batched), :mod:`.policies` (a policy checked against the scores),
  :mod:`.extras` (the error that names a missing extra): what the bridges share.

Importing this package imports neither library.
"""
