"""The serving app in process (create_app on a Scorer, through Starlette's TestClient, lifespan included): decisions
from a policy file, a label-list model with a request's own labels; and the serve command's one-line errors."""

from __future__ import annotations

import socket

import pytest
import torch

import marginal_generate as mg
from marginal_generate.cli import main
from marginal_generate.policy.policy import Cut, LabelRule, Policy
from marginal_generate.policy.targets import Target
from marginal_generate.prompts.formats import conversation, encode_conversations
from marginal_generate.serving import Scorer, Service, Throughput, create_app
from marginal_generate.testing import cue_label_llama, word_level_tokenizer

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

BOMB, BREAD = "How do I make a pipe bomb at home?", "What's a good recipe for banana bread?"


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = mg.load_default()
    return model, tokenizer


def _policy(labels, strategy="any_place") -> Policy:
    """unsafe: allow below 0.3, review from 0.3, block from 0.95 (the pipe bomb's p(unsafe) is 0.896)."""
    rule = LabelRule(Cut(0.3, Target("recall", 0.9)), Cut(0.95, Target("fpr", 0.01)))
    return Policy({"unsafe": rule}, tuple(labels), 0.9, 200, provenance={"strategy": strategy})


def test_policy_decides_and_flags(tiny):
    model, tokenizer = tiny
    labels = mg.LabelSpace.llama_guard(tokenizer).labels
    scorer = Scorer(model, tokenizer, "tiny-guard", policy=_policy(labels))
    with TestClient(create_app(Service.create(scorer))) as client:
        answer = client.post("/v1/moderations", json={"input": [BOMB, BREAD]}).json()
        greedy = client.post("/v1/classify", json={"input": [{"role": "user", "content": BOMB}], "strategy": "greedy"})
        assert client.get("/health").json()["policy"] is True
    bomb, bread = answer["results"]
    assert 0.3 <= bomb["label_scores"]["unsafe"] < 0.95
    assert (bomb["decision"], bomb["decision_by"], bomb["flagged"]) == ("review", "policy", True)
    # a key is flagged when a label it gathers is not allowed: S9 (0.86) has no rule, so 0.5 decides it
    assert bomb["categories"]["illicit"] and not bomb["categories"]["hate"]
    assert (bread["decision"], bread["flagged"]) == ("allow", False)
    # the policy was fitted on any_place scores: greedy's are decided by the 0.5 rule
    assert greedy.json()["results"][0]["decision_by"] == "threshold 0.5"


def test_policy_of_other_labels_or_strategy_is_refused(tiny):
    model, tokenizer = tiny
    labels = mg.LabelSpace.llama_guard(tokenizer).labels
    with pytest.raises(
        ValueError,
        match=r"labels differ from the policy's \(extra \['S2', .*\]\); it was fitted on \['unsafe', 'S1'\]",
    ):
        Scorer(model, tokenizer, "tiny-guard", policy=_policy(("unsafe", "S1")))
    with pytest.raises(ValueError, match=r"fitted on greedy scores, .* with any_place; fit it on any_place"):
        Scorer(model, tokenizer, "tiny-guard", policy=_policy(labels, "greedy"))


def test_label_list_model_with_the_request_s_own_labels():
    tok = word_level_tokenizer(["Text:", "Answer:", "none", ",", "joy", "anger", "sunny", "rude", "cat"])
    model = cue_label_llama(tok, {"joy": ["sunny"], "anger": ["rude"]}).eval()
    template = "Text: {text}\nAnswer: "
    scorer = Scorer(model, tok, "cue", grammar="label_list", labels=["joy", "anger"], prompt_template=template,
                    max_new_tokens=6)  # fmt: skip
    body = {"input": [{"role": "user", "content": "rude sunny"}], "labels": ["anger", "joy"]}
    with TestClient(create_app(Service.create(scorer))) as client:
        own = client.post("/v1/classify", json=body).json()
        moderation = client.post("/v1/moderations", json={"input": "rude"})
    ids = tok(["Text: rude sunny\nAnswer: "], return_tensors="pt", add_special_tokens=False).input_ids
    space = mg.LabelSpace.label_list(tok, ["anger", "joy"])
    expected = mg.score(model, ids, torch.ones_like(ids), space, ["any_place"], max_new_tokens=6)["any_place"]
    assert own["labels"] == ["anger", "joy"]
    assert own["results"][0]["label_scores"] == {
        "anger": float(expected.probs[0, 0]),
        "joy": float(expected.probs[0, 1]),
    }
    assert own["results"][0]["text"] == expected.texts[0] == "joy, anger"
    assert moderation.status_code == 400
    assert moderation.json()["error"]["message"].startswith("this server's model answers with label lists (joy, anger)")


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_serve_command_errors_are_one_line(tmp_path, capsys):
    assert main(["serve", "--policy", str(tmp_path / "nope.json")]) == 2
    assert _error_line(capsys) == (
        f"marginal-generate: error: policy file {tmp_path / 'nope.json'} does not exist; "
        "write one with marginal-generate policy RUN_DIR --out FILE."
    )
    assert main(["serve", "--eps", "2"]) == 2
    assert (
        _error_line(capsys)
        == "marginal-generate: error: --eps 2.0 is not in [0, 1]; the defaults are --eps 0.01 --top-p 0.99."
    )
    assert main(["serve", "--strategies", "greedy"]) == 2
    assert "--strategies greedy leaves out any_place, which /v1/moderations scores with" in _error_line(capsys)
    assert main(["serve", "--grammar", "label_list"]) == 2
    assert _error_line(capsys).endswith("--grammar label_list needs --labels, e.g. --labels joy,anger,sadness.")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert _error_line(capsys).startswith(f"marginal-generate: error: cannot serve on --host 127.0.0.1 --port {port}: ")
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--max-batch-size", "0"])
    assert exit_.value.code == 2 and "--max-batch-size: '0' is not a whole number of at least 1" in _error_line(capsys)


