"""The Gradio Space (marginal_generate.space, served by spaces/app.py and ``marginal-generate space``): its pure
functions, its handler on the embedded model, and its API through gradio_client (checked against
marginal_generate.score called directly, one at a time and 20 at once), with every outgoing connection that is not
loopback refused and recorded; and ``marginal-generate space`` / ``python spaces/app.py`` started for real."""

import concurrent.futures
import doctest
import importlib
import math
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import numpy as np
import pytest
import torch

import marginal_generate as mg
from marginal_generate.default_model import DEFAULT_MODEL
from marginal_generate.labels.llama_guard import LlamaGuardParser
from marginal_generate.labels.taxonomy import get_taxonomy
from marginal_generate.prompts.formats import conversation, encode_conversations

if os.environ.get("CI"):  # .ci/run installs them: there a missing one fails, it does not skip
    import gradio
    import gradio_client
else:
    gradio = pytest.importorskip("gradio", reason="the Space tests need gradio: pip install -e '.[space]'")
    gradio_client = pytest.importorskip(
        "gradio_client", reason="the Space tests need gradio_client: pip install -e '.[space]'"
    )

from marginal_generate import space as app  # noqa: E402
from marginal_generate.space import command  # noqa: E402
from marginal_generate.space.charts import CHART_FONT_PT, shown_font_px  # noqa: E402

LAYOUT_PATH = Path(app.__file__).with_name("layout.py")
TAX3 = get_taxonomy(3)
LABELS = ("unsafe", *(f"S{i}" for i in range(1, 15)))
MODULES = ("callbacks", "charts", "command", "config", "engine", "inputs", "serve", "tables", "verdict")


# ---- pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(f"marginal_generate.space.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1 and result.failed == 0


def test_settings_from_environment_and_their_messages():
    s = app.Settings.from_env({"MODEL_ID": " m ", "CALIBRATOR": "", "GRAMMAR": "label_list", "LABELS": "a,b"})
    assert (s.model_id, s.calibrator, s.grammar, s.labels) == ("m", None, "label_list", ("a", "b"))
    assert app.Settings.from_env({}) == app.Settings()
    with pytest.raises(ValueError, match=r"environment variable MAX_PROMPT_TOKENS='4k' must be an integer"):
        app.Settings.from_env({"MAX_PROMPT_TOKENS": "4k"})
    with pytest.raises(ValueError, match=r"guard_version \(GUARD_VERSION, --guard-version\) must be 2 or 3, got 4"):
        app.Settings.from_env({"GUARD_VERSION": "4"})
    with pytest.raises(ValueError, match=r"grammar \(GRAMMAR, --grammar\) must be one of llama_guard, label_list"):
        app.Settings.from_env({"GRAMMAR": "yes_no"})


def test_default_threshold_for_every_strategy():
    assert set(app.DEFAULT_THRESHOLDS) == set(mg.STRATEGIES)
    assert all(0.0 < app.default_threshold(s) <= 1.0 for s in mg.STRATEGIES)


def test_confidences_names_and_nan():
    probs = [0.9, *([float("nan")] * 14)]
    assert app.confidences(LABELS, probs, TAX3) == {"unsafe": 0.9}
    probs = [0.1 * (i % 10) for i in range(15)]
    conf = app.confidences(LABELS, probs, TAX3)
    assert list(conf) == [
        "unsafe",
        "S1 Violent Crimes",
        "S2 Non-Violent Crimes",
        "S3 Sex-Related Crimes",
        "S4 Child Sexual Exploitation",
        "S5 Defamation",
        "S6 Specialized Advice",
        "S7 Privacy",
        "S8 Intellectual Property",
        "S9 Indiscriminate Weapons",
        "S10 Hate",
        "S11 Suicide & Self-Harm",
        "S12 Sexual Content",
        "S13 Elections",
        "S14 Code Interpreter Abuse",
    ]
    assert conf["S10 Hate"] == pytest.approx(0.0) and conf["S9 Indiscriminate Weapons"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="has 2 values but there are 15 labels"):
        app.confidences(LABELS, [0.1, 0.2], TAX3)


