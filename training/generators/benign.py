"""Benign prompts for training and testing the tiny guard model, generated from templates.

Two disjoint pools: ``"train"`` (``data/templates/benign.jsonl``: the templates and topics the model trains on) and
``"test"`` (``data/heldout/benign_templates.jsonl``: other templates and other topics; with the hand-written
``data/heldout/benign_handwritten.jsonl``) so that the safe/unsafe accuracy is measured on phrasings and subjects the
model never saw. Some topics sit close to the unsafe categories (elections, medicine, code, chemistry, security,
privacy, history of war) so that a topic word alone does not decide the label. The train pool also builds prompts
from the first sentences of the Python standard library's docstrings.

Print a sample with ``python -m training.generators.benign``.

>>> benign_prompts(2, 0, "test")[1]
'If I only had an hour, how could I host a board game night? Also, give me five fun facts about how auroras form.'
"""

from __future__ import annotations

import ast
import functools
import random
import re
import sysconfig
from pathlib import Path
from typing import NamedTuple

from training import tables

TRAIN_TABLE = "templates/benign"
TEST_TABLE = "heldout/benign_templates"
HANDWRITTEN_TABLE = "heldout/benign_handwritten"


class Pool(NamedTuple):
    """One pool's templates and the fillers of their slots (``{task}``, ``{concept}``, ``{thing}``, ``{person}``)."""

    templates: list[str]
    tasks: list[str]
    concepts: list[str]
    things: list[str]
    people: list[str]


@functools.lru_cache(maxsize=2)
def pool(name: str) -> Pool:
    """The ``"train"`` or ``"test"`` pool.

    >>> len(pool("train").templates), len(pool("test").templates)
    (30, 12)
    """
    if name not in ("train", "test"):
        raise ValueError(f"`pool` must be 'train' or 'test', got {name!r}.")
    table = TRAIN_TABLE if name == "train" else TEST_TABLE
    return Pool(*(tables.texts(table, part) for part in ("template", "task", "concept", "thing", "person")))


def handwritten_test() -> list[str]:
    """The hand-written held-out benign prompts."""
    return [p.text for p in tables.prompts(HANDWRITTEN_TABLE)]


def one_question(rng: random.Random, pool_name: str) -> str:
    templates, tasks, concepts, things, people = pool(pool_name)
    template = rng.choice(templates)
    return template.format(
        task=rng.choice(tasks), concept=rng.choice(concepts), thing=rng.choice(things), person=rng.choice(people)
    )


def benign_prompt(rng: random.Random, pool_name: str = "train") -> str:
    """One benign prompt: one to three questions, formatted like the unsafe data (quotes, newlines)."""
    n = rng.choices([1, 2, 3], weights=[0.45, 0.4, 0.15])[0]
    parts = [one_question(rng, pool_name) for _ in range(n)]
    if rng.random() < 0.1:
        parts = [f'"{p}"' for p in parts]
    text = join(parts, rng)
    if rng.random() < 0.3:
        text = "\n" + text + rng.choice(["\n", "  \n"])
    if rng.random() < 0.08:
        text = rng.choice(["Hi, ", "Hey, ", "Hello! "]) + text
    return text


def join(parts: list[str], rng: random.Random) -> str:
    """Several requests as one message, each after a random connector (``data/templates/benign.jsonl``'s
    ``connector`` part); after "Also," and the like a capital first letter is lowered.

    >>> join(["How do I bake bread?", "What is rye?"], random.Random(6))
    'How do I bake bread? Also, what is rye?'
    """
    connectors = tables.texts(TRAIN_TABLE, "connector")
    text = parts[0]
    for p in parts[1:]:
        sep = rng.choice(connectors)
        if sep.strip() in ("Also,", "And", "Lastly,", "Oh, and") and p[:1].isupper() and not p.startswith("I "):
            p = p[0].lower() + p[1:]
        text += sep + p
    return text


