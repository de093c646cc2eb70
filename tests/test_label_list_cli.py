"""End to end: a tiny model set by hand writes emotion label lists; the CLI scores it under every strategy."""

import json
import random

import pytest

from marginal_generate.cli import main
from marginal_generate.data.records import Record, save_records_jsonl
from marginal_generate.testing import cue_label_llama, word_level_tokenizer

EMOTIONS = ["joy", "anger", "sadness", "fear"]
WORDS = {
    "joy": ["sunny", "party"],
    "anger": ["rude", "broken"],
    "sadness": ["alone", "rain"],
    "fear": ["dark", "storm"],
}
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


def cue_answer(record: Record) -> str:
    """What the model writes greedily: the emotions whose cue words the text holds, in EMOTIONS' order."""
    words = record.conversation[0]["content"].split()
    return ", ".join(e for e in EMOTIONS if set(WORDS[e]) & set(words))


@pytest.fixture(scope="module")
def label_model(tmp_path_factory):
    """A label-list model whose weights are set by hand (`testing.cue_label_llama`), not trained: it writes the emotions
    whose cue words it reads, with soft probabilities (any_place: 0.73 or more for a cue's emotion, 0.13 at most for
    another). Nothing here depends on what a model learns, so what the tests assert of it is certain."""
    cue_words = [w for e in EMOTIONS for w in WORDS[e]]
    tok = word_level_tokenizer([*EMOTIONS, "none", ",", "Text:", "Answer:", "today", *cue_words])
    model = cue_label_llama(tok, WORDS)
    folder = tmp_path_factory.mktemp("label_list_model")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder, tok, model


@pytest.mark.slow
def test_evaluate_labels_is_an_alias_of_evaluate_with_the_label_list_grammar(label_model, tmp_path, capsys):
    """`evaluate-labels` runs `evaluate --grammar label_list`: the same scores and table; its own flags map to the
    params a file would set."""
    folder, _, _ = label_model
    data = tmp_path / "records.jsonl"
    save_records_jsonl(synthetic_records(12, seed=2), data)
    common = ["--model", str(folder), "--dataset", str(data), "--labels", ",".join(EMOTIONS), "--prompt-template",
              TEMPLATE, "--strategies", "greedy,any_place", "--no-plots", "--no-progress"]  # fmt: skip
    params = tmp_path / "params.yaml"
    params.write_text(
        "strategies:\n  greedy: {max_new_tokens: 6, eps: 0.02}\n  any_place: {max_new_tokens: 6, eps: 0.02}\n"
    )
    status = main(["evaluate", "--grammar", "label_list", "--params", str(params), "--output-dir", str(tmp_path / "a"),
                   *common])  # fmt: skip
    table = capsys.readouterr().out.split("\n\nwritten to")[0]
    assert status == 0
    status = main(["evaluate-labels", "--max-new-tokens", "6", "--eps", "0.02", "--output-dir", str(tmp_path / "b"),
                   *common])  # fmt: skip
    assert status == 0
    assert capsys.readouterr().out.split("\n\nwritten to")[0] == table
    runs = [json.loads((tmp_path / d / "run.json").read_text()) for d in "ab"]
    assert runs[0] == runs[1] and runs[0]["grammar"] == "label_list"
    assert runs[0]["params"]["any_place"]["eps"] == 0.02 and runs[0]["params"]["greedy"]["max_new_tokens"] == 6
    assert (tmp_path / "a" / "scores.jsonl").read_text() == (tmp_path / "b" / "scores.jsonl").read_text()


def test_evaluate_labels_help_and_errors(label_model, tmp_path, capsys):
    folder, _, _ = label_model
    with pytest.raises(SystemExit):
        main(["evaluate-labels", "--help"])
    assert "An alias of 'marginal-generate evaluate --grammar label_list'" in " ".join(capsys.readouterr().out.split())
    data = tmp_path / "records.jsonl"
    save_records_jsonl(synthetic_records(6, seed=2), data)
    base = ["evaluate-labels", "--model", str(folder), "--dataset", str(data), "--output-dir", str(tmp_path / "o")]
    params = tmp_path / "params.yaml"
    params.write_text("strategies: {}\n")
    assert main([*base, "--labels", "joy", "--max-new-tokens", "8", "--params", str(params)]) == 2
    assert capsys.readouterr().err == (
        f"marginal-generate: error: --max-new-tokens and `--params` {params} both set strategy parameters; put "
        "max_new_tokens in that file instead (strategies: <name>: ...).\n"
    )
    assert main([*base, "--labels", "joy", "--eps", "1.5"]) == 2
    assert "marginal-generate: error: --eps must be a number in [0, 1), got 1.5;" in capsys.readouterr().err
    assert main([*base]) == 2  # --grammar label_list is the alias's default: it needs the names
    assert "`labels` is empty; --grammar label_list needs the label names" in capsys.readouterr().err
    assert main([*base[:4], str(tmp_path / "missing.jsonl"), *base[5:], "--labels", "joy"]) == 2
    assert "missing.jsonl does not exist" in capsys.readouterr().err


