"""frozen_heap: the loaded model out of the collector's full passes during evaluate and serve, the process's own
freeze left as it was."""

import gc

import marginal_generate.evaluation.runner as runner
from marginal_generate.cli import main
from marginal_generate.gc_freeze import frozen_heap


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