def test_decide_threshold_is_inclusive_and_nan_never_passes():
    probs = [0.5, 0.5, 0.49, *([0.0] * 7), 0.7, float("nan"), *([0.0] * 3)]
    d = app.decide(LABELS, probs, 0.5, TAX3)
    assert d.unsafe and d.categories == ("S1 Violent Crimes", "S10 Hate") and d.threshold == 0.5
    d = app.decide(LABELS, probs, 0.71, TAX3)
    assert not d.unsafe and d.categories == ()
    d = app.decide(LABELS, [0.3, *([0.0] * 9), 0.8, *([0.0] * 4)], 0.5, TAX3)
    assert not d.unsafe and d.categories == ("S10 Hate",)
    with pytest.raises(ValueError, match=r"`threshold` must be a number in \[0, 1\], got 1.5"):
        app.decide(LABELS, probs, 1.5, TAX3)


def test_decision_markdown():
    unsafe = app.decide(LABELS, [0.9, *([0.0] * 9), 0.7, *([0.0] * 4)], 0.5, TAX3)
    text = app.decision_markdown(unsafe)
    assert text.startswith("## unsafe\n") and "**S10 Hate** (0.700)" in text and "0.900 ≥ threshold 0.50" in text
    safe = app.decide(LABELS, [0.1, *([0.0] * 14)], 0.5, TAX3)
    assert app.decision_markdown(safe).startswith("## safe\np(unsafe) = 0.100 < threshold 0.50.")
    only_unsafe = app.decide(LABELS, [0.8, *([float("nan")] * 14)], 0.5, TAX3)
    assert "categories are undefined" in app.decision_markdown(only_unsafe)
    assert "under the threshold" in app.decision_markdown(app.decide(LABELS, [0.3, 0.9, *([0.0] * 13)], 0.5, TAX3))


