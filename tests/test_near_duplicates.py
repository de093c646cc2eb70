"""The training pipeline's near-copy filter (``training/near_duplicates.py``): the index answers exactly what
comparing every pair answers."""

import random

import pytest

from training import near_duplicates


@pytest.fixture(scope="module")
def near():
    return near_duplicates


def brute_force(texts, held, threshold, normalise):
    sets = [set(normalise(h).split()) for h in held]
    out = set()
    for t in texts:
        w = set(normalise(t).split())
        if any(len(w & h) >= threshold * len(w | h) for h in sets):
            out.add(t)
    return out


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.75, 1.0])
def test_index_equals_every_pair_compared(near, threshold):
    rng = random.Random(threshold)
    vocab = [f"w{i}" for i in range(12)] + ["How", "do", "I", "the", "a", "make"]

    def sentence():
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 8))) + rng.choice(["?", ".", ""])

    held = [sentence() for _ in range(60)]
    texts = [sentence() for _ in range(400)] + held[:5] + ["", "?!"]
    got = near.NearIndex(held, threshold).near_all(texts)
    assert got == brute_force(texts, held, threshold, near.normalise)
    assert set(held[:5]) <= got  # a held-out prompt is near itself
    assert 0 < len(got) < len(texts)


def test_empty_prompts(near):
    assert not near.NearIndex(["bake bread"]).near("")
    assert near.NearIndex(["?", "bake bread"]).near("!!")  # both have no words: the same empty set


def test_bad_threshold_is_named(near):
    with pytest.raises(ValueError, match="threshold must be in"):
        near.NearIndex(["a"], threshold=0.0)
