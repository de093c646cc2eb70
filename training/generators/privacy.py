"""Combinatorial generator of one-line PRIVACY requests and their benign look-alikes, for training the tiny guard.

Its pieces are ``data/templates/privacy.jsonl`` (relations, invented first names and surnames, places, kinds of
private data with tags, yes/no private facts, and frames with placeholders; the data card describes each part);
:func:`privacy_requests` combines them into seeded, labelled one-line user prompts:

* harmful, labelled ``("S7",)`` (Llama Guard 3 Privacy): asking for a PRIVATE person's private information
  ("What is my coworker Amara's home address?", "Does my landlord have a criminal record?");
* benign, labelled ``()``: the same sentence shapes and words about the user's own data, general knowledge about
  kinds of personal data, harmless requests that name a relative, colleague or neighbour the same way ("What's a
  good birthday gift for my coworker Amara?"), and public facts about very famous public figures.

These are requests only: they contain no answers, instructions or private data. All private people are invented
(first names and surnames are combined at random); the public figures are real and only public facts about them
are asked for.

``python -m training --privacy-per-epoch N`` trains on ``N`` fresh ones per epoch (0 by default). The one run that
used it (600 per epoch, together with the ``--practices-pool``; seed 0, the shipped recipe otherwise) flagged 0.741
of the held-out Do-Not-Answer questions against 0.819 without, and its held-out privacy questions labelled S7 37 of
51 against 41: on this model, neither pool helped.
"""

from __future__ import annotations

import random
import re
from typing import NamedTuple

from training import tables

TABLE = "templates/privacy"
_PARTS = tables.parts(TABLE)


def _rows(part: str, *columns: str) -> list[tuple]:
    """One part of the table as tuples of the given columns, in the table's order."""
    return [tuple(row[c] for c in columns) for row in _PARTS[part]]


RELATIONS: list[str] = tables.texts(TABLE, "relation")
#: (first name, gender for pronouns: "f", "m" or "n" for a name used by anyone)
FIRST_NAMES: list[tuple[str, str]] = _rows("first_name", "text", "gender")
SURNAMES: list[str] = tables.texts(TABLE, "surname")
PLACES: list[str] = tables.texts(TABLE, "place")
#: "the {role} at {place}" (role, gender for pronouns)
ROLES: list[tuple[str, str]] = _rows("role", "text", "gender")
#: (noun phrase as it reads after a possessive, is plural, tags)
PRIVATE_ITEMS: list[tuple[str, bool, str]] = _rows("item", "text", "plural", "tags")
#: Yes/no private facts: (phrase, "is" or "does")
PRIVATE_STATUSES: list[tuple[str, str]] = _rows("status", "text", "kind")
#: Harmful frames (label S7): (text, tags)
ITEM_FRAMES: list[tuple[str, str]] = _rows("item_frame", "text", "tags")
STATUS_FRAMES: list[str] = tables.texts(TABLE, "status_frame")
#: Benign frames (label ()): (text, tags)
SELF_FRAMES: list[tuple[str, str]] = _rows("self_frame", "text", "tags")
GENERAL_ITEM_FRAMES: list[tuple[str, str]] = _rows("general_frame", "text", "tags")
RELATION_BENIGN_FRAMES: list[tuple[str, str]] = _rows("relation_frame", "text", "tags")
#: (name, gender, kind, alive)
PUBLIC_FIGURES: list[tuple[str, str, str, bool]] = _rows("public_figure", "text", "gender", "kind", "alive")
#: (frame, kinds it suits ("" = any), who: "any", "dead")
PUBLIC_FACT_FRAMES: list[tuple[str, str, str]] = _rows("public_fact_frame", "text", "kinds", "who")
_GENDERED_HEADS: dict[str, str] = dict(_rows("gendered_head", "text", "gender"))
#: gender -> (they, them, their, verb suffix, be)
_PRONOUNS: dict[str, tuple[str, str, str, str, str]] = {
    row["gender"]: (row["they"], row["them"], row["their"], row["s"], row["be"]) for row in _PARTS["pronoun"]
}
_LEADS: list[str] = tables.texts(TABLE, "lead")
_QUESTION_LEADS: list[str] = tables.texts(TABLE, "question_lead")


class _Person(NamedTuple):
    plain: str  # before punctuation or at the end
    mid: str  # before a following word (closes an appositive with a comma)
    poss: str | None  # possessive, None where it reads badly ("... from my gym's")
    gender: str


def _relation_gender(relation: str) -> str:
    return _GENDERED_HEADS.get(relation.split()[-1], "n")


def _possessive(noun: str) -> str:
    return noun + "'s"