def test_evaluate_scores_label_lists_with_the_runner(label_model, tmp_path, capsys):
    """`evaluate --grammar label_list --labels ...`: the runner's tables, '—' for the verdict columns, alignment, TS and
    Platt."""
    import torch

    import marginal_generate as mg

    folder, tok, model = label_model
    data = tmp_path / "records.jsonl"
    records = synthetic_records(30, seed=2)
    save_records_jsonl(records, data)
    out_dir = tmp_path / "out"
    status = main(
        [
            "evaluate",
            "--model",
            str(folder),
            "--dataset",
            str(data),
            "--grammar",
            "label_list",
            "--labels",
            ",".join(EMOTIONS),
            "--prompt-template",
            TEMPLATE,
            "--calibrate",
            "ts,platt",
            "--validation-fraction",
            "0.3",
            "--output-dir",
            str(out_dir),
            "--no-plots",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0
    strategies = ["greedy", "token_probability", "fixed_place", "any_place", "max_over_generations", "first_generation"]
    rows = {r["row"]: r for r in json.loads((out_dir / "metrics.json").read_text())["rows"]}
    assert list(rows) == [s + suffix for s in strategies for suffix in ("", "+TS", "+Platt")]
    for name, row in rows.items():
        assert all(row[k] is None for k in row if k.startswith("unsafe_")), name  # no verdict: "—"
        assert 0.0 <= row["categories_f1_macro"] <= 1.0 and 0.0 <= row["categories_ece"] <= 1.0
    assert rows["any_place"]["categories_roc_auc_micro"] > 0.9  # 0.973: raters missed some cues that the model reads
    assert "categories (joy–fear, label list)" in printed and "—" in printed and "any_place+Platt" in printed
    aligned = {r["row"]: r for r in json.loads((out_dir / "alignment.json").read_text())["rows"]}
    assert aligned["any_place"]["labels"] == EMOTIONS
    assert aligned["any_place"]["brier"] < aligned["greedy"]["brier"]  # 0.022 against 0.033: better than 0/1 answers
    calibrators = json.loads((out_dir / "metrics.json").read_text())["calibrators"]
    assert {calibrators["any_place+Platt"][f"col{j}"]["references"] for j in range(1, 5)} == {"soft"}  # Platt per label
    # the scores are mg.score's on the rendered prompt
    scored = [json.loads(line) for line in (out_dir / "scores.jsonl").read_text().splitlines()]
    assert all(r["text"] == cue_answer(records[r["index"]]) for r in scored)  # by construction
    space = mg.LabelSpace.label_list(tok, EMOTIONS)
    for r in scored[:3]:
        prompt = TEMPLATE.format(text=records[r["index"]].conversation[0]["content"])
        ids = tok([prompt], return_tensors="pt", add_special_tokens=False)
        direct = mg.score(
            model, ids.input_ids, ids.attention_mask, space, ["greedy", "max_over_generations"], max_new_tokens=20
        )
        assert r["text"] == direct["greedy"].texts[0]
        assert r["scores"]["max_over_generations"] == pytest.approx(
            direct["max_over_generations"].probs[0].tolist(), abs=1e-4
        )
    assert torch.tensor([r["scores"]["any_place"] for r in scored]).max() > 0.5


def test_evaluate_label_list_errors(label_model, tmp_path, capsys):
    folder, _, _ = label_model
    base = [
        "evaluate",
        "--model",
        str(folder),
        "--dataset",
        str(tmp_path / "r.jsonl"),
        "--output-dir",
        str(tmp_path / "o"),
    ]
    assert main(base + ["--grammar", "label_list"]) == 2
    assert (
        "`labels` is empty; --grammar label_list needs the label names, e.g. --labels joy,anger,sadness."
        in capsys.readouterr().err
    )
    assert main(base + ["--grammar", "label_list", "--labels", "joy", "--strategies", "greedy,unary"]) == 2
    assert (
        "strategy 'unary' needs a Llama Guard verdict and categories (prompted), and the label_list grammar has none; "
        "drop it from --strategies, or use --grammar llama_guard."
    ) in capsys.readouterr().err
    for name, why in [("first_token", "a verbalizer"), ("per_category_prompt", "prompted"), ("logtoku", "uncertainty")]:
        assert main(base + ["--grammar", "label_list", "--labels", "joy", "--strategies", name]) == 2
        assert (
            f"strategy {name!r} needs a Llama Guard verdict and categories ({why}), and the label_list grammar has none"
            in capsys.readouterr().err
        )
    assert main(base + ["--labels", "joy"]) == 2
    assert "`labels`, `prompt_template`, `separator` and `none` are for --grammar label_list" in capsys.readouterr().err
    assert main(base + ["--grammar", "label_list", "--labels", "joy", "--prompt-template", "no text"]) == 2
    assert "`prompt_template` must contain {text}, got 'no text'" in capsys.readouterr().err
    from marginal_generate.evaluation import EvalConfig

    with pytest.raises(ValueError, match=r"`grammar` must be one of \['llama_guard', 'label_list'\], got 'fields'"):
        EvalConfig(grammar="fields")
