"""Label lists, yes/no answers and fields on the real Llama 3 tokenizer (128,256 tokens, from llama-models).

The checks of test_grammars.py with kind ``"llama3"``: tiny models of hidden size 16 over the real
vocabulary, taught each grammar's answers a little (grammar_models.py); ``any_place`` against the
per-node brute-force reference, the greedy-path strategies against their definitions. (Enumerating
every completion, test_grammars' exact check, is out of reach at 128,256 tokens a step; the
per-node reference with eps > 0 keeps the brute force finite.) Fields (WildGuard) are marked slow:
their model trains 150 steps over the real vocabulary (about 80 s on 2 cores).
"""

import pytest
import test_grammars
from grammar_models import EMOTIONS, model, space, tokenizer

KIND = "llama3"


def test_label_names_split_into_real_llama3_pieces():
    tok, sp = tokenizer("label_list", KIND), space("label_list", KIND)
    assert len(tok) == 128256 and model("label_list", KIND).config.vocab_size == 128256
    first = sp.slot_tokens[0].first
    pieces = {label: sorted(tok.decode([t]) for t in first[label]) for label in EMOTIONS}
    assert pieces == {
        "joy": [" joy", "joy"],
        "anger": [" anger", "anger"],
        "anticipation": [" anticipation", "antic"],
        "sad": [" sad", "sad"],
        "sadness": [" sadness", "sad"],
    }
    assert set(first["sad"]) & set(first["sadness"])  # "sadness" is "sad" + "ness": a first token two labels share
    yes_no = space("yes_no", KIND)
    assert [[tok.decode([t]) for t in v] for v in yes_no.verbalizer_ids] == [["No"], ["Yes"]]


@pytest.mark.parametrize("grammar", ["label_list", "yes_no", pytest.param("wildguard", marks=pytest.mark.slow)])
def test_any_place_matches_the_per_node_reference(grammar):
    test_grammars.test_any_place_matches_the_per_node_reference(grammar, KIND)


@pytest.mark.parametrize("grammar", ["label_list", "yes_no", pytest.param("wildguard", marks=pytest.mark.slow)])
def test_greedy_path_strategies(grammar):
    test_grammars.test_greedy_path_strategies(grammar, KIND)


def test_first_generation_is_the_first_label_step():
    test_grammars.test_first_generation_is_the_first_label_step(KIND)
