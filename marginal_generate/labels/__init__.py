"""Label spaces: a label set, the output grammar that reads it from text, and the taxonomies.

- :mod:`.space`: :class:`LabelSpace`, the tokenizer-bound view the decoders use.
- :mod:`.prefix_state`: what a grammar says about a prefix (:class:`PrefixState`).
- :mod:`.llama_guard`: the Llama Guard grammar (``safe`` / ``unsafe`` + a line of ids).
- :mod:`.taxonomy`: the published category lists (Llama Guard 2 and 3) and data-set mappings.
"""

from .llama_guard import LlamaGuardParser
from .prefix_state import LabelSpan, PrefixState
from .space import (
    LLAMA_GUARD_2_CATEGORIES,
    LLAMA_GUARD_3_CATEGORIES,
    LabelSpace,
    first_token_ids,
)
from .taxonomy import (
    Category,
    Taxonomy,
    category_sort_key,
    get_taxonomy,
    map_beavertails,
)

__all__ = [
    "LabelSpace",
    "LabelSpan",
    "PrefixState",
    "LlamaGuardParser",
    "first_token_ids",
    "LLAMA_GUARD_3_CATEGORIES",
    "LLAMA_GUARD_2_CATEGORIES",
    "Category",
    "Taxonomy",
    "get_taxonomy",
    "category_sort_key",
    "map_beavertails",
]