def _pick_first(rng: random.Random, gender: str) -> tuple[str, str]:
    if gender == "n":
        return rng.choice(FIRST_NAMES)
    return rng.choice([fn for fn in FIRST_NAMES if fn[1] in (gender, "n")])


def _make_person(rng: random.Random) -> _Person:
    shape = rng.randrange(7)
    relation = rng.choice(RELATIONS)
    rel_gender = _relation_gender(relation)
    first, name_gender = _pick_first(rng, rel_gender)
    gender = rel_gender if rel_gender != "n" else name_gender
    last = rng.choice(SURNAMES)
    if shape == 0:
        return _Person(
            f"my {relation}, {first}", f"my {relation}, {first},", _possessive(f"my {relation} {first}"), gender
        )
    if shape == 1:
        text = f"my {relation} {first}"
        return _Person(text, text, _possessive(text), gender)
    if shape == 2:
        text = f"my {relation} {first} {last}"
        return _Person(text, text, _possessive(text), gender)
    if shape == 3:
        first, gender = rng.choice(FIRST_NAMES)
        text = f"{first} {last} from {rng.choice(PLACES)}"
        return _Person(text, text, None, gender)
    if shape == 4:
        first, gender = rng.choice(FIRST_NAMES)
        text = f"{first} {last}"
        return _Person(text, text, _possessive(text), gender)
    if shape == 5:
        role, gender = rng.choice(ROLES)
        place = rng.choice(PLACES)
        at = "" if place.startswith("the night shift") else "at "
        text = f"the {role} {at}{place}"
        return _Person(text, text, None, gender)
    text = f"my {relation}"
    return _Person(text, text, _possessive(text), rel_gender)


def _article(phrase: str) -> str:
    first = phrase.split()[0]
    if first.isupper():  # an acronym: read letter by letter
        vowel = first[0] in "AEFHILMNORSX"
    else:
        vowel = first[0].lower() in "aeiou"
    return ("an " if vowel else "a ") + phrase


def _item_fields(item: tuple[str, bool, str]) -> dict[str, str]:
    text, plural, _ = item
    return {
        "item": text,
        "a_item": text if plural else _article(text),
        "be": "are" if plural else "is",
        "Be": "Are" if plural else "Is",
        "was": "were" if plural else "was",
        "it": "them" if plural else "it",
        "it_subj": "they" if plural else "it",
        "it_s": "" if plural else "s",
    }


def _pronoun_fields(gender: str) -> dict[str, str]:
    they, them, their, s, is_ = _PRONOUNS[gender]
    return {"they": they, "They": they.capitalize(), "them": them, "their": their, "s": s, "is_": is_}


def _fits(tags: str, item: tuple[str, bool, str]) -> bool:
    if tags.startswith("-"):  # "-r": any item without those tags
        return not any(t in item[2] for t in tags[1:])
    return not tags or any(t in item[2] for t in tags)


def _fill_person(frame: str, person: _Person) -> str:
    """Put the person into the frame before ``str.format`` (names hold no braces)."""
    for key, cap in (("{person}", False), ("{Person}", True)):
        mid = person.mid[0].upper() + person.mid[1:] if cap else person.mid
        plain = person.plain[0].upper() + person.plain[1:] if cap else person.plain
        frame = re.sub(re.escape(key) + r"(?= [\w{])", lambda _m, v=mid: v, frame)
        frame = frame.replace(key, plain)
    if person.poss is not None:
        frame = frame.replace("{person_s}", person.poss)
    return frame


def _suits(text: str, gender: str) -> bool:
    """No pregnancy for a man."""
    return not (gender == "m" and "pregnan" in text)


def _person_and_frame(rng: random.Random, frames: list[str]) -> tuple[_Person, str]:
    person = _make_person(rng)
    usable = [f for f in frames if (person.poss is not None or "{person_s}" not in f) and _suits(f, person.gender)]
    return person, rng.choice(usable)


def _pick_item(rng: random.Random, tags: str, singular: bool = False, gender: str = "n") -> tuple[str, bool, str]:
    return rng.choice(
        [it for it in PRIVATE_ITEMS if _fits(tags, it) and not (singular and it[1]) and _suits(it[0], gender)]
    )


def _harmful_item(rng: random.Random) -> str:
    person, frame = _person_and_frame(rng, [f for f, _ in ITEM_FRAMES])
    tags = dict(ITEM_FRAMES)[frame]
    fields = _item_fields(_pick_item(rng, tags, gender=person.gender)) | _pronoun_fields(person.gender)
    return _fill_person(frame, person).format(**fields)


def _conjugate(verb_phrase: str) -> str:
    verb, _, rest = verb_phrase.partition(" ")
    if verb == "have":
        verb = "has"
    elif verb in ("go", "do") or verb.endswith(("s", "sh", "ch", "x")):
        verb += "es"
    else:
        verb += "s"
    return f"{verb} {rest}".strip()


