import pytest

from marginal_generate.labels.taxonomy import (
    BEAVERTAILS_CATEGORIES,
    BEAVERTAILS_TO_LLAMA_GUARD_2,
    BEAVERTAILS_TO_LLAMA_GUARD_3,
    LLAMA_GUARD_2,
    LLAMA_GUARD_3,
    category_sort_key,
    get_taxonomy,
    map_beavertails,
)


def test_llama_guard_3_names():
    assert LLAMA_GUARD_3.ids == tuple(f"S{i}" for i in range(1, 15))
    names = [c.name for c in LLAMA_GUARD_3]
    assert names == [
        "Violent Crimes",
        "Non-Violent Crimes",
        "Sex-Related Crimes",
        "Child Sexual Exploitation",
        "Defamation",
        "Specialized Advice",
        "Privacy",
        "Intellectual Property",
        "Indiscriminate Weapons",
        "Hate",
        "Suicide & Self-Harm",
        "Sexual Content",
        "Elections",
        "Code Interpreter Abuse",
    ]
    assert all(c.description.endswith(".") and "\n" not in c.description for c in LLAMA_GUARD_3)


def test_llama_guard_2_names():
    assert LLAMA_GUARD_2.ids == tuple(f"S{i}" for i in range(1, 12))
    assert [c.name for c in LLAMA_GUARD_2] == [
        "Violent Crimes",
        "Non-Violent Crimes",
        "Sex Crimes",
        "Child Exploitation",
        "Specialized Advice",
        "Privacy",
        "Intellectual Property",
        "Indiscriminate Weapons",
        "Hate",
        "Self-Harm",
        "Sexual Content",
    ]


def test_unknown_id_and_version():
    with pytest.raises(KeyError, match="unknown category id 'S12' for Llama Guard 2"):
        LLAMA_GUARD_2["S12"]
    with pytest.raises(ValueError, match=r"`taxonomy` must be 2 or 3 .* got 1"):
        get_taxonomy(1)


def test_beavertails_mapping_matches_taxonomy_md():
    assert len(BEAVERTAILS_CATEGORIES) == 14
    assert BEAVERTAILS_TO_LLAMA_GUARD_3["controversial_topics,politics"] == "S13"
    assert BEAVERTAILS_TO_LLAMA_GUARD_2["controversial_topics,politics"] == "S9"
    assert BEAVERTAILS_TO_LLAMA_GUARD_3["misinformation_regarding_ethics,laws_and_safety"] == "S6"
    assert BEAVERTAILS_TO_LLAMA_GUARD_2["misinformation_regarding_ethics,laws_and_safety"] == "S5"
    assert BEAVERTAILS_TO_LLAMA_GUARD_3["privacy_violation"] == "S7"
    assert BEAVERTAILS_TO_LLAMA_GUARD_2["self_harm"] == "S10"
    assert BEAVERTAILS_TO_LLAMA_GUARD_3["sexually_explicit,adult_content"] == "S12"
    assert set(BEAVERTAILS_TO_LLAMA_GUARD_3.values()) <= set(LLAMA_GUARD_3.ids)
    assert set(BEAVERTAILS_TO_LLAMA_GUARD_2.values()) <= set(LLAMA_GUARD_2.ids)


def test_map_beavertails_all_flags():
    flags = dict.fromkeys(BEAVERTAILS_CATEGORIES, True)
    assert map_beavertails(flags, 3) == ["S1", "S2", "S6", "S7", "S10", "S11", "S12", "S13"]
    assert map_beavertails(flags, 2) == ["S1", "S2", "S5", "S6", "S9", "S10", "S11"]
    assert map_beavertails(dict.fromkeys(BEAVERTAILS_CATEGORIES, False)) == []


def test_sort_key():
    assert sorted(["S14", "S3", "S10"], key=category_sort_key) == ["S3", "S10", "S14"]