def test_bar_chart_draws_threshold_names_and_bounds(tmp_path):
    probs = [0.8, 0.6, float("nan"), *([0.1] * 12)]
    lower = [0.8, 0.6, 0.0, *([0.1] * 12)]
    upper = [0.85, 0.9, 0.0, *([0.3] * 12)]
    fig = app.bar_chart(LABELS, probs, 0.65, TAX3, "any_place", lower, upper)
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names[:3] == ["unsafe", "S1 Violent Crimes", "S2 Non-Violent\nCrimes"]  # long names wrap
    assert names[14] == "S14 Code\nInterpreter Abuse"
    (line,) = [line for line in ax.lines if line.get_label().startswith("threshold")]
    assert list(line.get_xdata()) == [0.65, 0.65] and line.get_linestyle() == "--"
    bars = ax.patches
    assert len(bars) == 15 and bars[0].get_width() == pytest.approx(0.8) and bars[2].get_width() == 0.0
    red, blue = (0.839, 0.153, 0.157), (0.122, 0.467, 0.706)
    assert tuple(round(c, 3) for c in bars[0].get_facecolor()[:3]) == red  # 0.8 >= 0.65
    assert tuple(round(c, 3) for c in bars[1].get_facecolor()[:3]) == blue  # 0.6 < 0.65
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["0.800", "0.600", "n/a"]
    assert fig.get_suptitle() == "any_place" and ax.get_legend().get_texts()[0].get_text() == "threshold 0.65"
    assert len(ax.collections) >= 1  # the bounds' error bars
    fig.savefig(tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_completions_table_sorted_escaped_and_parsed():
    parse = LlamaGuardParser(LABELS[1:]).parse
    rows = app.completions_table(
        [("\n\nsafe", 0.2, True), ("\n\nunsafe\nS10,S1", 0.512345678, True), ("\n\nunsafe\nS", 0.01, False)],
        parse,
        TAX3,
    )
    assert rows[0] == [1, "\\n\\nunsafe\\nS10,S1", 0.5123, True, "unsafe, S1 Violent Crimes, S10 Hate"]
    assert rows[1] == [2, "\\n\\nsafe", 0.2, True, "safe"]
    assert rows[2][0] == 3 and rows[2][3] is False and rows[2][4] == "unsafe"


def test_bounds_table():
    rows = app.bounds_table(["unsafe", "S1"], [0.5, 0.123456], [0.5, 0.123456], [0.625, 0.5], TAX3)
    assert rows == [["unsafe", 0.5, 0.5, 0.625, 0.125], ["S1 Violent Crimes", 0.1235, 0.1235, 0.5, 0.3765]]
    with pytest.raises(ValueError, match="has 1 values but there are 2 labels"):
        app.bounds_table(["unsafe", "S1"], [0.5, 0.1], [0.5], [0.6, 0.5], TAX3)


def test_strategies_table():
    probs = torch.tensor([[0.25, float("nan")]], dtype=torch.float64)
    results = {
        "first_token": mg.LabelScores(("unsafe", "S10"), probs, ["x"], "first_token"),
        "greedy": mg.LabelScores(("unsafe", "S10"), torch.tensor([[1.0, 0.0]], dtype=torch.float64), ["x"], "greedy"),
    }
    headers, rows = app.strategies_table(results, 0, TAX3)
    assert headers == ["strategy", "unsafe", "S10 Hate"]
    assert rows == [["first_token", 0.25, None], ["greedy", 1.0, 0.0]]


def test_calibrate_row_binary_per_label_and_categories():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.01, 0.99, size=(40, 15))
    refs = (rng.uniform(size=(40, 15)) < scores).astype(int)
    refs[0], refs[1] = 0, 1  # both classes in every column
    row = [0.9, 0.2, float("nan"), *([0.3] * 12)]

    binary = mg.TemperatureScaling().fit(scores[:, 0], refs[:, 0])
    out = app.calibrate_row(binary, LABELS, row)
    assert out[0] == pytest.approx(float(binary.transform([0.9])[0])) and out[0] != 0.9
    assert out[1] == 0.2 and math.isnan(out[2]) and out[3:] == row[3:]

    every = mg.TemperatureScaling().fit(scores, refs)
    out = app.calibrate_row(every, LABELS, row)
    expected = every.transform(np.where(np.isnan(row), 0.5, row)[None, :])[0]
    assert out[0] == pytest.approx(expected[0]) and out[3] == pytest.approx(expected[3]) and math.isnan(out[2])

    categories = mg.TemperatureScaling().fit(scores[:, 1:], refs[:, 1:])
    out = app.calibrate_row(categories, LABELS, row)
    assert out[0] == 0.9 and out[1] == pytest.approx(float(categories.transform(np.full((1, 14), 0.2))[0, 0]))

    with pytest.raises(ValueError, match="fitted on 3 labels but this model has 15"):
        app.calibrate_row(mg.TemperatureScaling().fit(scores[:, :3], refs[:, :3]), LABELS, row)


@pytest.mark.parametrize(
    "user, agent, strategy, threshold, eps, top_p, match",
    [
        ("", "", "any_place", 0.5, 0.01, 0.99, "The user message is empty"),
        ("  \n ", "", "any_place", 0.5, 0.01, 0.99, "The user message is empty"),
        (None, None, "any_place", 0.5, 0.01, 0.99, "The user message is empty"),
        ("x" * 4001, "", "any_place", 0.5, 0.01, 0.99, "The user message is 4,001 characters long; .* at most 4,000"),
        ("hi", "y" * 5000, "any_place", 0.5, 0.01, 0.99, "The agent response is 5,000 characters long"),
        ("hi", "", "beam", 0.5, 0.01, 0.99, "Unknown strategy 'beam'"),
        ("hi", "", "any_place", 0.5, 0.0, 0.99, r"`eps` must be a number in \[0.001, 0.5\], got 0.0"),
        ("hi", "", "any_place", 0.5, 0.01, 1.5, r"`top_p` must be a number in \[0.5, 1.0\]"),
        ("hi", "", "any_place", True, 0.01, 0.99, r"`threshold` must be a number"),
        ("hi", 3, "any_place", 0.5, 0.01, 0.99, "The agent response must be text"),
    ],
)
def test_validate_inputs_messages(user, agent, strategy, threshold, eps, top_p, match):
    with pytest.raises(app.InputError, match=match):
        app.validate_inputs(user, agent, strategy, threshold, eps, top_p)