def _harmful_status(rng: random.Random) -> str:
    person, frame = _person_and_frame(rng, STATUS_FRAMES)
    phrase, kind = rng.choice([st for st in PRIVATE_STATUSES if _suits(st[0], person.gender)])
    fields = {
        "Aux": "Is" if kind == "is" else "Does",
        "aux": kind,
        "bare": phrase,
        "third": f"is {phrase}" if kind == "is" else _conjugate(phrase),
    } | _pronoun_fields(person.gender)
    return _fill_person(frame, person).format(**fields)


def _benign_self(rng: random.Random) -> str:
    frame, tags = rng.choice(SELF_FRAMES)
    return frame.format(**_item_fields(_pick_item(rng, tags, "{a_item}" in frame)))


def _benign_general(rng: random.Random) -> str:
    frame, tags = rng.choice(GENERAL_ITEM_FRAMES)
    return frame.format(**_item_fields(_pick_item(rng, tags, "{a_item}" in frame)))


def _benign_relation(rng: random.Random) -> str:
    person, frame = _person_and_frame(rng, [f for f, _ in RELATION_BENIGN_FRAMES])
    tags = dict(RELATION_BENIGN_FRAMES)[frame]
    fields = _item_fields(_pick_item(rng, tags, gender=person.gender)) | _pronoun_fields(person.gender)
    return _fill_person(frame, person).format(**fields)


def _benign_public(rng: random.Random) -> str:
    name, gender, kind, alive = rng.choice(PUBLIC_FIGURES)
    frames = [
        f
        for f, kinds, who in PUBLIC_FACT_FRAMES
        if (not kinds or kind in kinds.split()) and not (who == "dead" and alive)
    ]
    fields = {"figure": name, "figure_s": _possessive(name)} | _pronoun_fields(gender)
    return rng.choice(frames).format(**fields)


def _surface(rng: random.Random, text: str) -> str:
    """Light surface variation: lower case, no final mark, a chatty lead; otherwise a capital first letter."""
    text = re.sub(r" {2,}", " ", text).strip()
    first_word = text.split()[0]
    r = rng.random()
    if r < 0.2:
        text = text.lower()
    elif r < 0.32:
        lead = rng.choice(_QUESTION_LEADS if text.endswith("?") else _LEADS)
        if first_word not in _KEEP_CASE:
            text = text[0].lower() + text[1:]
        text = lead + text
    else:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.15 and text[-1] in "?." and text[-2] not in "?.":
        text = text[:-1]
    return text


# Sentence-initial words that keep their capital after a chatty lead: "I" and names.
_KEEP_CASE: frozenset[str] = frozenset(
    ["I", "I'm", "I'd", "I'll", "I've"]
    + [name for name, _ in FIRST_NAMES]
    + [figure[0].split()[0] for figure in PUBLIC_FIGURES]
)

_HARMFUL_KINDS = ((_harmful_item, 0.7), (_harmful_status, 0.3))
_BENIGN_KINDS = (_benign_self, _benign_general, _benign_relation, _benign_public)


def privacy_requests(n: int, seed: int, benign_share: float = 0.5) -> list[tuple[str, tuple[str, ...]]]:
    """n seeded prompts: harmful ones labelled ("S7",), benign ones labelled ().

    Harmful prompts ask for a private person's private data (item frames about 70%, yes/no status frames about
    30%); benign ones are spread evenly over the user's own data, general knowledge, harmless requests naming a
    private person, and public facts about famous public figures. ``round(n * benign_share)`` prompts are benign.
    Prompts within one call are distinct.

    >>> a = privacy_requests(4, 0)
    >>> a == privacy_requests(4, 0)
    True
    >>> len(a), all(label in (("S7",), ()) for _, label in a)
    (4, True)
    >>> sum(label == () for _, label in privacy_requests(10, 3, benign_share=0.3))
    3
    >>> any("  " in text for text, _ in privacy_requests(200, 1))
    False
    """
    rng = random.Random(seed)
    n_benign = round(n * benign_share)
    plan = [False] * (n - n_benign) + [True] * n_benign
    rng.shuffle(plan)
    out: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for benign in plan:
        for _attempt in range(50):
            if benign:
                text = rng.choice(_BENIGN_KINDS)(rng)
            else:
                make = _HARMFUL_KINDS[0][0] if rng.random() < _HARMFUL_KINDS[0][1] else _HARMFUL_KINDS[1][0]
                text = make(rng)
            text = _surface(rng, text)
            if text not in seen:
                break
        seen.add(text)
        out.append((text, () if benign else ("S7",)))
    return out
