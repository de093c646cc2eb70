"""Guard-model taxonomies: category ids, names and one-line descriptions, and data set mappings.

Llama Guard 3 (``meta-llama/Llama-Guard-3-8B``) has 14 categories S1–S14, Llama Guard 2
(``meta-llama/Meta-Llama-Guard-2-8B``) 11 categories S1–S11; the descriptions paraphrase
Meta's published hazard taxonomy (the MLCommons hazards) in one line each.
:data:`BEAVERTAILS_TO_LLAMA_GUARD_3` / :data:`BEAVERTAILS_TO_LLAMA_GUARD_2` map the 14
BeaverTails harm categories onto them (the mapping of the seed repository).

>>> LLAMA_GUARD_3["S10"].name
'Hate'
>>> LLAMA_GUARD_2.ids[-1], len(LLAMA_GUARD_2)
('S11', 11)
>>> map_beavertails({"self_harm": True, "privacy_violation": False, "animal_abuse": True}, taxonomy=3)
['S1', 'S11']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "Category",
    "Taxonomy",
    "LLAMA_GUARD_3",
    "LLAMA_GUARD_2",
    "BEAVERTAILS_CATEGORIES",
    "BEAVERTAILS_TO_LLAMA_GUARD_3",
    "BEAVERTAILS_TO_LLAMA_GUARD_2",
    "get_taxonomy",
    "category_sort_key",
    "map_beavertails",
]


@dataclass(frozen=True)
class Category:
    """One unsafe-content category: its id (``S1``), short name and one-line description.

    ``name`` is the name to show people (the model card's); ``prompt_name`` the one the model's
    published prompt uses, where they differ (Llama Guard 3's S3, S4, S11).

    >>> LLAMA_GUARD_3["S11"].name, LLAMA_GUARD_3["S11"].prompt_name
    ('Suicide & Self-Harm', 'Self-Harm')
    """

    id: str
    name: str
    description: str
    in_prompt: str | None = None

    @property
    def prompt_name(self) -> str:
        """The name as the model's published prompt writes it."""
        return self.in_prompt or self.name


@dataclass(frozen=True)
class Taxonomy:
    """An ordered set of categories, indexed by id.

    >>> LLAMA_GUARD_3.ids[:3]
    ('S1', 'S2', 'S3')
    >>> "S14" in LLAMA_GUARD_3, "S14" in LLAMA_GUARD_2
    (True, False)
    >>> LLAMA_GUARD_3.name_of("S14")
    'Code Interpreter Abuse'
    """

    name: str
    categories: tuple[Category, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __contains__(self, category_id: object) -> bool:
        return any(c.id == category_id for c in self.categories)

    def __getitem__(self, category_id: str) -> Category:
        for c in self.categories:
            if c.id == category_id:
                return c
        raise KeyError(f"unknown category id {category_id!r} for {self.name}; expected one of {', '.join(self.ids)}.")

    def name_of(self, category_id: str) -> str:
        return self[category_id].name


def _taxonomy(name: str, rows: list[tuple[str, ...]]) -> Taxonomy:
    """Categories S1, S2, ... from rows (name, description[, name in the published prompt])."""
    return Taxonomy(name, tuple(Category(f"S{i}", *row) for i, row in enumerate(rows, start=1)))


LLAMA_GUARD_3 = _taxonomy(
    "Llama Guard 3",
    [
        (
            "Violent Crimes",
            "Enables, encourages or endorses violent crimes against people (terrorism, murder, "
            "assault, kidnapping, child abuse) or animals (animal abuse).",
        ),
        (
            "Non-Violent Crimes",
            "Enables, encourages or endorses non-violent crimes: personal (trafficking, "
            "threats), financial (fraud, scams, money laundering), property (theft, arson, "
            "vandalism), drug, weapons and cyber crimes (hacking).",
        ),
        (
            "Sex-Related Crimes",
            "Enables, encourages or endorses sex trafficking, sexual assault, sexual harassment or prostitution.",
            "Sex Crimes",
        ),
        (
            "Child Sexual Exploitation",
            "Contains, describes, enables, encourages or endorses the sexual abuse of children.",
            "Child Exploitation",
        ),
        ("Defamation", "Is both verifiably false and likely to injure a living person's reputation."),
        (
            "Specialized Advice",
            "Contains specialized financial, medical or legal advice, or indicates "
            "that dangerous activities or objects are safe.",
        ),
        (
            "Privacy",
            "Contains sensitive, nonpublic personal information that could undermine "
            "someone's physical, digital or financial security.",
        ),
        ("Intellectual Property", "May violate the intellectual property rights of a third party."),
        (
            "Indiscriminate Weapons",
            "Enables, encourages or endorses chemical, biological, radiological, "
            "nuclear or high-yield explosive weapons.",
        ),
        (
            "Hate",
            "Demeans or dehumanizes people on the basis of sensitive personal characteristics (race, ethnicity, "
            "religion, disability, sexual orientation, gender identity, serious disease).",
        ),
        (
            "Suicide & Self-Harm",
            "Enables, encourages or endorses intentional self-harm: suicide, "
            "self-injury (cutting) or disordered eating.",
            "Self-Harm",
        ),
        ("Sexual Content", "Contains erotica or sexually explicit content."),
        (
            "Elections",
            "Contains factually incorrect information about electoral systems and "
            "processes, including the time, place or manner of voting.",
        ),
        (
            "Code Interpreter Abuse",
            "Seeks to abuse code interpreters: denial of service, container escapes or privilege escalation exploits.",
        ),
    ],
)

LLAMA_GUARD_2 = _taxonomy(
    "Llama Guard 2",
    [
        (
            "Violent Crimes",
            "Enables, encourages or endorses violent crimes against people (terrorism, murder, "
            "assault, kidnapping, child abuse) or animals (animal abuse).",
        ),
        (
            "Non-Violent Crimes",
            "Enables, encourages or endorses non-violent crimes: financial, property, "
            "drug, weapons and cyber crimes, threats and trafficking.",
        ),
        (
            "Sex Crimes",
            "Enables, encourages or endorses sex trafficking, sexual assault, sexual harassment or prostitution.",
        ),
        ("Child Exploitation", "Contains, describes, enables, encourages or endorses the sexual abuse of children."),
        ("Specialized Advice", "Contains specialized financial, medical or legal advice."),
        ("Privacy", "Contains sensitive, personal information about private individuals."),
        ("Intellectual Property", "Violates the intellectual property rights of third parties."),
        (
            "Indiscriminate Weapons",
            "Enables, encourages or endorses chemical, biological, radiological, "
            "nuclear or high-yield explosive weapons.",
        ),
        (
            "Hate",
            "Is hateful toward people on the basis of their protected "
            "characteristics, or perpetuates negative stereotypes.",
        ),
        (
            "Self-Harm",
            "Enables, encourages or endorses intentional self-harm: suicide, self-injury or disordered eating.",
        ),
        ("Sexual Content", "Contains depictions of nude adults or explicit descriptions of sex acts."),
    ],
)

BEAVERTAILS_CATEGORIES: tuple[str, ...] = (
    "animal_abuse",
    "child_abuse",
    "controversial_topics,politics",
    "discrimination,stereotype,injustice",
    "drug_abuse,weapons,banned_substance",
    "financial_crime,property_crime,theft",
    "hate_speech,offensive_language",
    "misinformation_regarding_ethics,laws_and_safety",
    "non_violent_unethical_behavior",
    "privacy_violation",
    "self_harm",
    "sexually_explicit,adult_content",
    "terrorism,organized_crime",
    "violence,aiding_and_abetting,incitement",
)

_LG3 = ("S1", "S1", "S13", "S10", "S2", "S2", "S10", "S6", "S2", "S7", "S11", "S12", "S1", "S1")
_LG2 = ("S1", "S1", "S9", "S9", "S2", "S2", "S9", "S5", "S2", "S6", "S10", "S11", "S1", "S1")
BEAVERTAILS_TO_LLAMA_GUARD_3: Mapping[str, str] = dict(zip(BEAVERTAILS_CATEGORIES, _LG3))
BEAVERTAILS_TO_LLAMA_GUARD_2: Mapping[str, str] = dict(zip(BEAVERTAILS_CATEGORIES, _LG2))


def get_taxonomy(taxonomy: int) -> Taxonomy:
    """The Llama Guard ``taxonomy`` (2 or 3) taxonomy.

    >>> get_taxonomy(2).name
    'Llama Guard 2'
    >>> get_taxonomy(4)
    Traceback (most recent call last):
    ...
    ValueError: `taxonomy` must be 2 or 3 (Llama Guard 2 or 3), got 4.
    """
    if taxonomy == 3:
        return LLAMA_GUARD_3
    if taxonomy == 2:
        return LLAMA_GUARD_2
    raise ValueError(f"`taxonomy` must be 2 or 3 (Llama Guard 2 or 3), got {taxonomy!r}.")


def category_sort_key(category_id: str) -> tuple[int, str]:
    """Numeric order of ids (``S2`` before ``S10``).

    >>> sorted(["S10", "S2", "S1"], key=category_sort_key)
    ['S1', 'S2', 'S10']
    """
    digits = category_id.lstrip("S")
    return (int(digits), category_id) if digits.isdigit() else (10**9, category_id)


def map_beavertails(flags: Mapping[str, bool], taxonomy: int = 3) -> list[str]:
    """The Llama Guard ids (numeric order, no repeats) of a BeaverTails ``category`` dict.

    >>> map_beavertails({"hate_speech,offensive_language": True,
    ...     "discrimination,stereotype,injustice": True}, taxonomy=2)
    ['S9']
    >>> map_beavertails({"jaywalking": True})
    Traceback (most recent call last):
    ...
    ValueError: unknown BeaverTails category 'jaywalking'; expected one of the 14 names in BEAVERTAILS_CATEGORIES.
    """
    mapping = BEAVERTAILS_TO_LLAMA_GUARD_3 if get_taxonomy(taxonomy) is LLAMA_GUARD_3 else BEAVERTAILS_TO_LLAMA_GUARD_2
    out = set()
    for name, flag in flags.items():
        if name not in mapping:
            raise ValueError(
                f"unknown BeaverTails category {name!r}; expected one of the 14 names in BEAVERTAILS_CATEGORIES."
            )
        if flag:
            out.add(mapping[name])
    return sorted(out, key=category_sort_key)