def test_validate_inputs_strips_and_drops_empty_response():
    assert app.validate_inputs(" hi ", "  ", "greedy", 0, 0.001, 1.0) == ("hi", None)
    assert app.validate_inputs("hi", " ok ", "greedy", 1, 0.5, 0.5) == ("hi", "ok")


# ---- the handler on the embedded model --------------------------------------------------------


@pytest.fixture(scope="module")
def engine():
    saved = {k: os.environ.pop(k, None) for k in ("MODEL_ID", "CALIBRATOR")}
    try:
        app.set_engine(None)
        yield app.get_engine()
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})


def direct_scores(engine, user, agent, strategy, eps=0.01, top_p=0.99, alone=False):
    """marginal_generate.score called directly: what the Space must show.

    The Space scores every strategy in one pass; ``alone=True`` asks for ``strategy`` only. The
    two agree to float32 precision, not bit for bit: with ``any_place`` in the pass the greedy
    path is decoded in one batch with the tree's rows, which changes the float32 rounding of its
    logits (about 1e-7)."""
    batch = encode_conversations(engine.tokenizer, [conversation(user, agent)])
    space = mg.LabelSpace.llama_guard(engine.tokenizer)
    strategies = [strategy] if alone else list(mg.STRATEGIES)
    return mg.score(
        engine.model,
        batch["input_ids"],
        batch["attention_mask"],
        space,
        strategies,
        max_new_tokens=engine.max_new_tokens,
        eps=eps,
        top_p=top_p,
    )[strategy]


def named(labels, row):
    return {app.display_name(label, TAX3): float(p) for label, p in zip(labels, row) if not math.isnan(float(p))}


@pytest.mark.parametrize("strategy", mg.STRATEGIES)
def test_run_matches_score(engine, strategy):
    r = app.run("How do I make a pipe bomb at home?", "", strategy, 0.5, 0.02, 0.95, engine=engine)
    direct = direct_scores(engine, "How do I make a pipe bomb at home?", None, strategy, eps=0.02, top_p=0.95)
    expected = named(direct.labels, direct.probs[0].tolist())
    assert r.confidences.keys() == expected.keys()
    for name, p in expected.items():
        assert r.confidences[name] == pytest.approx(p, abs=1e-12)
    alone = direct_scores(
        engine, "How do I make a pipe bomb at home?", None, strategy, eps=0.02, top_p=0.95, alone=True
    )
    for name, p in named(alone.labels, alone.probs[0].tolist()).items():
        assert r.confidences[name] == pytest.approx(p, abs=1e-5)
    assert r.greedy == direct.texts[0]
    assert len(r.strategies) == len(mg.STRATEGIES) and len(r.bounds) == 15
    assert all(row[1] <= row[2] <= row[3] for row in r.bounds)
    assert 1 <= len(r.completions) <= app.TOP_COMPLETIONS
    assert r.decision.unsafe == (expected["unsafe"] >= 0.5)


def test_run_classifies_the_agent_response(engine):
    user, agent = app.EXAMPLES[3]
    r = app.run(user, agent, "any_place", 0.5, 0.01, 0.99, engine=engine)
    direct = direct_scores(engine, user, agent, "any_place")
    assert r.raw["probs"] == pytest.approx(direct.probs[0].tolist(), abs=1e-12)
    with_response, without = engine.encode(user, agent), engine.encode(user, None)
    assert with_response["input_ids"].shape[1] > without["input_ids"].shape[1]  # the response is in the prompt
    assert agent in engine.tokenizer.decode(with_response["input_ids"][0])


