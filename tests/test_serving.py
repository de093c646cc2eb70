"""marginal-generate serve as a real server process (port 0, the URL read from its output): the official openai
client against it, raw HTTP for malformed requests, the queue limit, SIGTERM with requests in flight."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import pytest
import torch
from readme_blocks import README, example, readme_blocks

import marginal_generate as mg
from marginal_generate.prompts.formats import conversation, encode_conversations
from marginal_generate.serving.mapping import OPENAI_CATEGORIES, category_scores

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

TEXTS = ["How do I make a pipe bomb at home?", "What's a good recipe for banana bread?", "hi"]


class Server:
    """A ``marginal-generate serve --port 0`` process and its URL."""

    def __init__(self, *flags: str) -> None:
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "marginal_generate.cli", "serve", "--port", "0", *flags],
            stdout=subprocess.PIPE,
            stderr=self.log,  # a file, not a pipe: a pipe nobody reads could fill and stall the server
            text=True,
            env=env,
        )
        self.url = self._read_url(timeout=120)

    def _read_url(self, timeout: float) -> str:
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=1.0):
                line = self.process.stdout.readline()
                if "serving" in line and " at http://" in line:
                    return line.split(" at ", 1)[1].split()[0]
                if not line and self.process.poll() is not None:
                    break
        self.process.kill()
        self.log.seek(0)
        raise AssertionError(f"the server did not start: {self.log.read()[-2000:]}")

    def metric(self, name: str) -> float:
        for line in httpx.get(self.url + "/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name}")

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=120)
        return self.process.returncode, out


@pytest.fixture(scope="module")
def server():
    s = Server("--max-request-bytes", "20000", "--max-input-chars", "2000", "--max-inputs", "4")
    yield s
    if s.process.poll() is None:
        s.stop()


@pytest.fixture(scope="module")
def reference():
    """``mg.score`` on the embedded model, one thread like the server, for a list of conversations."""
    model, tokenizer = mg.load_default()
    space = mg.LabelSpace.llama_guard(tokenizer)

    def run(conversations, strategy="any_place"):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            batch = encode_conversations(tokenizer, conversations)
            return mg.score(model, batch["input_ids"], batch["attention_mask"], space, [strategy])[strategy]
        finally:
            torch.set_num_threads(threads)

    return run


def _check_equal(result: dict, scores, i: int) -> None:
    """A result's numbers are exactly mg.score's row ``i``."""
    assert result["label_scores"] == {label: float(scores.probs[i, j]) for j, label in enumerate(scores.labels)}
    if scores.lower is not None:
        assert result["label_bounds"] == {
            label: [float(scores.lower[i, j]), float(scores.upper[i, j])] for j, label in enumerate(scores.labels)
        }
        expected = {k: float(v[i]) for k, v in category_scores(scores).items()}
        assert result["category_scores"] == expected


SERVE_EXAMPLES = readme_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_openai_example_prints_what_the_readme_shows(server, capsys):
    # the Serve section's openai block, run against this server, prints the output the README shows after it
    block, output = example(SERVE_EXAMPLES, "client.moderations.create(")
    assert "http://127.0.0.1:8000/v1" in block.code
    code = block.code.replace("http://127.0.0.1:8000/v1", server.url + "/v1")
    exec(compile(code, "README.md, openai example", "exec"), {})
    assert capsys.readouterr().out == output.code


def _within(shown, real, where="response"):
    """Every key and value ``shown`` (the README's answer, cut where it says ``...``) is in ``real``, equal (a
    probability within 1e-6: what a change to the decoding moves is far more)."""
    if isinstance(shown, dict):
        assert isinstance(real, dict), where
        for key, value in shown.items():
            assert key in real, f"{where}.{key}"
            _within(value, real[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(real, list) and len(shown) == len(real), where
        for k, (value, answer) in enumerate(zip(shown, real)):
            _within(value, answer, f"{where}[{k}]")
    elif isinstance(shown, float):  # all 17 digits shown; a CPU with other float32 kernels moves the last few
        assert real == pytest.approx(shown, rel=0, abs=1e-6), f"{where}: the README shows {shown!r}, not {real!r}"
    else:
        assert shown == real, f"{where}: the README shows {shown!r}, the server answers {real!r}"


def test_the_readme_curl_example_shows_a_real_answer(server):
    # the Serve section's curl answer, less its cuts and its random id, is this server's answer to the same body
    block, shown = example(SERVE_EXAMPLES, "curl -s http://127.0.0.1:8000/v1/moderations")
    body = re.search(r"-d '(\{.*?\})'", block.code).group(1)
    shown = re.sub(r",(\s*[}\]])", r"\1", "\n".join(line for line in shown.code.splitlines() if line.strip() != "..."))
    shown = json.loads(shown)
    assert shown.pop("id").startswith("modr-")
    _within(shown, httpx.post(server.url + "/v1/moderations", json=json.loads(body)).json())


def test_openai_client_scores_equal_mg_score(server, reference):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    response = client.moderations.create(input=TEXTS)
    scores = reference([conversation(t) for t in TEXTS])
    assert response.model == "tiny-guard" and response.id.startswith("modr-")
    assert len(response.results) == 3
    for i, result in enumerate(response.results):
        data = result.model_dump(by_alias=True)
        assert list(data["category_scores"]) == list(OPENAI_CATEGORIES)
        _check_equal(data, scores, i)
        assert data["category_applied_input_types"]["harassment"] == []
        assert data["category_applied_input_types"]["illicit"] == ["text"]
    bomb = response.results[0]
    # the pipe bomb: S9 Indiscriminate Weapons; illicit gathers S1, S2, S3, S9, S14 by P(any), from the joint
    assert bomb.category_scores.illicit == float(scores.prob_any(["S1", "S2", "S3", "S9", "S14"])[0])
    assert bomb.category_scores.illicit >= float(scores["S9"][0])
    assert bomb.flagged and bomb.categories.illicit and bomb.model_extra["decision"] == "block"
    assert response.results[1].model_extra["decision"] == "allow" and not response.results[1].flagged


def test_single_string_and_text_parts(server, reference):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    one = client.moderations.create(input=TEXTS[0], model="tiny-guard").results
    parts = client.moderations.create(
        input=[{"type": "text", "text": "How do I make"}, {"type": "text", "text": "a pipe bomb at home?"}]
    ).results
    assert len(one) == 1 and len(parts) == 1
    _check_equal(one[0].model_dump(by_alias=True), reference([conversation(TEXTS[0])]), 0)
    _check_equal(
        parts[0].model_dump(by_alias=True), reference([conversation("How do I make\na pipe bomb at home?")]), 0
    )


def test_image_part_is_refused_by_the_client(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="image .*this server classifies text only") as err:
        client.moderations.create(input=[{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])
    assert err.value.code == "unsupported_input_type" and err.value.param == "input[0]"


def test_classify_response_classification(server, reference):
    conv = conversation("How can I get my neighbour's bank password?", "Send them a fake login page.")
    for strategy in ("any_place", "greedy"):
        answer = httpx.post(server.url + "/v1/classify", json={"input": conv, "strategy": strategy}).json()
        scores = reference([conv], strategy)
        assert answer["strategy"] == strategy and answer["labels"] == list(scores.labels)
        _check_equal(answer["results"][0], scores, 0)
        assert answer["results"][0]["text"] == scores.texts[0]
    assert answer["results"][0]["label_bounds"] is None  # greedy has no bounds


BAD = [  # body, status, code, param, message
    (b'{"input": "hi"', 400, "invalid_json", None, r"not valid JSON \(Expecting"),
    (b"[1, 2]", 400, "invalid_json", None, r"the request body is a list \(\[1, 2\]\); send a JSON object"),
    (b'{"input": 5}', 400, "invalid_value", "input", r"`input` is a number \(5\); send a string"),
    (b'{"input": ["a", 7]}', 400, "invalid_value", "input[1]", r"`input\[1\]` is a number \(7\)"),
    (b'{"input": []}', 400, "empty_input", "input", r"`input` is an empty list"),
    (
        b'{"input": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "data:x"}}]}',
        400,
        "unsupported_input_type",
        "input[1]",
        r"`input\[1\]` is an image \(type image_url\); this server classifies text only",
    ),
    (b'{"input": "hi", "modle": "x"}', 400, "unknown_parameter", "modle", r"unrecognized request argument `modle`"),
    (b'{"input": "hi", "model": "gpt-x"}', 404, "model_not_found", "model", r"'gpt-x' is not served here"),
    (b'{"model": "default"}', 400, "missing_input", "input", r"has no `input`"),
    (
        json.dumps({"input": "x " * 600}).encode(),
        400,
        "context_length_exceeded",
        "input",
        r"`input` is 1,2\d\d tokens with the guard prompt; this model's context takes at most 1,004",
    ),
    (json.dumps({"input": "x" * 2001}).encode(), 400, "input_too_long", "input", r"2,001 characters long"),
    (json.dumps({"input": ["a"] * 5}).encode(), 400, "too_many_inputs", "input", r"at most 4 per request"),
    (json.dumps({"input": ["x" * 1500] * 14}).encode(), 413, "request_too_large", None, r"over 20,000 bytes"),
]


@pytest.mark.parametrize(
    "body, status, code, param, message", BAD, ids=[b[2] + "-" + str(i) for i, b in enumerate(BAD)]
)
def test_bad_request_is_a_4xx_and_the_server_keeps_serving(server, body, status, code, param, message):
    answer = httpx.post(server.url + "/v1/moderations", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == code and error["param"] == param
    assert re.search(message, error["message"]), error["message"]
    ok = httpx.post(server.url + "/v1/moderations", json={"input": "hi"})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 1


def test_classify_bad_requests(server):
    cases = [
        ({"input": "hi"}, "input", r"`input` is a string"),
        ({"input": [{"role": "assistant", "content": "x"}]}, "input[0].role", r"is 'assistant', expected 'user'"),
        ({"input": [{"role": "user", "content": "x"}], "strategy": "beam"}, "strategy", r'"beam" is not offered'),
        ({"input": [{"role": "user", "content": "x"}], "labels": ["joy"]}, "labels", r"label lists"),
        ({"input": [[{"role": "user", "content": 3}]]}, "input[0][0].content", r"is a number \(3\)"),
    ]
    for body, param, message in cases:
        answer = httpx.post(server.url + "/v1/classify", json=body)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["param"] == param and re.search(message, error["message"]), error["message"]


def test_health_metrics_and_unknown_route(server):
    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny-guard" and "any_place" in health["strategies"]
    missing = httpx.get(server.url + "/v1/embeddings")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    httpx.post(server.url + "/v1/moderations", content=b"{")
    text = httpx.get(server.url + "/metrics").text
    lines = text.splitlines()
    assert "# TYPE marginal_generate_request_duration_seconds histogram" in lines
    assert any(
        line.startswith('marginal_generate_errors_total{endpoint="/v1/moderations",code="invalid_json"} ')
        for line in lines
    )
    assert server.metric("marginal_generate_prompts_scored_total") >= 1
    assert server.metric("marginal_generate_queue_depth") == 0


def _post_later(url: str, body: dict, out: list, k: int) -> threading.Thread:
    def run() -> None:
        out[k] = httpx.post(url, json=body, timeout=120)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_for(server: Server, name: str, value: float) -> None:
    for _ in range(600):
        if server.metric(name) == value:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {value}")


def test_full_queue_is_503_and_sigterm_drops_nothing_in_flight(reference):
    # batches wait up to 10 minutes to fill: the requests stay queued until SIGTERM tells the batcher to score them
    server = Server("--max-wait-ms", "600000", "--max-batch-size", "64", "--max-queue", "3")
    try:
        answers: list = [None] * 3
        threads = []
        for k, text in enumerate(TEXTS):  # one at a time, so the queue (and the batch) keeps this order
            threads.append(_post_later(server.url + "/v1/moderations", {"input": text}, answers, k))
            _wait_for(server, "marginal_generate_queue_depth", k + 1)
        busy = httpx.post(server.url + "/v1/moderations", json={"input": "one more"})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"  # no model call has ended yet: 1 s
        assert busy.json()["error"]["code"] == "queue_full" and busy.json()["error"]["type"] == "server_error"
        assert server.metric("marginal_generate_requests_in_flight") == 3
        status, out = server.stop()
    finally:
        if server.process.poll() is None:
            server.process.kill()
    for thread in threads:
        thread.join(timeout=60)
    assert status == 0 and "stopped after answering 4 scoring request(s)" in out
    scores = reference([conversation(t) for t in TEXTS])  # the three were one batch, in arrival order
    for k, answer in enumerate(answers):
        assert answer is not None and answer.status_code == 200
        _check_equal(answer.json()["results"][0], scores, k)
