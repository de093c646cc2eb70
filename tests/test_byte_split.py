"""Characters split over two byte-level tokens, on the real Llama 3 tokenizer (issue #29, item 1).

Llama 3 writes a no-break space (bytes C2 A0), ``é`` (C3 A9) or an em space (E2 80 83) as one token, but every byte
is a token too, so a model can write the character in pieces. A prefix that ends inside the character decodes to
U+FFFD; the next token may complete it, so the prefix must stay open (``[C2]`` may still become ``\\xa0unsafe``,
``Yes`` + ``[C3]`` may still become ``Yesé``, which is no ``Yes``).

The models here are :class:`Planted` tables: a tiny Llama over the real 128,256-token vocabulary whose logits are
replaced by a table of next-token probabilities keyed by the previous token (-inf elsewhere), so every answer the
table spells, byte-split ones included, has the table's mass by construction, and the brute force enumerates them
all: each answer decoded as a whole and parsed. ``any_place`` at ``eps=0`` must equal it, and its bounds must hold it
under cuts, in every grammar: Llama Guard's first line and category line, label lists, yes/no, WildGuard fields.
"""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

import marginal_generate as mg
from marginal_generate.decoding.prefixes import PrefixReader
from marginal_generate.decoding.reference import forward_next_logits, tree_search_reference
from marginal_generate.labels.fields import WILDGUARD_FIELDS
from marginal_generate.labels.prefix_state import PrefixState
from marginal_generate.testing import llama3_tokenizer, tiny_llama

BOS, EOS = "<bos>", "<eos>"

# previous piece -> {next piece: probability}; a piece is a text that is one Llama 3 token, or an int: one byte
TABLES: dict[str, dict[object, dict[object, float]]] = {
    "llama_guard": {
        BOS: {0xC2: 0.5, "\n\n": 0.25, "safe": 0.25},
        0xC2: {0xA0: 0.8, "unsafe": 0.2},  # a no-break space, or a lone C2 (invalid) before "unsafe"
        0xA0: {"unsafe": 0.7, EOS: 0.3},
        "\n\n": {"unsafe": 1.0},
        "unsafe": {"\n": 0.5, 0xE2: 0.3, EOS: 0.2},  # E2 80 83: an em space closing the first line
        0xE2: {0x80: 1.0},
        0x80: {0x83: 0.7, "\n": 0.3},
        0x83: {"\n": 1.0},
        "\n": {"S": 1.0},
        "S": {"1": 0.6, "2": 0.4},
        "1": {",S": 0.3, 0xC3: 0.2, 0xC2: 0.2, EOS: 0.3},  # "S1é" is no id; "S1\xa0" is S1
        0xC3: {0xA9: 0.6, ",S": 0.4},
        0xA9: {",S": 0.5, EOS: 0.5},
        ",S": {"2": 1.0},
        "2": {EOS: 1.0},
        "safe": {EOS: 1.0},
    },
    "yes_no": {
        BOS: {0xC2: 0.35, "Yes": 0.4, "No": 0.2, 0xA9: 0.05},  # a lone continuation byte: decided
        0xC2: {0xA0: 1.0},
        0xA0: {"Yes": 0.7, "No": 0.3},
        "Yes": {0xC3: 0.5, EOS: 0.3, ",": 0.2},  # "Yesé" is no Yes; "Yes" + a lone C3 at the end is
        0xC3: {0xA9: 0.7, EOS: 0.3},
        0xA9: {EOS: 1.0},
        ",": {EOS: 1.0},
        "No": {EOS: 1.0},
    },
    "label_list": {
        BOS: {0xC2: 0.3, "joy": 0.3, "sad": 0.4},
        0xC2: {0xA0: 1.0},
        0xA0: {"joy": 0.5, ",": 0.3, EOS: 0.2},
        "joy": {",": 0.4, 0xC2: 0.3, 0xC3: 0.3},  # "joy\xa0," is joy; "joyé" is no label
        0xC3: {0xA9: 1.0},
        0xA9: {",": 0.5, EOS: 0.5},
        ",": {" anger": 0.6, EOS: 0.4},
        " anger": {EOS: 1.0},
        "sad": {"ness": 0.4, 0xC3: 0.4, ",": 0.2},
        "ness": {EOS: 0.6, ",": 0.4},
    },
    "wildguard": {
        BOS: {0xC2: 0.5, "H": 0.5},
        0xC2: {0xA0: 1.0},
        0xA0: {"H": 0.6, "yes": 0.4},  # "\xa0Harmful request" names the field; ":\xa0yes" is its value
        "H": {"arm": 1.0},
        "arm": {"ful": 1.0},
        "ful": {" request": 0.7, " response": 0.3},
        " request": {":": 1.0},
        " response": {":": 1.0},
        ":": {" yes": 0.5, 0xC2: 0.3, " no": 0.2},
        " yes": {"\n": 0.4, 0xC3: 0.3, EOS: 0.3},  # " yesé" is no value
        0xC3: {0xA9: 1.0},
        0xA9: {"\n": 1.0},
        "yes": {"\n": 0.5, EOS: 0.5},
        " no": {"\n": 0.5, EOS: 0.5},
        "\n": {"H": 1.0},
    },
}
DEPTH = {"llama_guard": 9, "yes_no": 5, "label_list": 7, "wildguard": 12}