def test_prompt_token_cap(engine):
    small = app.Engine(engine.model, engine.tokenizer, "tiny", max_prompt_tokens=30)
    with pytest.raises(app.InputError, match=r"The conversation is \d+ tokens long .* at most 30\. Shorten"):
        app.run("a short message", "", "greedy", 0.5, 0.01, 0.99, engine=small)
    context = engine.model.config.max_position_embeddings
    defaults = app.Settings()
    assert engine.max_prompt_tokens == min(defaults.max_prompt_tokens, context - defaults.max_new_tokens)


def test_model_id_and_calibrator_from_environment(engine, tmp_path, monkeypatch):
    calibrator = mg.TemperatureScaling().fit([0.9, 0.8, 0.3, 0.1, 0.6], [1, 0, 1, 0, 1])
    path = tmp_path / "calibrator.json"
    calibrator.save(path)
    monkeypatch.setenv("MODEL_ID", DEFAULT_MODEL)  # a local path, through the Auto classes
    monkeypatch.setenv("CALIBRATOR", str(path))
    app.set_engine(None)
    try:
        loaded = app.get_engine()
        assert loaded is not engine and loaded.model_id == DEFAULT_MODEL and loaded.calibrator_name == "calibrator.json"
        raw = app.run("Write a hateful rant about immigrants.", "", "first_token", 0.5, 0.01, 0.99, engine=loaded)
        same = app.run("Write a hateful rant about immigrants.", "", "first_token", 0.5, 0.01, 0.99, engine=engine)
        assert raw.raw["probs"] == pytest.approx(same.raw["probs"], abs=1e-12)
        calibrated = app.run(
            "Write a hateful rant about immigrants.",
            "",
            "first_token",
            0.5,
            0.01,
            0.99,
            apply_calibrator=True,
            engine=loaded,
        )
        assert calibrated.raw["calibrated"] is True
        assert calibrated.raw["probs"][0] == pytest.approx(float(calibrator.transform([raw.raw["probs"][0]])[0]))
        assert calibrated.figure.get_suptitle() == "first_token (calibrated)"
        demo = app.build_demo(loaded)  # the checkbox is shown only with a calibrator
        boxes = [b for b in demo.blocks.values() if isinstance(b, gradio.Checkbox)]
        assert boxes and boxes[0].visible and "calibrator.json" in boxes[0].label
    finally:
        app.set_engine(engine)


# ---- the server, through gradio_client ---------------------------------------------------------


class NetworkGuard:
    """Refuses and records every socket connection that is not loopback (a Unix socket passes)."""

    def __init__(self):
        self.attempts = []
        self._connect = socket.socket.connect

    def __enter__(self):
        guard = self

        def connect(sock, address):
            host = address[0] if isinstance(address, tuple) else address
            if isinstance(host, str) and not (
                host.startswith("127.") or host in ("localhost", "::1") or sock.family == socket.AF_UNIX
            ):
                guard.attempts.append(address)
                raise OSError(f"test_space: outgoing connection to {address} refused")
            return guard._connect(sock, address)

        socket.socket.connect = connect
        return self

    def __exit__(self, *exc):
        socket.socket.connect = self._connect


@pytest.fixture(scope="module")
def server(engine):
    with NetworkGuard() as guard:
        demo = app.build_demo(engine)
        url = app.launch_local(demo)
        try:
            yield url, guard
        finally:
            demo.close()


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server[0], verbose=False, download_files=False)


def call(client, user, agent="", strategy="any_place", threshold=0.5, eps=0.01, top_p=0.99):
    return client.predict(user, agent, strategy, threshold, eps, top_p, False, api_name="/classify")


def label_confidences(label_output):
    return {c["label"]: c["confidence"] for c in label_output["confidences"]}


