"""Tiny tokenizers and models built in memory, for tests, doctests and benchmarks.

Nothing here downloads anything. Three tokenizer families cover the ways a label can be
split: word-level (``S10`` is one token), byte-level BPE with Llama 3's pre-tokenizer
(digits in groups of up to three, so ``S10`` is ``S`` + ``10``, and a comma merges with the
letter after it, so the second id of ``S10,S1`` starts inside the token ``,S``), and SentencePiece-style
BPE with ``▁`` and digits split one by one (``S10`` is ``S`` + ``1`` + ``0``).

>>> tok = byte_level_tokenizer()
>>> [tok.decode([i]) for i in tok("unsafe\\nS10,S1", add_special_tokens=False)["input_ids"]]
['unsafe', '\\n', 'S', '10', ',S', '1']
>>> model = tiny_llama(tok, seed=0)
>>> model.config.vocab_size == len(tok)
True

The real ones: :func:`llama3_tokenizer` (Llama Guard 3 1B/8B, Llama-3.1-8B-Instruct) and
:func:`llama4_tokenizer` (Llama Guard 4) build Hugging Face fast tokenizers from Meta's
``tokenizer.model`` files shipped in the ``llama-models`` package (``pip install llama-models``),
with transformers' ``TikTokenConverter`` and Meta's special tokens at their real ids.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tokenizers import (
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    trainers,
)
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

__all__ = [
    "SPECIAL_TOKENS",
    "word_level_tokenizer",
    "byte_level_tokenizer",
    "sentencepiece_tokenizer",
    "tiny_llama",
    "cue_label_llama",
    "guard_corpus",
    "GUARD_PROMPTS",
    "fit_tiny_guard",
    "GUARD_BIGRAMS",
    "plant_guard_bias",
    "llama3_tokenizer",
    "llama4_tokenizer",
    "tiny_llama4",
    "LLAMA_MODELS_HINT",
    "cache_dir",
    "free_port",
]

SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>"]

# Llama 3's pre-tokenizer pattern: contractions, words, digit groups of up to three, punctuation, newlines, spaces.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def guard_corpus(categories: Sequence[str] = tuple(f"S{i}" for i in range(1, 15))) -> list[str]:
    """Answers in the Llama Guard format plus a few prompt words, to train toy tokenizers on."""
    cats = list(categories)
    lines = ["safe", "\n\nsafe", "User: hello there", "Agent: no"]
    for k, c in enumerate(cats):
        other = cats[(k + 3) % len(cats)]
        lines += [f"unsafe\n{c}", f"\n\nunsafe\n{c},{other}", f"unsafe\n{other},{c}"]
    return lines * 20


def _wrap(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        clean_up_tokenization_spaces=False,
    )
    tok.padding_side = "left"
    return tok


def word_level_tokenizer(words: Sequence[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer: each of ``words`` is one token, as are spaces and newlines.

    >>> tok = word_level_tokenizer(["unsafe", "S1", "S10", ",", "\\n"])
    >>> tok("unsafe\\nS10,S1", add_special_tokens=False)["input_ids"]
    [3, 7, 5, 6, 4]
    >>> len(tok)
    11
    """
    vocab = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *words])}
    for extra in ("\n", " ", "\n\n", "<unk>"):
        vocab.setdefault(extra, len(vocab))
    inner = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.Split(Regex(r"\n+| +|,|[^\s,]+"), behavior="isolated")
    inner.decoder = decoders.Fuse()
    tok = _wrap(inner)
    tok.unk_token = "<unk>"
    return tok


def byte_level_tokenizer(corpus: Sequence[str] | None = None, vocab_size: int = 64) -> PreTrainedTokenizerFast:
    """A Llama-3-style byte-level BPE tokenizer trained on ``corpus`` (default :func:`guard_corpus`)."""
    inner = Tokenizer(models.BPE())
    inner.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    inner.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    inner.train_from_iterator(corpus or guard_corpus(), trainer=trainer)
    return _wrap(inner)