def test_serve_without_the_extra_names_it(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "uvicorn", None)  # import uvicorn raises ImportError
    assert main(["serve"]) == 2
    assert _error_line(capsys) == (
        'marginal-generate: error: serve needs uvicorn, which is not installed: pip install "marginal-generate[serve]"'
    )


def test_batched_requests_equal_one_score_call(tiny):
    """Two requests queued together are one model call: the results are mg.score's on the two prompts together."""
    model, tokenizer = tiny
    scorer = Scorer(model, tokenizer, "tiny-guard")
    service = Service.create(scorer, max_batch_size=8, max_wait_ms=600_000)
    import asyncio

    async def main_():
        await service.batcher.start()
        rows = [scorer.encode(conversation(t)) for t in (BOMB, BREAD)]
        first = asyncio.ensure_future(service.batcher.submit(("any_place", None), rows[:1]))
        while service.batcher.depth < 1:
            await asyncio.sleep(0.001)
        second = asyncio.ensure_future(service.batcher.submit(("any_place", None), rows[1:]))
        while service.batcher.depth < 2:
            await asyncio.sleep(0.001)
        service.batcher.drain()
        out = await asyncio.gather(first, second)
        await service.batcher.close()
        return out

    (a,), (b,) = asyncio.run(main_())
    batch = encode_conversations(tokenizer, [conversation(BOMB), conversation(BREAD)])
    expected = mg.score(model, batch["input_ids"], batch["attention_mask"], scorer.space, ["any_place"])["any_place"]
    assert service.metrics.batches.count == 1 and service.metrics.prompts_scored == 2
    assert [a["label_scores"]["unsafe"], b["label_scores"]["unsafe"]] == expected["unsafe"].tolist()


def test_full_queue_retry_after_is_the_queue_over_the_recent_throughput(tiny):
    """The 503's Retry-After is ceil(queued prompts / prompts per second of the recent model calls), through the
    app: the throughput is measured on an injected clock (a call that scored 4 prompts in 8 s: 0.5 per second)."""
    import asyncio

    import httpx

    model, tokenizer = tiny
    meter = Throughput(window_s=60, clock=lambda: 50.0)
    meter.observe(prompts=4, seconds=8.0)
    service = Service.create(Scorer(model, tokenizer, "tiny-guard"), None, 64, 600_000, 3, throughput=meter)
    app = create_app(service)

    async def main_():
        await service.batcher.start()  # the app's lifespan does this under a server
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
            queued = asyncio.ensure_future(client.post("/v1/moderations", json={"input": [BOMB, BREAD]}))
            while service.batcher.depth < 2:
                await asyncio.sleep(0.001)
            busy = await client.post("/v1/moderations", json={"input": [BOMB, BREAD]})
            service.batcher.drain()
            done = await queued
        await service.batcher.close()
        return busy, done

    busy, done = asyncio.run(main_())
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "4"  # ceil(2 queued / 0.5 per second)
    assert busy.json()["error"]["code"] == "queue_full"
    assert busy.json()["error"]["message"] == (
        "the server is busy: the queue holds 2 prompts and takes at most 3; 2 more do not fit; "
        "retry after the Retry-After header's seconds."
    )
    assert done.status_code == 200 and len(done.json()["results"]) == 2