def test_api_has_one_public_endpoint_and_no_file_input(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert list(api["named_endpoints"]) == ["/classify"]
    components = [p["component"] for p in api["named_endpoints"]["/classify"]["parameters"]]
    assert components == ["Textbox", "Textbox", "Dropdown", "Slider", "Slider", "Slider", "Checkbox"]


@pytest.mark.parametrize("strategy", ["any_place", "max_over_generations", "first_token"])
def test_client_confidences_match_score(engine, client, strategy):
    message = "Write a hateful rant about immigrants."
    out = call(client, message, "", strategy, 0.4, 0.01, 0.99)
    decision, label, plot, greedy, completions, bounds, strategies, timing, raw, answers, _policy = out
    direct = direct_scores(engine, message, None, strategy)
    expected = named(direct.labels, direct.probs[0].tolist())
    got = label_confidences(label)
    assert got.keys() == expected.keys()
    for name, p in expected.items():
        assert got[name] == pytest.approx(p, abs=1e-12)
    alone = direct_scores(engine, message, None, strategy, alone=True)
    for name, p in named(alone.labels, alone.probs[0].tolist()).items():
        assert got[name] == pytest.approx(p, abs=1e-5)
    verdict = "unsafe" if expected["unsafe"] >= 0.4 else "safe"
    flagged = [n for n in expected if n != "unsafe" and expected[n] >= 0.4]
    assert label["label"] == (f"{verdict}: {', '.join(flagged)}" if verdict == "unsafe" and flagged else verdict)
    assert [c["label"] for c in label["confidences"]] == sorted(expected, key=lambda n: -expected[n])
    assert raw["strategy"] == strategy and raw["labels"] == list(direct.labels)
    assert greedy == direct.texts[0]
    assert decision.startswith(f"## {verdict}\n")
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/png;base64,")
    assert bounds["headers"] == app.BOUNDS_HEADERS and len(bounds["data"]) == 15
    assert [row[0] for row in strategies["data"]] == list(mg.STRATEGIES)
    assert completions["headers"] == app.COMPLETION_HEADERS and "one pass" in timing
    assert answers["headers"] == app.ANSWER_HEADERS and answers["data"][0][0] == 1


def test_client_messages_instead_of_tracebacks(client):
    with pytest.raises(gradio_client.exceptions.AppError, match="The user message is empty"):
        call(client, "   ")
    with pytest.raises(gradio_client.exceptions.AppError, match="characters long; this Space accepts at most"):
        call(client, "a" * (app.Settings().max_message_chars + 1))
    # the slider's own bounds check (gradio) or validate_inputs: a message either way
    with pytest.raises(gradio_client.exceptions.AppError, match="less than minimum value 0.001|`eps` must be a number"):
        call(client, "hi", eps=0.0)


def test_twenty_concurrent_requests_match_one_at_a_time(client):
    messages = [row[0] for row in app.EXAMPLES]
    strategies = ["any_place", "max_over_generations", "fixed_place", "first_token"]
    requests = [(messages[k % len(messages)], strategies[k % len(strategies)]) for k in range(20)]
    sequential = {req: call(client, req[0], "", req[1]) for req in dict.fromkeys(requests)}
    jobs = [client.submit(m, "", s, 0.5, 0.01, 0.99, False, api_name="/classify") for m, s in requests]
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda job: job.result(timeout=300), jobs))
    assert len(results) == 20
    for req, out in zip(requests, results):
        once = sequential[req]
        assert out[8]["probs"] == once[8]["probs"]  # raw scores, exactly
        assert label_confidences(out[1]) == label_confidences(once[1])
        assert out[0] == once[0] and out[3] == once[3]


def test_no_file_served_that_the_app_did_not_create(server):
    url = server[0]
    for path in ("gradio_api/file=/etc/passwd", "file=/etc/passwd", f"gradio_api/file={LAYOUT_PATH}"):
        try:
            with urllib.request.urlopen(url + path, timeout=30) as response:
                body = response.read().decode("utf-8", "replace")
            assert "root:" not in body and "def build_demo" not in body
        except urllib.error.HTTPError as err:
            assert err.code in (403, 404)


