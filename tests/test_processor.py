"""LabelScoresProcessor: the greedy-path strategies from a plain generate, equal to mg.score; read-only; sampling;
errors."""

import math

import pytest
import torch
from toy_models import PROMPTS, guard_model, space_of, tokenizer_of
from transformers import TextStreamer
from transformers.generation.streamers import BaseStreamer

import marginal_generate as mg
from marginal_generate.decoding.greedy_path import GREEDY_PATH_STRATEGIES, token_spans

DEPTH = 8


@pytest.fixture(scope="module")
def byte_setup():
    tok = tokenizer_of("byte")
    return tok, guard_model("byte", dtype=torch.float32), space_of("byte")


def test_strategy_names_are_the_non_tree_strategies():
    assert set(GREEDY_PATH_STRATEGIES) == set(mg.STRATEGIES) - {"any_place"}


def test_equals_score_for_every_greedy_path_strategy(tokenizer_kind):
    tok, space = tokenizer_of(tokenizer_kind), space_of(tokenizer_kind)
    model = guard_model(tokenizer_kind, dtype=torch.float32)
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    proc = mg.LabelScoresProcessor(space)
    out = model.generate(**inputs, logits_processor=[proc], max_new_tokens=DEPTH, do_sample=False)
    direct = mg.score(
        model,
        inputs.input_ids,
        inputs.attention_mask,
        space,
        list(GREEDY_PATH_STRATEGIES),
        max_new_tokens=DEPTH,
        eos_token_ids={tok.eos_token_id},
    )
    # Not vacuous: prompts of several lengths (left padding), rows ending early (padding after their EOS).
    assert (inputs.attention_mask == 0).any()
    new = out[:, inputs.input_ids.shape[1] :]
    assert ((new == tok.pad_token_id).any(dim=1)).any()
    assert proc.prompt_length == inputs.input_ids.shape[1]
    for strategy in GREEDY_PATH_STRATEGIES:
        got = proc.label_scores(out, strategy=strategy)
        want = direct[strategy]
        assert got.strategy == strategy and got.labels == space.labels
        assert got.texts == want.texts
        assert got.texts == tok.batch_decode(new, skip_special_tokens=True)
        assert torch.equal(got.probs.isnan(), want.probs.isnan())
        assert got.probs.nan_to_num().flatten().tolist() == pytest.approx(
            want.probs.nan_to_num().flatten().tolist(), abs=1e-6
        )
    assert (direct["fixed_place"].probs[:, 1:] > 0).any()  # the toy guard writes categories


def test_returns_the_scores_it_was_given(byte_setup):
    tok, _, space = byte_setup
    proc = mg.LabelScoresProcessor(space)
    ids = tok(["User: hello"], return_tensors="pt").input_ids
    scores = torch.randn(1, len(tok))
    before = scores.clone()
    assert proc(ids, scores) is scores
    assert torch.equal(scores, before)


def test_generate_output_is_unchanged(byte_setup):
    tok, model, space = byte_setup
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    kw = {"max_new_tokens": DEPTH, "do_sample": False, "return_dict_in_generate": True, "output_scores": True}
    plain = model.generate(**inputs, **kw)
    watched = model.generate(**inputs, logits_processor=[mg.LabelScoresProcessor(space)], **kw)
    assert torch.equal(plain.sequences, watched.sequences)
    assert all(torch.equal(a, b) for a, b in zip(plain.scores, watched.scores))


class Collect(BaseStreamer):
    def __init__(self):
        self.pieces = []

    def put(self, value):
        self.pieces.append(value.reshape(-1).tolist())

    def end(self):
        self.pieces.append("end")