_BLOCK = re.compile(
    r"\b(kill|killed|attack|exploit|abuse|weapon|bomb|steal|hack|password|secret|private|crash|poison|die|dead|death|"
    r"attacker|malicious|unsafe|vote|election|sex|child|children|hate|self|escape|shell|exec|eval|privilege|root)\b",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1)
def docstring_sentences() -> tuple[str, ...]:
    """First sentences of the docstrings of the Python standard library's top-level modules: plain,
    varied, benign English (read from this interpreter's stdlib, in sorted file order)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for path in sorted(root.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                first = doc.strip().split("\n\n")[0].replace("\n", " ")
                sentence = re.split(r"(?<=[.!?])\s", first)[0].strip()
                words = sentence.split()
                if (
                    5 <= len(words) <= 30
                    and re.fullmatch(r"[A-Za-z0-9 ,.'()\-:;?!]+", sentence)
                    and not _BLOCK.search(sentence)
                ):
                    out.append(" ".join(words))
    return tuple(dict.fromkeys(out))


_IMPERATIVE = re.compile(
    r"(Return|Set|Get|Read|Write|Create|Convert|Format|Construct|Open|Add|Make|Remove|Generate|Check|Find|Parse|"
    r"Send|Delete|Extract|Copy|Produce|Decode|Process|Print|Encode) "
)


@functools.lru_cache(maxsize=1)
def how_to_phrases() -> tuple[str, ...]:
    """The imperative docstring sentences as verb phrases (``"Return the number of ..."`` → ``"return the number of
    ..."``)."""
    return tuple(s[0].lower() + s[1:].rstrip(".") for s in docstring_sentences() if _IMPERATIVE.match(s))


def docstring_prompt(rng: random.Random) -> str:
    """One to three parts, each a docstring sentence (plain or wrapped: the ``wrap`` part), a how-to request around
    an imperative one (the ``how_to`` part: the phrasing of many unsafe queries, with benign content), or a template
    question; joined like :func:`benign_prompt`'s questions."""
    sentences, phrases = docstring_sentences(), how_to_phrases()
    how_to, wraps = tables.texts(TRAIN_TABLE, "how_to"), tables.texts(TRAIN_TABLE, "wrap")
    parts = []
    for _ in range(rng.choices([1, 2, 3], weights=[0.5, 0.35, 0.15])[0]):
        kind = rng.random()
        if kind < 0.45:
            parts.append(rng.choice(how_to).format(v=rng.choice(phrases)))
        elif kind < 0.85:
            parts.append(rng.choice(wraps).format(s=rng.choice(sentences)))
        else:
            parts.append(one_question(rng, "train"))
    text = join(parts, rng)
    return "\n" + text + "\n" if rng.random() < 0.3 else text


def benign_prompts(n: int, seed: int, pool_name: str = "train", docstring_frac: float = 0.0) -> list[str]:
    """``n`` benign prompts; in the train pool a ``docstring_frac`` share comes from stdlib docstrings."""
    rng = random.Random(seed)
    if pool_name == "train" and docstring_frac > 0 and not docstring_sentences():
        raise RuntimeError("no docstring sentences found in the standard library")
    docstrings = pool_name == "train"  # the train pool draws for every prompt, even with docstring_frac 0
    return [
        docstring_prompt(rng) if docstrings and rng.random() < docstring_frac else benign_prompt(rng, pool_name)
        for _ in range(n)
    ]


def test_prompts(n_generated: int, seed: int) -> list[tuple[str, str]]:
    """The held-out benign prompts: ``(text, source)`` from the test templates and the hand-written list."""
    return [(t, "benign_heldout_templates") for t in benign_prompts(n_generated, seed, "test")] + [
        (p.text, p.source) for p in tables.prompts(HANDWRITTEN_TABLE)
    ]


if __name__ == "__main__":
    print(len(docstring_sentences()), "docstring sentences")
    for text in benign_prompts(6, 1, docstring_frac=1.0):
        print(repr(text))
    for text in benign_prompts(10, 0):
        print(repr(text))
    for text, _ in test_prompts(5, 0)[:5]:
        print(repr(text))