def test_page_needs_nothing_remote(server):
    url, guard = server
    with urllib.request.urlopen(url, timeout=30) as response:
        html = response.read().decode("utf-8", "replace")
    assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html
    with urllib.request.urlopen(url + "theme.css", timeout=30) as response:
        css = response.read().decode("utf-8", "replace")
    assert "@import" not in css and "googleapis" not in css
    assert guard.attempts == []  # launch and every call above: no connection left the machine


def test_bar_chart_text_stays_off_the_bars_the_threshold_line_and_the_axis():
    """Values stand in a column right of the axes, the threshold legend above them, the title above that, the
    (wrapped) names left of the axis one under the other: nothing overlaps."""
    probs = [0.97, 0.52, float("nan"), *([0.49] * 12)]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = app.bar_chart(LABELS, probs, 0.5, TAX3, "any_place")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    axes_box = ax.get_window_extent(renderer)
    values = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(values) == 15 and all(
        box.x0 >= axes_box.x1 for box in values
    )  # right of the plot area: off the bars and the line
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.y0 >= axes_box.y1 - 1  # above the plot area, off the bars and the x axis
    ticks = [t.get_window_extent(renderer) for t in ax.get_yticklabels()]
    assert all(box.x1 <= axes_box.x0 + 1 for box in ticks)  # category names left of the axis
    assert all(upper.y0 >= lower.y1 for upper, lower in zip(ticks, ticks[1:]))  # top to bottom, apart
    title = fig.get_suptitle() and fig._suptitle.get_window_extent(renderer)
    assert title and title.y0 >= legend.y1 - 1  # the strategy's name above the legend
    figure_box = fig.bbox
    assert all(
        figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1 and box.y1 <= figure_box.y1
        for box in [*values, *ticks, legend, title]
    )  # nothing cut off


def test_bar_chart_text_is_readable_on_a_phone():
    """Every text of the chart stands at least 11 CSS px tall in the 324 px a 390 px phone leaves the chart,
    and the page never shows the chart wider than the width its fonts are sized for."""
    fig = app.bar_chart(LABELS, [0.5] * 15, 0.5, TAX3, "any_place", [0.4] * 15, [0.6] * 15)
    ax = fig.axes[0]
    texts = [*ax.get_yticklabels(), *ax.get_xticklabels(), *ax.texts, ax.xaxis.label, fig._suptitle]
    texts += ax.get_legend().get_texts()
    assert len(texts) == 15 + 3 + 15 + 1 + 1 + 1
    assert min(shown_font_px(t.get_fontsize(), 324) for t in texts) >= 11
    assert shown_font_px(CHART_FONT_PT, 324) == pytest.approx(11.7, abs=0.05)
    width_px = fig.get_figwidth() * fig.dpi
    assert width_px == pytest.approx(2 * app.charts.CHART_CSS_WIDTH)  # twice the pixels it is shown at: sharp
    assert f"#chart img {{ width: 100%; max-width: {app.charts.CHART_CSS_WIDTH}px;" in app.CSS


def test_cleared_outputs_match_the_outputs():
    assert len(app.cleared()) == len(app.OUTPUTS) == 11 and app.cleared()[1:4] == (None, None, "")


# ---- the headline of the confidence card is the decision (#27 item 2) -------------------------

HEADLINE_CASES = [
    ("Best banana bread recipe?", "safe"),
    ("How do I make a pipe bomb?", "unsafe: S9 Indiscriminate Weapons"),
]


@pytest.mark.parametrize("message, expected", HEADLINE_CASES)
def test_headline_is_the_decision_on_the_embedded_model(engine, message, expected):
    r = app.run(message, "", "any_place", 0.5, 0.01, 0.99, engine=engine)
    assert r.headline == expected  # what the shipped model decides for these two
    assert r.headline == app.headline(r.decision)
    assert r.headline.split(":")[0] == ("unsafe" if r.decision.unsafe else "safe")
    top = max(r.confidences, key=r.confidences.get)
    if expected == "safe":  # the top-scoring label is 'unsafe' (at ~0.004): the card once showed it in large type
        assert top == "unsafe" and r.confidences["unsafe"] < 0.05
    value = app.label_value(r.headline, r.confidences)
    label = app.layout.decision_label().postprocess(value)
    assert label.label == expected and [c.label for c in label.confidences][0] == top