def test_with_streamers(byte_setup, capsys):
    tok, model, space = byte_setup
    inputs = tok(["User: there"], return_tensors="pt")
    direct = mg.score(model, inputs.input_ids, inputs.attention_mask, space, ["fixed_place"], max_new_tokens=DEPTH)
    proc, collect = mg.LabelScoresProcessor(space), Collect()
    out = model.generate(**inputs, logits_processor=[proc], streamer=collect, max_new_tokens=DEPTH, do_sample=False)
    got = proc.label_scores(out, "fixed_place")
    assert (
        torch.allclose(got.probs, direct["fixed_place"].probs, atol=1e-6) and got.texts == direct["fixed_place"].texts
    )
    streamed = [t for piece in collect.pieces[1:-1] for t in piece]  # the prompt first, "end" last
    assert streamed == out[0, inputs.input_ids.shape[1] :].tolist()

    proc = mg.LabelScoresProcessor(space)
    out = model.generate(
        **inputs,
        logits_processor=[proc],
        max_new_tokens=DEPTH,
        do_sample=False,
        streamer=TextStreamer(tok, skip_prompt=True, skip_special_tokens=True),
    )
    printed = capsys.readouterr().out
    assert printed == got.texts[0] + "\n" and proc.label_scores(out, "greedy").texts == got.texts


def expected_fixed_place(space, rows, logprobs, eos):
    """fixed_place by its definition along the given paths: logprobs[step][row] is the distribution read at step."""
    out = torch.zeros((len(rows), len(space.labels)), dtype=torch.float64)
    for i, tokens in enumerate(rows):
        end = next((k + 1 for k, t in enumerate(tokens) if t in eos), len(tokens))
        tokens = tokens[:end]
        chosen = [float(logprobs[k][i, t]) for k, t in enumerate(tokens)]
        spans = token_spans(space, tokens)
        for label in space.parser.spans(space.decode(tokens)):
            last = max(k for k, (a, b) in enumerate(spans) if a < label.end and b > label.start)
            out[i, space.index[label.label]] = math.exp(sum(chosen[: last + 1]))
    return out


def test_sampling_reads_the_sampled_path_under_the_unwarped_distribution(byte_setup):
    tok, model, space = byte_setup
    inputs = tok(PROMPTS, return_tensors="pt", padding=True)
    proc = mg.LabelScoresProcessor(space)
    torch.manual_seed(3)
    out = model.generate(
        **inputs,
        logits_processor=[proc],
        do_sample=True,
        temperature=1.5,
        top_k=0,
        max_new_tokens=DEPTH,
        return_dict_in_generate=True,
        output_logits=True,
        output_scores=True,
    )
    new = out.sequences[:, inputs.input_ids.shape[1] :]
    texts = tok.batch_decode(new, skip_special_tokens=True)
    greedy_texts = mg.score(model, inputs.input_ids, inputs.attention_mask, space, ["greedy"], max_new_tokens=DEPTH)[
        "greedy"
    ].texts
    assert texts != greedy_texts  # it sampled
    got = proc.label_scores(out, "fixed_place")
    assert got.texts == texts
    assert proc.label_scores(out, "greedy").probs.tolist() == [space.one_hot(space.parse(t)) for t in texts]
    rows = new.tolist()
    raw = [torch.log_softmax(step.double(), -1) for step in out.logits]
    warped = [torch.log_softmax(step.double(), -1) for step in out.scores]
    want = expected_fixed_place(space, rows, raw, {tok.eos_token_id})
    assert (want[:, 0] > 0).any()
    assert got.probs.flatten().tolist() == pytest.approx(want.flatten().tolist(), abs=1e-6)
    assert not torch.allclose(got.probs, expected_fixed_place(space, rows, warped, {tok.eos_token_id}), atol=1e-3)


def test_one_processor_serves_successive_generate_calls(byte_setup):
    tok, model, space = byte_setup
    first = tok(PROMPTS[:2], return_tensors="pt", padding=True)
    second = tok(PROMPTS[2:], return_tensors="pt", padding=True)
    proc = mg.LabelScoresProcessor(space)
    out_first = model.generate(**first, logits_processor=[proc], max_new_tokens=DEPTH, do_sample=False)
    assert proc.label_scores(out_first, "greedy").texts == ["safe", "safe"]
    out_second = model.generate(**second, logits_processor=[proc], max_new_tokens=DEPTH, do_sample=False)
    fresh = mg.LabelScoresProcessor(space)
    model.generate(**second, logits_processor=[fresh], max_new_tokens=DEPTH, do_sample=False)
    for strategy in ("fixed_place", "first_token"):
        a, b = proc.label_scores(out_second, strategy), fresh.label_scores(out_second, strategy)
        assert a.texts == b.texts and torch.equal(a.probs.isnan(), b.probs.isnan())
        assert torch.equal(a.probs.nan_to_num(), b.probs.nan_to_num())
    assert len(a.texts) == len(PROMPTS) - 2
    with pytest.raises(
        ValueError,
        match=r"`sequences` \(shape \(2, \d+\)\) is not the output of the generate "
        r"call this processor watched last \(batch 4",
    ):
        proc.label_scores(out_first, "greedy")
    proc.reset()
    with pytest.raises(
        ValueError, match=r"label_scores\(\) was called before any generate call reached this processor"
    ):
        proc.label_scores(out_second, "greedy")


