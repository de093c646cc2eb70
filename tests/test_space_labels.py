"""The Space with a label-list model (GRAMMAR=label_list LABELS=...): the label, chart and tables show those names,
through gradio_client, and the numbers are marginal_generate.score's on the same prompt."""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import pytest

import marginal_generate as mg
from marginal_generate.testing import byte_level_tokenizer, fit_tiny_guard, tiny_llama

gradio = pytest.importorskip("gradio", reason="the Space tests need gradio: pip install -e '.[space]'")
gradio_client = pytest.importorskip(
    "gradio_client", reason="the Space tests need gradio_client: pip install -e '.[space]'"
)

from marginal_generate import space as app  # noqa: E402

LABELS = ["joy", "anger", "sadness", "fear"]
TEMPLATE = "Text: {text}\nAnswer: "


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    pairs = [
        (TEMPLATE.format(text=t), a)
        for t, a in [
            ("a sunny day", "joy"),
            ("a rude storm", "anger, fear"),
            ("rain again", "sadness"),
            ("nothing", "none"),
        ]
    ]
    tok = byte_level_tokenizer([p + a for p, a in pairs] * 20 + LABELS, vocab_size=80)
    model = fit_tiny_guard(tiny_llama(tok, seed=0), tok, pairs, steps=40, lr=5e-2)  # a little: uncertain on purpose
    folder = tmp_path_factory.mktemp("label_list_space")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    mp = pytest.MonkeyPatch()
    for key, value in {
        "MODEL_ID": str(folder),
        "GRAMMAR": "label_list",
        "LABELS": ",".join(LABELS),
        "PROMPT_TEMPLATE": TEMPLATE,
    }.items():
        mp.setenv(key, value)
    mp.delenv("CALIBRATOR", raising=False)
    app.set_engine(None)
    try:
        yield app.get_engine()
    finally:
        app.set_engine(None)
        mp.undo()


def direct(engine, text, strategies):
    ids = engine.tokenizer([TEMPLATE.format(text=text)], return_tensors="pt", add_special_tokens=False)
    space = mg.LabelSpace.label_list(engine.tokenizer, LABELS)
    return mg.score(
        engine.model,
        ids.input_ids,
        ids.attention_mask,
        space,
        strategies,
        max_new_tokens=engine.max_new_tokens,
        eps=0.01,
        top_p=0.99,
    )


def test_engine_from_environment(engine):
    assert engine.grammar == "label_list" and engine.space.labels == tuple(LABELS)
    assert "first_token" not in engine.strategies and "any_place" in engine.strategies
    with pytest.raises(app.InputError, match="Strategy 'first_token' needs a verbalizer"):
        app.run("a sunny day", "", "first_token", 0.5, 0.01, 0.99, engine=engine)
    with pytest.raises(ValueError, match="GRAMMAR=label_list needs the label names: set LABELS="):
        app.Engine(engine.model, engine.tokenizer, "x", grammar="label_list")


def test_client_shows_the_label_names(engine):
    demo = app.build_demo(engine)
    url = app.launch_local(demo)
    try:
        client = gradio_client.Client(url, verbose=False, download_files=False)
        out = client.predict("a sunny day", "", "any_place", 0.3, 0.01, 0.99, False, api_name="/classify")
    finally:
        demo.close()
    decision, label, plot, greedy, _completions, bounds, strategies, _timing, raw, _answers, _policy = out
    expected = direct(engine, "a sunny day", list(engine.strategies))
    got = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert list(got) == sorted(LABELS, key=lambda x: -got[x]) and set(got) == set(LABELS)
    for name, p in zip(LABELS, expected["any_place"].probs[0].tolist()):
        assert got[name] == pytest.approx(p, abs=1e-12)
    assert max(got.values()) > 0.01  # the labels carry mass: the check can fail
    assert raw["labels"] == LABELS and greedy == expected["any_place"].texts[0]
    assert [row[0] for row in bounds["data"]] == LABELS
    assert strategies["headers"] == ["strategy", *LABELS] and [row[0] for row in strategies["data"]] == list(
        engine.strategies
    )
    over = [n for n in LABELS if got[n] >= 0.3]
    assert decision.startswith(f"## {', '.join(over) if over else 'none'}\n")
    assert label["label"] == (", ".join(over) or "none")  # the card's headline: the labels over the threshold
    assert plot["type"] == "matplotlib"


def test_chart_names_the_labels(engine):
    r = app.run("a sunny day", "", "max_over_generations", 0.5, 0.01, 0.99, engine=engine)
    assert [t.get_text() for t in r.figure.axes[0].get_yticklabels()] == LABELS