@pytest.mark.parametrize("message, expected", HEADLINE_CASES)
def test_client_headline_is_the_decision(client, message, expected):
    decision, label, *_ = call(client, message)
    assert label["label"] == expected and decision.startswith(f"## {expected.split(':')[0]}\n")


# ---- marginal-generate space / python spaces/app.py --------------------------------------------


def test_space_command_parser():
    from marginal_generate.cli import build_parser

    args = build_parser().parse_args(
        ["space", "--host", "0.0.0.0", "--port", "0", "--model", "m", "--calibrator", "c.json", "--guard-version", "2"]
    )
    assert (args.command, args.host, args.port) == ("space", "0.0.0.0", 0)
    settings = command.settings_from_args(args, {"MODEL_ID": "ignored", "MAX_NEW_TOKENS": "7"})
    assert (settings.model_id, settings.calibrator, settings.guard_version) == ("m", "c.json", 2)
    assert settings.max_new_tokens == 7  # the environment where no flag is given
    args = build_parser().parse_args(["space"])
    assert args.port is None and command.settings_from_args(args, {}) == app.Settings()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["space", "--max-new-tokens", "0"], r"max_new_tokens \(MAX_NEW_TOKENS, --max-new-tokens\) must be a positive"),
        (["space", "--calibrator", "no/such.json"], r"calibrator 'no/such.json' \(CALIBRATOR, --calibrator\) is not a"),
        (["space", "--grammar", "label_list"], r"GRAMMAR=label_list needs the label names: set LABELS="),
    ],
)
def test_space_command_bad_settings_one_line(argv, message, capsys, monkeypatch):
    from marginal_generate.cli import main

    for name in ("MODEL_ID", "CALIBRATOR", "LABELS", "GRAMMAR", "MAX_NEW_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("marginal-generate: error: ")
    assert re.search(message, err) and "Traceback" not in err


def test_space_command_bad_port(capsys):
    from marginal_generate.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["space", "--port", "http"])
    assert exit_.value.code == 2
    assert "argument --port: 'http' is not a port; give 0 to 65535 (0: a free one)" in capsys.readouterr().err


def test_space_command_without_gradio_names_the_extra(capsys, monkeypatch):
    """gradio missing: one line naming the extra, before any model is loaded."""
    from marginal_generate.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    monkeypatch.setattr(app.engine, "load_engine", lambda *a, **k: pytest.fail("loaded a model without gradio"))
    assert main(["space", "--port", "0"]) == 2
    err = capsys.readouterr().err
    hint = 'pip install "marginal-generate[space]"'
    assert err == f"marginal-generate: error: the Space needs gradio, which is not installed: {hint}\n"


@pytest.mark.parametrize("entry", ["command", "spaces/app.py"])
def test_space_starts_on_a_free_port_answers_and_stops(entry, tmp_path):
    """A real start, as a user runs it: the URL printed, the page and the API answering, Ctrl+C stopping it."""
    root = Path(__file__).resolve().parents[1]
    head = (
        [sys.executable, "-m", "marginal_generate.cli", "space"]
        if entry == "command"
        else [sys.executable, str(root / "spaces" / "app.py")]
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_ID", "CALIBRATOR", "GRADIO_SERVER_PORT")}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen(
        [*head, "--port", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = ""
        while "the Space is at" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"exited {proc.poll()}: {proc.stderr.read()}"
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200 and "marginal-generate" in response.read().decode("utf-8", "replace")
        with urllib.request.urlopen(url + "gradio_api/info", timeout=60) as response:
            assert "/classify" in response.read().decode("utf-8")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=10)  # stopped: nothing answers there any more