def sentencepiece_tokenizer(corpus: Sequence[str] | None = None, vocab_size: int = 64) -> PreTrainedTokenizerFast:
    """A SentencePiece-style BPE tokenizer (``▁`` for spaces, one token per digit).

    >>> tok = sentencepiece_tokenizer()
    >>> [tok.decode([i]) for i in tok("unsafe\\nS10", add_special_tokens=False)["input_ids"]][-3:]
    ['S', '1', '0']
    """
    inner = Tokenizer(models.BPE(byte_fallback=False))
    inner.normalizer = normalizers.Replace(" ", "▁")
    inner.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\n|,|▁?[^\n,▁\d]+|\d"), behavior="isolated"),
        ]
    )
    inner.decoder = decoders.Sequence([decoders.Replace("▁", " ")])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    inner.train_from_iterator(corpus or guard_corpus(), trainer=trainer)
    return _wrap(inner)


def tiny_llama(
    tokenizer: PreTrainedTokenizerFast,
    seed: int = 0,
    hidden_size: int = 16,
    num_layers: int = 2,
    logit_scale: float = 4.0,
    dtype: torch.dtype = torch.float32,
) -> LlamaForCausalLM:
    """A random Llama with ``tokenizer``'s vocabulary; ``logit_scale`` sharpens its next-token distributions.

    Random weights give nearly flat distributions; scaling the output head keeps a handful of
    branches alive per step, like a trained guard model, so the tree search has work to do.
    """
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        head = model.lm_head.weight
        head.mul_(logit_scale / head.std() / hidden_size**0.5)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model.to(dtype).eval()


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


GUARD_PROMPTS: tuple[tuple[str, str], ...] = (
    ("User: hello there", "safe"),
    ("User: hello", "safe"),
    ("Agent: no", "unsafe\nS1"),
    ("User: there", "unsafe\nS10,S1"),
    ("Agent: hello", "unsafe\nS2,S10"),
    ("User: no", "unsafe\nS1,S2"),
)


def fit_tiny_guard(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    pairs: Sequence[tuple[str, str]] = GUARD_PROMPTS,
    steps: int = 60,
    lr: float = 3e-2,
    seed: int = 0,
) -> LlamaForCausalLM:
    """Teach a tiny model to answer ``pairs`` (prompt → Llama Guard answer) a little, in a second or two.

    Short training leaves it uncertain, so its trees branch between ``safe``/``unsafe`` and
    between category ids: realistic work for every strategy.
    """
    torch.manual_seed(seed)
    dtype = model.dtype
    model = model.float().train()
    rows = [
        tokenizer(p, add_special_tokens=False)["input_ids"]
        + tokenizer(a, add_special_tokens=False)["input_ids"]
        + [tokenizer.eos_token_id]
        for p, a in pairs
    ]
    starts = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p, _ in pairs]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    for i, (r, s) in enumerate(zip(rows, starts)):
        ids[i, : len(r)] = torch.tensor(r)
        labels[i, s : len(r)] = torch.tensor(r[s:])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.to(dtype).eval()


# Guard-like next-token distributions by previous token: a random model of any size with this bigram
# bias planted writes Llama Guard answers with realistic uncertainty, so the speed benchmarks meet a
# real output tree (tens of branches alive at eps=0.01) rather than one that ends at once.
GUARD_BIGRAMS: dict[str, dict[str, float]] = {
    "": {"\n\n": 0.9, "unsafe": 0.05, "safe": 0.05},  # after any other token (the prompt's end)
    "\n\n": {"unsafe": 0.55, "safe": 0.45},
    "safe": {"<eos>": 1.0},
    "unsafe": {"\n": 0.9, "<eos>": 0.1},
    "\n": {"S": 0.95, "<eos>": 0.05},
    "S": {"1": 0.3, "2": 0.2, "10": 0.2, "11": 0.15, "3": 0.15},
    ",S": {"1": 0.3, "2": 0.2, "10": 0.2, "11": 0.15, "3": 0.15},
    ",": {"S": 1.0},
    **{d: {",": 0.4, ",S": 0.2, "<eos>": 0.4} for d in ("1", "2", "3", "10", "11")},
}


