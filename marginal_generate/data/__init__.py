"""Data sets → :class:`Record` lists (a conversation, its safe/unsafe label and category ids).

Sources (one module each):

- :func:`load_seed_jsonl`: the seed repository's JSONL (``unsafe_query`` with
  ``llama_guard_3_categories`` or ``llama_guard_2_categories``; every row unsafe);
- :func:`load_beavertails`: ``PKU-Alignment/BeaverTails`` (split ``30k_test`` by default),
  de-duplicated on (prompt, response), its 14 harm categories mapped to Llama Guard 3 or 2;
- :func:`load_dataset_source`: any ``datasets`` source (a Hub name, a local folder or data
  files, a ``save_to_disk`` folder, or a ``Dataset``) with a :class:`ColumnMap`;
- :func:`load_rater_annotations`: a ``datasets`` source with one row per (item, rater), aggregated
  into one record per item with :attr:`Record.soft_labels` (the fraction of raters who chose each
  label); :func:`load_go_emotions` reads GoEmotions' ``raw`` configuration this way;
- :func:`load_records_jsonl` / :func:`save_records_jsonl`: records as JSONL (the embedded
  model's held-out evaluation data is stored this way).

A bad record is a ``ValueError`` naming the file or split, the line or index and the field.

>>> import json, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "seed.jsonl")
>>> with open(path, "w") as f:
...     _ = f.write(json.dumps({"unsafe_query": "q", "llama_guard_3_categories": ["S10", "S1"]}) + "\\n")
>>> [(r.prompt, r.is_safe, r.categories, r.index) for r in load_seed_jsonl(path)]
[('q', False, ('S1', 'S10'), 0)]
"""

from .raters import (
    GO_EMOTIONS,
    GO_EMOTIONS_LABELS,
    load_go_emotions,
    load_rater_annotations,
)
from .records import (
    ColumnMap,
    Record,
    SoftLabels,
    load_records_jsonl,
    save_records_jsonl,
)
from .seed import load_seed_jsonl
from .sources import (
    BEAVERTAILS,
    BEAVERTAILS_COLUMNS,
    load_beavertails,
    load_dataset_source,
)

__all__ = [
    "Record",
    "SoftLabels",
    "ColumnMap",
    "GO_EMOTIONS",
    "GO_EMOTIONS_LABELS",
    "BEAVERTAILS",
    "BEAVERTAILS_COLUMNS",
    "load_seed_jsonl",
    "load_beavertails",
    "load_dataset_source",
    "load_rater_annotations",
    "load_go_emotions",
    "load_records_jsonl",
    "save_records_jsonl",
]