@cache
def tokenizer():
    return llama3_tokenizer()


def space_of(grammar: str) -> mg.LabelSpace:
    tok = tokenizer()
    if grammar == "llama_guard":
        return mg.LabelSpace.llama_guard(tok, categories=["S1", "S2"])
    if grammar == "yes_no":
        return mg.LabelSpace.yes_no(tok, "harm")
    if grammar == "label_list":
        return mg.LabelSpace.label_list(tok, ["joy", "anger", "sad", "sadness"])
    return mg.LabelSpace.fields(tok, WILDGUARD_FIELDS)


def token_of(piece: object) -> int:
    """The one Llama 3 token of a piece: a text, a byte (Llama 3 has a token for each of the 256), BOS or EOS."""
    tok = tokenizer()
    if piece == BOS:
        return tok.bos_token_id
    if piece == EOS:
        return tok.eos_token_id
    if isinstance(piece, int):
        ids = tok.convert_tokens_to_ids([_BYTE_CHARS[piece]])
    else:
        ids = tok(piece, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1, (piece, ids)
    return ids[0]


def _byte_chars() -> dict[int, str]:
    """GPT-2's byte -> printable character map, which byte-level BPE vocabularies are written in."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


_BYTE_CHARS = _byte_chars()


class Planted:
    """A table of next-token probabilities by previous token, as token ids (see the module docstring)."""

    def __init__(self, table: dict[object, dict[object, float]]):
        self.next: dict[int, dict[int, float]] = {
            token_of(prev): {token_of(t): p for t, p in row.items()} for prev, row in table.items()
        }
        for row in self.next.values():
            assert math.isclose(sum(row.values()), 1.0)

    @cache
    def model(self) -> torch.nn.Module:
        """A tiny Llama whose logits are the table's log-probabilities (-inf outside the table's row)."""
        tok = tokenizer()
        torch.set_num_threads(1)
        model = tiny_llama(tok, hidden_size=8, num_layers=1, dtype=torch.float64)
        previous = sorted(self.next)
        rows = torch.full((len(previous) + 1, len(tok)), -math.inf, dtype=torch.float64)
        for k, prev in enumerate(previous):
            for token, p in self.next[prev].items():
                rows[k, token] = math.log(p)
        rows[-1, tok.eos_token_id] = 0.0  # after a token outside the table: end
        index = torch.full((len(tok),), len(previous), dtype=torch.long)
        index[torch.tensor(previous)] = torch.arange(len(previous))

        def replace(_module, args, kwargs, output):
            ids = kwargs.get("input_ids", args[0] if args else None)
            last = ids[:, -output.logits.shape[1] :]
            output.logits = rows.to(output.logits.device)[index.to(last.device)[last]]
            return output

        model.register_forward_hook(replace, with_kwargs=True)
        return model

    def answers(self, depth: int) -> list[tuple[list[int], float]]:
        """Every answer the table writes (to EOS or ``depth`` tokens) with its probability."""
        eos = tokenizer().eos_token_id
        out, level = [], [([tokenizer().bos_token_id], 1.0)]
        while level:
            deeper = []
            for tokens, p in level:
                for token, q in self.next.get(tokens[-1], {eos: 1.0}).items():
                    child = (tokens + [token], p * q)
                    (out if token == eos or len(child[0]) - 1 >= depth else deeper).append(child)
            level = deeper
        return [(tokens[1:], p) for tokens, p in out]


@cache
def planted(grammar: str) -> Planted:
    return Planted(TABLES[grammar])


@cache
def exact(grammar: str) -> tuple[torch.Tensor, float]:
    """P(label) by brute force (every answer decoded whole and parsed) and the mass of byte-split answers."""
    space = space_of(grammar)
    probs = torch.zeros(len(space.labels), dtype=torch.float64)
    split = 0.0
    byte_tokens = {token_of(b) for b in range(256)}
    for tokens, p in planted(grammar).answers(DEPTH[grammar]):
        for label in space.parse(space.decode(tokens)):
            probs[space.index[label]] += p
        split += p if any(t in byte_tokens for t in tokens) else 0.0
    assert math.isclose(sum(p for _, p in planted(grammar).answers(DEPTH[grammar])), 1.0)
    return probs, split


def score(grammar: str, **kw) -> mg.LabelScores:
    ids = torch.tensor([[tokenizer().bos_token_id]])
    return mg.score(
        planted(grammar).model(),
        ids,
        torch.ones_like(ids),
        space_of(grammar),
        ["any_place"],
        max_new_tokens=DEPTH[grammar],
        eos_token_ids={tokenizer().eos_token_id},
        **kw,
    )["any_place"]


GRAMMARS = list(TABLES)


def test_a_prefix_inside_a_character_stays_open():
    """The issue's cases: ``[C2]`` gave ``PrefixState(∅, ∅)`` though ``\\xa0Yes`` / ``\\xa0unsafe`` follow, and ``Yes``
    + ``[C3]`` confirmed ``harm`` though ``Yesé`` is no Yes. The reader knows Llama 3's bytes; LabelSpace.prefix_state,
    which sees text only, holds back every trailing U+FFFD."""
    tok = tokenizer()
    guard, yes_no = PrefixReader(space_of("llama_guard")), PrefixReader(space_of("yes_no"))
    c2, a0, c3, a9 = (token_of(b) for b in (0xC2, 0xA0, 0xC3, 0xA9))
    yes, unsafe = token_of("Yes"), token_of("unsafe")
    assert tok.decode([c2]) == "\ufffd" and tok.decode([c2, a0]) == "\xa0"
    assert guard.read((c2,), finished=False) == ("", space_of("llama_guard").prefix_state("", False))
    assert guard.read((c2,), finished=False)[1].possible == {"unsafe", "S1", "S2"}
    assert guard.read((c2, a0, unsafe), finished=True)[1].confirmed == {"unsafe"}
    text, state = yes_no.read((yes, c3), finished=False)
    assert text == "Yes" and state.confirmed == frozenset() and state.possible == {"harm"}
    assert yes_no.read((yes, c3, a9), finished=False)[1] == PrefixState(frozenset())  # "Yesé": decided, no harm
    assert yes_no.read((c2, a0, yes), finished=True)[1].confirmed == {"harm"}
    # a lone continuation byte (A9) is no character's start: the prefix is decided text, not held open
    assert yes_no.read((a9,), finished=False) == ("\ufffd", PrefixState(frozenset()))
    assert guard.read((a9,), finished=False)[1].final and space_of("llama_guard").prefix_state("\ufffd", False).possible
    # a finished answer is read as decoded, like the final parse: a lone C3 at the end ends the first word
    assert yes_no.read((yes, c3), finished=True)[1].confirmed == {"harm"} == space_of("yes_no").parse("Yes\ufffd")


@pytest.mark.parametrize("grammar", GRAMMARS)
def test_exact_walk_equals_brute_force_with_split_characters(grammar):
    truth, split = exact(grammar)
    assert split > 0.3  # byte-split answers carry real mass
    out = score(grammar, eps=0.0, top_p=1.0)
    assert torch.allclose(out.lower[0], truth, atol=1e-9), (out.lower[0].tolist(), truth.tolist())
    assert torch.allclose(out.upper[0], truth, atol=1e-9)
    assert torch.allclose(out.probs[0], truth, atol=1e-9)


@pytest.mark.parametrize("grammar", GRAMMARS)
@pytest.mark.parametrize(("eps", "top_p", "estimate"), [(0.05, 1.0, "best"), (0.1, 0.85, "best"), (0.08, 0.7, "lower")])
def test_bounds_hold_the_exact_value_under_cuts(grammar, eps, top_p, estimate):
    truth, _ = exact(grammar)
    out = score(grammar, eps=eps, top_p=top_p, estimate=estimate)
    assert float((out.upper - out.lower).max()) > 1e-3  # the cuts dropped mass: the bounds have work to do
    assert (out.lower[0] <= truth + 1e-9).all() and (truth <= out.upper[0] + 1e-9).all(), (
        out.lower[0].tolist(),
        truth.tolist(),
        out.upper[0].tolist(),
    )
    assert (out.lower <= out.probs + 1e-12).all() and (out.probs <= out.upper + 1e-12).all()


@pytest.mark.parametrize("grammar", ["llama_guard", "yes_no"])
def test_the_reference_walk_reads_split_characters_the_same_way(grammar):
    truth, _ = exact(grammar)
    lower, upper, _ = tree_search_reference(
        forward_next_logits(planted(grammar).model(), [tokenizer().bos_token_id]),
        space_of(grammar),
        {tokenizer().eos_token_id},
        DEPTH[grammar],
    )
    assert torch.allclose(lower, truth, atol=1e-9) and torch.allclose(upper, truth, atol=1e-9)


# first-word tables for first_token (#29 leftover): the greedy answer starts with a character split over two tokens
FIRST_WORD = {
    # the Llama Guard table: greedy C2 A0 "unsafe"; at "unsafe"'s step unsafe has 0.7 and safe none, so 1.0 (was 0.0)
    "llama guard": (TABLES["llama_guard"], 1.0),
    # C2 A0 is a no-break space: whitespace, so the first word starts at "Yes"/"No" (step 2), read there: 0.7
    "no-break space": ({BOS: {0xC2: 0.6, "No": 0.4}, 0xC2: {0xA0: 1.0}, 0xA0: {"Yes": 0.7, "No": 0.3}}, 0.7),
    # C3 A9 is "é": the first non-whitespace character starts at C3 (step 0), where "No" has 0.4 and "Yes" none
    "é": ({BOS: {0xC3: 0.6, "No": 0.4}, 0xC3: {0xA9: 1.0}, 0xA9: {"Yes": 1.0}}, 0.0),
    # a lone C2 that ends the answer: U+FFFD is its first character, begun at step 0 (Yes 0.3 against No 0.2)
    "lone lead byte": ({BOS: {0xC2: 0.5, "Yes": 0.3, "No": 0.2}, 0xC2: {EOS: 1.0}}, 0.6),
}


@pytest.mark.parametrize("case", list(FIRST_WORD))
def test_first_token_reads_where_the_first_non_whitespace_character_starts(case):
    """A lone lead byte decodes to U+FFFD, which is not whitespace, so first_token read the C2 step as the first word
    (0.0 in the no-break space table, where the answer's first word is Yes 0.7 / No 0.3). It now reads the step where
    the first non-whitespace *character* starts, known once the character is whole."""
    table, expected = FIRST_WORD[case]
    model = Planted(table).model()
    ids = torch.tensor([[tokenizer().bos_token_id]])
    space = space_of("llama_guard" if case == "llama guard" else "yes_no")
    out = mg.score(
        model,
        ids,
        torch.ones_like(ids),
        space,
        ["first_token", "max_over_generations"],
        max_new_tokens=4,
        eos_token_ids={tokenizer().eos_token_id},
    )
    column = space.index[space.verbalizer.label]
    assert out["first_token"].probs[0, column].item() == pytest.approx(expected, abs=1e-9)
    assert out["max_over_generations"].probs[0, column].item() == pytest.approx(expected, abs=1e-9)