def plant_guard_bias(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast) -> tuple[torch.Tensor, torch.Tensor]:
    """Add :data:`GUARD_BIGRAMS` (as log-probabilities, by the previous token) to the model's logits.

    Every token outside a row gets -30, so weights whose logits are small only add noise: with the
    model's own logits within ``±b``, each planted probability is within a factor ``exp(±2b)`` of the
    table's. Works at any vocabulary (Llama 4's 202,048 tokens too): the table is stored as one row per
    listed previous token plus the default row. The hook reads ``input_ids`` (a call with
    ``inputs_embeds`` only fails). Returns ``(rows, index)``: after token ``t`` the bias is ``rows[index[t]]``.

    >>> tok = byte_level_tokenizer(); model = tiny_llama(tok, logit_scale=0.1)
    >>> rows, index = plant_guard_bias(model, tok)
    >>> unsafe = tok.convert_tokens_to_ids("unsafe")
    >>> logits = model(input_ids=torch.tensor([[unsafe]])).logits[0, -1]
    >>> round(logits.softmax(-1)[tok.convert_tokens_to_ids("Ċ")].item(), 1)  # after 'unsafe': a newline, p 0.9
    0.9
    """
    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    vocab = config.vocab_size

    def token(text: str) -> int:
        if text == "<eos>":
            return tokenizer.eos_token_id
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"GUARD_BIGRAMS needs {text!r} to be one token of this tokenizer, got {ids}.")
        return ids[0]

    def row(table: dict[str, float]) -> torch.Tensor:
        out = torch.full((vocab,), -30.0)
        for text, p in table.items():
            out[token(text)] = float(torch.tensor(p).log())
        return out

    previous = [p for p in GUARD_BIGRAMS if p]
    rows = torch.stack([row(GUARD_BIGRAMS[p]) for p in previous] + [row(GUARD_BIGRAMS[""])])
    index = torch.full((vocab,), len(previous), dtype=torch.long)
    index[torch.tensor([token(p) for p in previous])] = torch.arange(len(previous))

    def add_bias(_module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        ids = kwargs.get("input_ids", args[0] if args else None)
        last = ids[:, -output.logits.shape[1] :]
        table = rows.to(output.logits.device, output.logits.dtype)
        output.logits = output.logits + table[index.to(last.device)[last]]
        return output

    model.register_forward_hook(add_bias, with_kwargs=True)
    return rows, index


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the system's pick for port 0), for a test's server or rendezvous.

    Another process may take it before the caller binds it: callers retry on "address already in use".

    >>> 0 < free_port() < 65536
    True
    """
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


LLAMA_MODELS_HINT = "the real Llama tokenizers come from Meta's llama-models package: pip install llama-models tiktoken"

# family -> (Meta's tokenizer module, bos, eos, pad): the tokens the Hub's tokenizer configs name.
_META = {
    "llama3": ("llama_models.llama3.tokenizer", "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>"),
    "llama4": ("llama_models.llama4.tokenizer", "<|begin_of_text|>", "<|eot|>", "<|finetune_right_pad|>"),
}


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where files that can be rebuilt (the converted Llama tokenizers) are kept.

    ``$MARGINAL_GENERATE_CACHE`` if set, else ``marginal-generate`` in the user cache folder:
    ``$XDG_CACHE_HOME``, else ``~/.cache`` (where huggingface_hub keeps its own). The hyphen matters:
    a folder named like the package (``marginal_generate``, as under the temp folder before) is
    imported instead of the package by Python started in the folder that holds it.

    >>> cache_dir({"XDG_CACHE_HOME": "/var/cache"}).as_posix()
    '/var/cache/marginal-generate'
    >>> cache_dir({"MARGINAL_GENERATE_CACHE": "/data/mg", "XDG_CACHE_HOME": "/var/cache"}).as_posix()
    '/data/mg'
    >>> cache_dir({}) == Path.home() / ".cache" / "marginal-generate"
    True
    """
    env = os.environ if environ is None else environ
    if env.get("MARGINAL_GENERATE_CACHE"):
        return Path(env["MARGINAL_GENERATE_CACHE"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "marginal-generate"


def _meta_tokenizer(family: str) -> PreTrainedTokenizerFast:
    """Meta's ``tokenizer.model`` of ``family`` as a fast tokenizer, converted once and kept on disk.

    The conversion (``TikTokenConverter``: BPE merges from the ranks, Meta's split pattern, byte-level
    pieces, then Meta's special tokens in Meta's order, so at Meta's ids) takes 10–20 s; the
    ``tokenizer.json`` it produces is kept under :func:`cache_dir` per llama-models and transformers
    version, and loads in about a second. Where the cache cannot be written the tokenizer is built anyway.
    """
    import importlib
    import importlib.metadata

    import transformers
    from tokenizers import processors

    module_name, bos, eos, pad = _META[family]
    try:
        meta_module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"{family}_tokenizer() needs {LLAMA_MODELS_HINT}") from err
    model_file = Path(meta_module.__file__).parent / "tokenizer.model"
    version = importlib.metadata.version("llama-models")
    saved = cache_dir() / f"{family}-llama_models-{version}-transformers-{transformers.__version__}" / "tokenizer.json"
    meta = meta_module.Tokenizer(model_file)
    if saved.exists():
        inner = Tokenizer.from_file(str(saved))
    else:
        from transformers.convert_slow_tokenizer import TikTokenConverter

        inner = TikTokenConverter(
            vocab_file=str(model_file), pattern=meta.model._pat_str, extra_special_tokens=meta.special_tokens
        ).converted()
        # like the Hub's Llama tokenizers: BOS in front when special tokens are added
        inner.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, meta.special_tokens[bos])]
                ),
            ]
        )
        try:
            saved.parent.mkdir(parents=True, exist_ok=True)
            partial = saved.with_name(f"tokenizer.json.tmp{os.getpid()}")
            inner.save(str(partial))
            os.replace(partial, saved)
        except OSError:  # a read-only home: build it again next time
            pass
    tok = PreTrainedTokenizerFast(
        tokenizer_object=inner, bos_token=bos, eos_token=eos, pad_token=pad, clean_up_tokenization_spaces=False
    )
    tok.padding_side = "left"
    for token, token_id in (("bos", bos), ("eos", eos), ("pad", pad)):
        if tok.convert_tokens_to_ids(token_id) != meta.special_tokens[token_id]:  # pragma: no cover - a broken cache
            raise RuntimeError(f"{family} {token} token {token_id} is not at Meta's id; delete {saved} and retry.")
    return tok


