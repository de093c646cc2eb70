"""A label-list model whose weights are set by hand, so what it writes is known: :func:`cue_label_llama`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

__all__ = ["cue_label_llama"]


def cue_label_llama(
    tokenizer: PreTrainedTokenizerFast,
    cues: Mapping[str, Sequence[str]],
    none: str = "none",
    cue_gain: float = 30.0,
    more_gain: float = 45.0,
    none_gain: float = 50.0,
) -> LlamaForCausalLM:
    """A one-layer Llama whose weights are set by hand: it answers the label list of the cue words in its prompt.

    ``cues`` maps each label to its cue words; ``tokenizer`` must hold every label, cue word, ``none``
    and ``,`` as one token (a :func:`word_level_tokenizer`), spaces as their own token. Nothing is
    learnt, so what it writes is certain: after the prompt, the first label (in ``cues``' order) whose
    cue it has read and that it has not written yet, then ``, `` and the next, then EOS; ``none``
    when no cue is there. Its probabilities are soft on purpose, near those of a classifier that is
    right about nine times in ten: over a prefix of ``L`` tokens, a label whose cue it holds and that
    is not written yet gets ``cue_gain / L`` added to its logit (against 0 for a label without a
    cue, -0.3 per place in ``cues``' order, and 1 for ``none``), ``, `` against EOS after a label
    gets ``-2.5 + more_gain / L`` per label still to write, and ``none`` loses ``none_gain / L``
    per label written.

    How: the hidden state holds the token's class (space, ``,``, label, ``none``, other) and its
    identity (which label, or which label's cue). Queries and keys are zero, so the one attention
    head averages the values over the prefix: ``+1`` for each cue of a label, ``-1`` for each time
    the label was written (a label still to write reads ``1/L``), and ``+1`` in one more entry for
    every label written. The MLP is zero, and the output head reads the class (a table of next-token
    logits) and those averages.

    >>> from marginal_generate.testing import word_level_tokenizer
    >>> cues = {"joy": ["sunny"], "anger": ["rude"]}
    >>> tok = word_level_tokenizer(["Text:", "Answer:", "none", ",", "joy", "anger", "sunny", "rude", "cat"])
    >>> model = cue_label_llama(tok, cues)
    >>> def answer(text):
    ...     ids = tok([f"Text: {text}\\nAnswer: "], return_tensors="pt").input_ids
    ...     out = model.generate(ids, max_new_tokens=6, do_sample=False)
    ...     return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    >>> answer("rude sunny"), answer("rude cat"), answer("cat cat")
    ('joy, anger', 'anger', 'none')
    >>> cue_label_llama(tok, {"fear": ["dark"]})
    Traceback (most recent call last):
    ValueError: cue_label_llama needs 'dark' to be one token of `tokenizer`, got [15] (the unknown token).
    """
    labels = list(cues)
    n = len(labels)
    space, comma, label_class, none_class, other, blank = range(6)
    cue_dim = {label: 6 + i for i, label in enumerate(labels)}
    label_dim = {label: 6 + n + i for i, label in enumerate(labels)}
    memory = {label: 6 + 2 * n + i for i, label in enumerate(labels)}
    written = 6 + 3 * n
    hidden = written + 1 + (written + 1) % 2  # even, for the rotary embedding (which zero queries and keys ignore)

    def one(text: str) -> int:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
            unknown = " (the unknown token)" if tokenizer.unk_token_id in ids else ""
            raise ValueError(f"cue_label_llama needs {text!r} to be one token of `tokenizer`, got {ids}{unknown}.")
        return ids[0]

    cue_of = {one(word): label for label, words in cues.items() for word in words}
    label_ids = {label: one(label) for label in labels}
    space_id, comma_id, none_id, eos = one(" "), one(","), one(none), tokenizer.eos_token_id
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=hidden,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    embed = torch.zeros(len(tokenizer), hidden)  # two ones a row: the class and the identity
    for token in range(len(tokenizer)):
        if token in cue_of:
            embed[token, [other, cue_dim[cue_of[token]]]] = 1.0
        elif token in label_ids.values():
            label = labels[list(label_ids.values()).index(token)]
            embed[token, [label_class, label_dim[label]]] = 1.0
        else:
            kind = {space_id: space, comma_id: comma, none_id: none_class}.get(token, other)
            embed[token, [kind, blank]] = 1.0
    unit = (hidden / 2) ** 0.5  # a row's value once RMS-normalised: two ones among `hidden` entries
    values = torch.zeros(hidden, hidden)
    for label in labels:
        values[memory[label], cue_dim[label]] = 1.0 / unit
        values[memory[label], label_dim[label]] = -1.0 / unit
        values[written, label_dim[label]] = 1.0 / unit
    head = torch.full((len(tokenizer), hidden), 0.0)
    table = torch.full((5, len(tokenizer)), -30.0)  # next-token logits by the last token's class
    for start in (space, other):  # where a label can start: the labels in order, `none` above those without a cue
        for i, label in enumerate(labels):
            table[start, label_ids[label]] = -0.3 * i
        table[start, none_id] = 1.0
    table[label_class, comma_id], table[label_class, eos] = -2.5, 0.0
    table[comma, space_id] = 0.0
    table[none_class, eos] = 0.0
    head[:, :5] = table.T / unit
    for label in labels:
        head[label_ids[label], memory[label]] = cue_gain / unit
        head[comma_id, memory[label]] = more_gain / unit
    head[none_id, written] = -none_gain / unit
    state = model.state_dict()
    with torch.no_grad():
        for name, tensor in state.items():
            if "norm" not in name:
                tensor.zero_()  # queries, keys and the MLP stay zero
        state["model.embed_tokens.weight"].copy_(embed)
        state["model.layers.0.self_attn.v_proj.weight"].copy_(values)
        state["model.layers.0.self_attn.o_proj.weight"].copy_(torch.eye(hidden))
        state["lm_head.weight"].copy_(head)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
    )
    return model.eval()
