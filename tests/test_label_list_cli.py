"""End to end: a tiny model trained here writes emotion label lists; the CLI scores it under every strategy."""

import json
import random

import pytest

from marginal_generate.cli import main
from marginal_generate.data.records import Record, save_records_jsonl
from marginal_generate.evaluation.label_lists import evaluate_label_lists, label_space_for
from marginal_generate.testing import byte_level_tokenizer, fit_tiny_guard, tiny_llama

EMOTIONS = ["joy", "anger", "sadness", "fear"]
WORDS = {"joy": ["sunny", "party"], "anger": ["rude", "broken"], "sadness": ["alone", "rain"], "fear": ["dark", "storm"]}
TEMPLATE = "Text: {text}\nAnswer: "


def synthetic_records(n: int, seed: int) -> list[Record]:
    """Texts of two cue words; three simulated raters each pick the emotions whose cue they notice (p=0.8)."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        emotions = rng.sample(EMOTIONS, rng.choice([1, 1, 2]))
        words = [rng.choice(WORDS[e]) for e in emotions] + (["today"] if len(emotions) == 1 else [])
        votes = {e: sum(rng.random() < 0.8 for _ in range(3)) / 3 for e in EMOTIONS}
        soft = {e: (votes[e] if e in emotions else 0.0) for e in EMOTIONS}
        labels = tuple(e for e in EMOTIONS if soft[e] >= 0.5)
        out.append(Record(({"role": "user", "content": " ".join(words)},), True, labels, k, "synthetic", soft))
    return out


def answer(record: Record) -> str:
    return ", ".join(record.categories) if record.categories else "none"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = synthetic_records(40, seed=1)
    pairs = [(TEMPLATE.format(text=r.conversation[0]["content"]), answer(r)) for r in train]
    corpus = [p + a for p, a in pairs] + EMOTIONS + ["none"]
    tok = byte_level_tokenizer(corpus * 5, vocab_size=120)
    model = fit_tiny_guard(tiny_llama(tok, seed=0, hidden_size=32), tok, pairs, steps=120, lr=2e-2)
    folder = tmp_path_factory.mktemp("label_list_model")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder, tok, model


@pytest.mark.slow
def test_cli_scores_label_lists_under_every_strategy(trained, tmp_path, capsys):
    folder, _, _ = trained
    data = tmp_path / "records.jsonl"
    save_records_jsonl(synthetic_records(30, seed=2), data)
    out_dir = tmp_path / "out"
    status = main(["evaluate-labels", "--model", str(folder), "--dataset", str(data), "--grammar", "label_list",
                   "--labels", ",".join(EMOTIONS), "--prompt-template", TEMPLATE, "--max-new-tokens", "10",
                   "--output-dir", str(out_dir)])
    printed = capsys.readouterr().out
    print(printed)
    assert status == 0
    report = json.loads((out_dir / "label_list_metrics.json").read_text())
    rows = report["strategies"]
    assert list(rows) == ["greedy", "token_probability", "fixed_place", "any_place", "max_over_generations", "first_generation"]
    for name, row in rows.items():
        assert name in printed
        assert 0.0 <= row["l1"] <= 1.0 and 0.0 <= row["jsd_platt"] <= 1.0
    assert rows["any_place"]["roc_auc_macro"] > 0.8  # the model learnt the cues
    assert rows["any_place"]["brier"] < rows["greedy"]["brier"]  # probabilities align better than 0/1 answers


def test_cli_errors(trained, tmp_path, capsys):
    folder, tok, model = trained
    assert main(["evaluate-labels", "--model", str(folder), "--dataset", str(tmp_path / "missing.jsonl"),
                 "--labels", "joy"]) == 2
    assert "`--dataset` must be a records JSONL path or 'go_emotions', got" in capsys.readouterr().err
    assert main(["evaluate-labels", "--model", str(folder), "--dataset", "x", "--grammar", "yes_no", "--labels", "joy"]) == 2
    assert "`--grammar` must be one of ['label_list'] for evaluate-labels, got 'yes_no'" in capsys.readouterr().err
    space = label_space_for(tok, "label_list", EMOTIONS)
    with pytest.raises(ValueError, match=r"`prompt_template` must contain \{text\}"):
        evaluate_label_lists(model, tok, space, synthetic_records(8, 0), prompt_template="no placeholder")
    with pytest.raises(ValueError, match=r"`records` holds 2 records; pass at least 4"):
        evaluate_label_lists(model, tok, space, synthetic_records(2, 0))
    with pytest.raises(ValueError, match=r"`--labels` is empty"):
        label_space_for(tok, "label_list", [])
