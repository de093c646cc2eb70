"""benchmarks/timing.py, the speed benchmarks' shared timing and table code: its examples, and its tables equal the
f-strings the scripts printed before (their output, copied into benchmarks/RESULTS.md, keeps its shape)."""

from __future__ import annotations

import doctest
import importlib.util
import math
import sys
from pathlib import Path

TIMING = Path(__file__).resolve().parents[1] / "benchmarks" / "timing.py"


def load_timing():
    spec = importlib.util.spec_from_file_location("timing", TIMING)
    module = importlib.util.module_from_spec(spec)
    sys.modules["timing"] = module
    spec.loader.exec_module(module)
    return module


def test_examples():
    result = doctest.testmod(load_timing())
    assert result.attempted >= 8 and result.failed == 0


def test_tables_equal_the_scripts_earlier_f_strings():
    timing = load_timing()
    label, seconds, forwards, peak = "any_place, tree attention", 1.23456, 42, math.nan
    earlier = "\n".join(
        [
            f"| {'method':36} | {'wall s':>8} | {'forwards':>8} | {'x greedy':>8} | {'peak GiB':>8} |",
            f"|{'-' * 38}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|",
            f"| {label:36} | {seconds:8.3f} | {forwards:8d} | {seconds / 0.5:8.2f} | {peak:8.2f} |",
        ]
    )
    columns = [("method", 36, ""), ("wall s", 8, ".3f"), ("forwards", 8, "d"), ("x greedy", 8, ".2f")]
    columns.append(("peak GiB", 8, ".2f"))
    assert timing.table(columns, [(label, seconds, forwards, seconds / 0.5, peak)]) == earlier
    work = f"{1234:7d} {'nodes':6}"  # real_vocab_speed's cell of two values
    assert timing.table([("work", 14, "")], [(work,)]).splitlines()[2] == f"| {work} |"


def test_interleaved_times_each_method_every_round_and_a_reference_once():
    timing = load_timing()
    calls = []
    methods = [(name, lambda name=name: calls.append(name) or len(calls)) for name in ("greedy", "lower", "walk")]
    best, outputs = timing.interleaved(methods, repeats=3, once={"walk"})
    assert calls == ["greedy", "lower", "walk"] + ["greedy", "lower", "walk"] + ["greedy", "lower"] * 2
    assert outputs == {"greedy": 1, "lower": 2, "walk": 3}  # the warm-up's
    assert all(0 <= best[name] < math.inf for name in outputs)


def test_forward_clock_counts_the_forwards_of_generate_and_their_tokens_and_puts_the_model_back():
    import torch

    from marginal_generate.testing import tiny_llama, word_level_tokenizer

    timing = load_timing()
    tok = word_level_tokenizer(["safe", "unsafe", "S1"])
    model = tiny_llama(tok)
    ids = torch.tensor([[tok.convert_tokens_to_ids("safe")] * 3])

    def greedy():
        return model.generate(input_ids=ids, do_sample=False, max_new_tokens=4, min_new_tokens=4, pad_token_id=0)

    with timing.ForwardClock(model) as clock:
        best, outputs = timing.interleaved([("greedy", greedy)], repeats=2, clock=clock)
        assert clock.calls == 4  # the last run's: the prefill and three steps
    assert outputs["greedy"].shape == (1, 7)
    assert 0 < clock.best["greedy"] <= best["greedy"]  # the forwards of the best run, inside its wall time
    assert clock.best_tokens["greedy"] == 3  # one row, three tokens fed past the prompt (the prefill's not counted)
    assert "forward" not in vars(model)  # the class's forward again
    assert torch.equal(greedy(), outputs["greedy"])