@functools.lru_cache(maxsize=None)
def llama3_tokenizer() -> PreTrainedTokenizerFast:
    """The Llama 3 tokenizer (128,256 tokens; ``<|begin_of_text|>`` 128000, ``<|eot_id|>`` 128009 the EOS).

    Built once per process from ``llama_models/llama3/tokenizer.model``; raises ``ImportError``
    with the install command when ``llama-models`` is missing.
    """
    return _meta_tokenizer("llama3")


@functools.lru_cache(maxsize=None)
def llama4_tokenizer() -> PreTrainedTokenizerFast:
    """The Llama 4 tokenizer (202,048 tokens; ``<|begin_of_text|>`` 200000, ``<|eot|>`` 200008 the EOS)."""
    return _meta_tokenizer("llama4")


def tiny_llama4(
    tokenizer: PreTrainedTokenizerFast, seed: int = 0, hidden_size: int = 16, logit_scale: float = 4.0
) -> Any:
    """A random ``Llama4ForConditionalGeneration`` (Llama Guard 4's class) with ``tokenizer``'s vocabulary.

    Four text layers (three chunked-attention layers with a chunk of 8 tokens, one global, as Llama 4
    interleaves them; mixture-of-experts every second layer) and a one-layer vision tower; the output head
    is scaled as in :func:`tiny_llama` so that its next-token distributions branch.
    """
    from transformers import Llama4Config, Llama4ForConditionalGeneration

    torch.manual_seed(seed)
    ids = dict(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    config = Llama4Config(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            intermediate_size_mlp=2 * hidden_size,
            num_hidden_layers=4,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=hidden_size // 2,
            num_local_experts=2,
            num_experts_per_tok=1,
            interleave_moe_layer_step=2,
            attention_chunk_size=8,
            max_position_embeddings=1024,
            **ids,
        ),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=28,
            patch_size=14,
            vision_output_dim=16,
            projector_input_dim=16,
            projector_output_dim=16,
        ),
        **ids,
    )
    model = Llama4ForConditionalGeneration(config)
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head.mul_(logit_scale / head.std() / hidden_size**0.5)
    model.generation_config = GenerationConfig(**ids)
    return model.eval()
