"""Label spaces: a label set, the output grammar that reads it from text, and the taxonomies.

- :mod:`.space`: :class:`LabelSpace`, the tokenizer-bound view the decoders use.
- :mod:`.prefix_state`: what a grammar says about a prefix (:class:`PrefixState`).
- :mod:`.grammar`: the output-grammar interface every parser offers.
- :mod:`.llama_guard`: the Llama Guard grammar (``safe`` / ``unsafe`` + a line of ids).
- :mod:`.label_list`, :mod:`.yes_no`, :mod:`.fields`: label lists, yes/no answers, ``Name: value`` lines.
- :mod:`.numeric`: a whole number in a range (a risk score, a rubric), each value a label.
- :mod:`.taxonomy`: the published category lists (Llama Guard 2 and 3) and data-set mappings.
"""

from .fields import QWEN3GUARD_FIELDS, WILDGUARD_FIELDS, Field, FieldsParser
from .grammar import Grammar, Slot, Verbalizer
from .label_list import LabelListParser
from .llama_guard import LlamaGuardParser
from .numeric import NumericParser
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
from .yes_no import YesNoParser

__all__ = [
    "LabelSpace",
    "LabelSpan",
    "PrefixState",
    "LlamaGuardParser",
    "LabelListParser",
    "NumericParser",
    "YesNoParser",
    "FieldsParser",
    "Field",
    "WILDGUARD_FIELDS",
    "QWEN3GUARD_FIELDS",
    "Grammar",
    "Slot",
    "Verbalizer",
    "first_token_ids",
    "LLAMA_GUARD_3_CATEGORIES",
    "LLAMA_GUARD_2_CATEGORIES",
    "Category",
    "Taxonomy",
    "get_taxonomy",
    "category_sort_key",
    "map_beavertails",
]
