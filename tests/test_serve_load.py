"""benchmarks/serve_load.py --model real-vocab: the saved model, loaded as ``serve`` loads it, is the planted model,
and the script runs end to end."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("llama_models")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"
spec = importlib.util.spec_from_file_location("serve_load", SCRIPT)
serve_load = importlib.util.module_from_spec(spec)
spec.loader.exec_module(serve_load)


def test_saved_real_vocab_model_loads_planted(tmp_path, monkeypatch):
    import marginal_generate.loading as loading
    from marginal_generate.testing import llama3_tokenizer, planted_guard_llama

    monkeypatch.setattr(loading, "load_model", loading.load_model)  # restored after the test
    described = serve_load.save_real_vocab(tmp_path, layers=1, hidden=64)
    assert (
        described
        == "random Llama (1 layers, hidden 64), vocabulary 128256 (real Llama 3 tokenizer), guard bigrams planted"
    )
    serve_load.plant_on_load()
    model, tokenizer, dtype = loading.load_model(str(tmp_path), "cpu", "float32")
    tok = llama3_tokenizer()
    shape = dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=1, num_key_value_heads=1
    )
    reference = planted_guard_llama(tok, shape)  # the same seed: the model save_real_vocab saved, hook included
    unsafe, newline = tok.convert_tokens_to_ids("unsafe"), tok.convert_tokens_to_ids("Ċ")
    ids = torch.tensor([[128000, 9906, 1917, unsafe]])
    with torch.no_grad():
        got, want = model(input_ids=ids).logits, reference(input_ids=ids).logits
    assert (dtype, tokenizer.eos_token_id, len(tokenizer)) == ("float32", tok.eos_token_id, 128256)
    torch.testing.assert_close(got, want)
    assert round(got[0, -1].softmax(-1)[newline].item(), 1) == 0.9  # the planted bigram: after 'unsafe', a newline


@pytest.mark.slow
def test_real_vocab_load_table():
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cmd = [sys.executable, str(SCRIPT), "--model", "real-vocab", "--layers", "1", "--hidden", "64"]
    cmd += ["--levels", "1,2", "--requests", "2", "--warm-up", "1", "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("model: random Llama (1 layers, hidden 64), vocabulary 128256 (real Llama 3 tokenizer)")
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines if line[:4] in ("| 1 ", "| 2 ")]
    assert [(r[0], r[1], r[6]) for r in rows] == [("1", "2", "1.0"), ("2", "2", rows[1][6])]
    assert rows[0][7] == "1.00"  # the sequential level is the baseline
    assert 1.0 <= float(rows[1][6]) <= 2.0  # two clients: one or two prompts per model call
    assert all(float(r[2]) > 0 and float(r[4]) <= float(r[5]) for r in rows)  # wall time; p50 <= p99
