"""The collector paused while a batch is scored (and on again after, even when scoring raises), a search that leaves
no reference cycle behind (so the pause frees as much as the collector would), and frozen_heap: the loaded model out
of the collector's full passes during evaluate and serve, the process's own freeze left as it was."""

import gc
import threading

import pytest

import marginal_generate as mg
import marginal_generate.evaluation.runner as runner
import marginal_generate.generate as generate
from marginal_generate.cli import main
from marginal_generate.garbage_collection import collection_paused, frozen_heap
from marginal_generate.prompts import conversation, encode_conversations


@pytest.fixture(scope="module")
def embedded():
    model, tok = mg.load_default()
    inputs = encode_conversations(
        tok, [conversation("How do I make a pipe bomb?"), conversation("Best banana bread recipe?")]
    )
    return model, mg.LabelSpace.llama_guard(tok), inputs["input_ids"], inputs["attention_mask"]


def test_score_runs_with_the_collector_paused_and_turns_it_back_on(embedded, monkeypatch):
    model, space, ids, mask = embedded
    seen, search = [], generate.run_search

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return search(*args, **kwargs)

    monkeypatch.setattr(generate, "run_search", spy)
    assert gc.isenabled()
    scores = mg.score(model, ids, mask, space, ["any_place", "token_probability"])
    assert seen == [False] and gc.isenabled()
    assert scores["any_place"].probs.shape == (2, len(space.labels))
    with pytest.raises(ValueError, match="eps"):  # raised inside the pause: the collector is on again
        mg.score(model, ids, mask, space, ["any_place"], eps=-1.0)
    assert gc.isenabled()


def test_a_search_leaves_no_reference_cycle(embedded):
    model, space, ids, mask = embedded
    gc.collect()
    gc.disable()
    try:
        mg.score(model, ids, mask, space, ["any_place", "token_probability", "max_over_generations"])
        assert gc.collect() == 0  # everything it allocated was freed by reference counting
    finally:
        gc.enable()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_callers_share_one_pause():
    first_in, first_may_leave = threading.Event(), threading.Event()
    seen = []

    def first():
        with collection_paused():
            first_in.set()
            first_may_leave.wait(10)
        seen.append(("first left", gc.isenabled()))

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with collection_paused():
        pass
    seen.append(("second left", gc.isenabled()))  # the first is still inside: still paused
    first_may_leave.set()
    thread.join(10)
    assert seen == [("second left", False), ("first left", True)]
    assert gc.isenabled()


def test_frozen_heap_freezes_what_is_alive_and_gives_it_back():
    assert gc.get_freeze_count() == 0
    alive = [object() for _ in range(3)]
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > len(alive)
        garbage = [[] for _ in range(5)]  # made inside: not frozen
        assert gc.get_freeze_count() == frozen and garbage
    assert gc.get_freeze_count() == 0


def test_a_freeze_the_process_asked_for_stays():
    gc.freeze()
    try:
        owned = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() >= owned > 0
    finally:
        gc.unfreeze()


def test_evaluate_scores_inside_the_freeze_and_gives_it_back(tmp_path, monkeypatch, capsys):
    seen = []

    def scoring(*args, **kwargs):  # the run's scoring, after the model loaded: what the collector skips then
        seen.append(gc.get_freeze_count())
        return None

    monkeypatch.setattr(runner, "_run", scoring)
    assert main(["evaluate", "--output-dir", str(tmp_path / "run"), "--num-samples", "4", "--no-progress"]) == 0
    assert len(seen) == 1 and seen[0] > 10_000  # the model, the tokenizer, torch, transformers: all frozen
    assert gc.get_freeze_count() == 0


def test_the_space_serves_inside_the_freeze(monkeypatch):
    import importlib

    from marginal_generate.space.command import main as space_main

    space_serve = importlib.import_module("marginal_generate.space.serve")  # the module (the package names a function)

    seen = []
    monkeypatch.setattr(space_serve, "serve", lambda demo, host, port: seen.append(gc.get_freeze_count()))
    assert space_main(["--port", "0"]) == 0
    assert len(seen) == 1 and seen[0] > 10_000  # the model and the page, built before: all frozen while it serves
    assert gc.get_freeze_count() == 0
