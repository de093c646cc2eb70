"""marginal-generate: per-label probabilities from a guard model's own decoding.

>>> import marginal_generate as mg
>>> mg.STRATEGIES[:3]
('greedy', 'first_token', 'token_probability')
"""

from .generate import STRATEGIES, MarginalGenerationMixin, Strategy, enable, marginalize, score
from .labels import LLAMA_GUARD_2_CATEGORIES, LLAMA_GUARD_3_CATEGORIES, LabelSpace
from .parsing import LlamaGuardParser, PrefixState
from .scores import LabelScores

__all__ = [
    "STRATEGIES",
    "Strategy",
    "LabelSpace",
    "LabelScores",
    "LlamaGuardParser",
    "PrefixState",
    "LLAMA_GUARD_3_CATEGORIES",
    "LLAMA_GUARD_2_CATEGORIES",
    "marginalize",
    "score",
    "enable",
    "MarginalGenerationMixin",
]