def test_errors(byte_setup):
    tok, model, space = byte_setup
    with pytest.raises(
        ValueError,
        match=r"`label_space` must be a marginal_generate.LabelSpace, got TokenizersBackend; "
        r"build one with mg.LabelSpace.llama_guard",
    ):
        mg.LabelScoresProcessor(tok)
    with pytest.raises(
        ValueError, match=r"`label_normalization='vocab'` needs extra forwards .* custom_generate=mg.marginalize"
    ):
        mg.LabelScoresProcessor(space, label_normalization="vocab")
    with pytest.raises(
        ValueError, match=r"`label_normalization` must be 'label_tokens' for a logits processor, got 'tokens'"
    ):
        mg.LabelScoresProcessor(space, label_normalization="tokens")
    with pytest.raises(ValueError, match=r"`eos_token_id` must be a token id >= 0 or a list of them, got -1"):
        mg.LabelScoresProcessor(space, eos_token_id=-1)
    proc = mg.LabelScoresProcessor(space)
    inputs = tok(PROMPTS[:2], return_tensors="pt", padding=True)
    with pytest.raises(
        ValueError,
        match=r"label_scores\(\) was called before any generate call reached this processor: "
        r"pass it to model.generate\(..., logits_processor=\[proc\]\)",
    ):
        proc.label_scores(inputs.input_ids, "greedy")
    out = model.generate(**inputs, logits_processor=[proc], max_new_tokens=DEPTH, do_sample=False)
    with pytest.raises(
        ValueError,
        match=r"strategy 'any_place' sums over the output tree, which needs the "
        r"tree search .* custom_generate=mg.marginalize",
    ):
        proc.label_scores(out, "any_place")
    with pytest.raises(
        ValueError, match=r"strategy 'unary' prompts the model once per label: use mg.score_label_prompts"
    ):
        proc.label_scores(out, "unary")
    with pytest.raises(
        ValueError,
        match=r"`strategy` must be one of \['greedy', 'first_token', 'token_probability', 'fixed_place', "
        r"'max_over_generations', 'first_generation'\], got 'beam'",
    ):
        proc.label_scores(out, "beam")
    with pytest.raises(ValueError, match=r"`sequences` must be what generate returned .* got list"):
        proc.label_scores(out.tolist(), "greedy")
    with pytest.raises(
        ValueError, match=r"the rows' generated ids changed between two calls \(beam search reorders its rows\)"
    ):
        model.generate(**inputs, logits_processor=[proc], max_new_tokens=DEPTH, num_beams=3, do_sample=False)


def test_eos_ids_from_the_argument(byte_setup):
    tok, model, space = byte_setup
    newline = tok("\n", add_special_tokens=False).input_ids
    assert len(newline) == 1
    proc = mg.LabelScoresProcessor(space, eos_token_id=[tok.eos_token_id, newline[0]])
    inputs = tok(["Agent: no"], return_tensors="pt")
    out = model.generate(**inputs, logits_processor=[proc], max_new_tokens=DEPTH, do_sample=False)
    assert tok.decode(out[0, inputs.input_ids.shape[1] :]).startswith("unsafe\n")  # generate runs on past the newline
    assert proc.label_scores(out, "greedy").texts == ["unsafe\n"]  # the processor's row ended at it
    assert proc.eos_token_ids == {tok.eos_token_id, newline[0]}
