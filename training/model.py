"""The model: a seeded ``LlamaForCausalLM`` of the recipe's size, its token embeddings warm-started from a
bag-of-tokens classifier, and optionally first-layer heads wired to look back by position."""

from __future__ import annotations

import argparse

import torch

from training.generators import benign, harmful
from training.prompt_format import CATEGORIES
from training.queries import privacy_queries, single_request_queries
from training.run_data import RunData


def new_model(tok, data: RunData, args: argparse.Namespace):
    """A seeded ``LlamaForCausalLM`` of the requested size, its embeddings warm-started (unless disabled)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        attention_dropout=args.attention_dropout,
        attention_bias=args.position_heads > 0,
    )
    model = LlamaForCausalLM(config)
    if args.position_heads:
        wire_position_heads(model.model.layers[0].self_attn, args.position_heads, config)
    if args.warm_start:
        rows = (
            data.train_rows
            + data.dna_train
            + [{"query": q, "categories": c} for q, c in single_request_queries(1500, args.seed + 8)]
            + [{"query": q, "categories": c} for q, c in data.hand.harmful_train]
        )
        if args.privacy_per_epoch:
            privacy = privacy_queries(1000, args.seed + 13, data.held_templates)
            rows += [{"query": q, "categories": c} for q, c in privacy]
        safe = (
            benign.benign_prompts(1200, args.seed + 5, "train", args.docstring_frac)
            + harmful.benign_shared_requests(600, args.seed + 9)
            + data.hand.benign_train
        )
        print(f"warm start: {warm_start_embeddings(model, tok, rows, safe, args.seed)}", flush=True)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters", flush=True)
    return model


def wire_position_heads(attention, count: int, config, margin: float = 8.0) -> None:
    """Make the first ``count`` heads of ``attention`` look at the token ``h + 1`` places back (head ``h``), by
    position alone: their queries and keys become constant biases (their weights zero, the biases frozen), and RoPE
    turns ``q . k`` into ``sum_i A cos((d - h - 1) theta_i)`` of the distance ``d``, which peaks at ``d = h + 1``
    and is at least ``margin`` (in attention logits) above every other distance up to 1,023.

    A one-layer model pools one value per token, so it never sees which token follows which (README, "The
    embedded model"); with these heads the first layer's MLP sees a token with the one or two before it, and the
    second layer pools those pairs. The heads' other weights, and every other head, train as usual (the zeroed
    weights too: only the biases are frozen). A key-value head serves ``num_key_value_groups`` query heads, so
    wiring head ``h`` sets the keys of key-value head ``h // groups``; a free head that shares it (``count`` not a
    multiple of the group size) starts with the same position-only keys. Only ``count`` 2 with groups of 2 was run.

    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> config = LlamaConfig(vocab_size=16, hidden_size=32, intermediate_size=32, num_hidden_layers=1,
    ...     num_attention_heads=4, num_key_value_heads=2, attention_bias=True, attn_implementation="eager")
    >>> model = LlamaForCausalLM(config).eval()
    >>> wire_position_heads(model.model.layers[0].self_attn, 2, config)
    >>> att = model(torch.randint(0, 16, (1, 12)), output_attentions=True).attentions[0][0]
    >>> [int(att[h, 11].argmax()) for h in range(2)], bool(att[:2, 11].max(-1).values.min() > 0.99)
    ([10, 9], True)
    """
    head_dim = attention.head_dim
    groups = attention.num_key_value_groups
    if attention.q_proj.bias is None or count > config.num_attention_heads:
        raise ValueError(f"position heads need attention biases and at most {config.num_attention_heads} heads")
    half = head_dim // 2
    theta = config.rope_parameters["rope_theta"] ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    distances = torch.arange(1024, dtype=torch.float64)
    # the worst margin of sum_i cos((d - offset) theta_i) over d != offset is offset-independent (about 0.51 for
    # eight frequencies); scale A so that it becomes ``margin`` after the 1/sqrt(head_dim) scaling
    profile = torch.cos((distances[None, :] - 1) * theta[:, None]).sum(0)
    worst = float(profile[1] - torch.cat([profile[:1], profile[2:]]).max())
    amplitude = margin * head_dim**0.5 / worst
    key = amplitude**0.5
    with torch.no_grad():
        for h in range(count):
            kv = h // groups
            q_rows = slice(h * head_dim, (h + 1) * head_dim)
            k_rows = slice(kv * head_dim, (kv + 1) * head_dim)
            attention.q_proj.weight[q_rows] = 0.0
            attention.k_proj.weight[k_rows] = 0.0
            k_bias = torch.zeros(head_dim, dtype=torch.float64)
            k_bias[:half] = key
            q_bias = torch.cat([key * torch.cos((h + 1) * theta), -key * torch.sin((h + 1) * theta)])
            attention.k_proj.bias[k_rows] = k_bias.float()
            attention.q_proj.bias[q_rows] = q_bias.float()
    attention.q_proj.bias.requires_grad_(False)
    attention.k_proj.bias.requires_grad_(False)


def warm_start_embeddings(
    model, tok, train_rows: list[dict], benign: list[str], seed: int, epochs: int = 150, lr: float = 2e-2
) -> dict:
    """Initialise the token embeddings from a bag-of-tokens classifier (fastText style) trained on the
    training queries: the mean embedding of a query's tokens, a linear layer, one sigmoid per label
    (unsafe, S1–S14). The guard model starts with embeddings in which the words of a category point the
    same way, and learns to pool and name them; seconds of work, seeded like the rest."""
    torch.manual_seed(seed)
    docs = [(r["query"], r["categories"]) for r in train_rows] + [(q, []) for q in benign]
    ids = [tok(text, add_special_tokens=False)["input_ids"] for text, _ in docs]
    targets = torch.tensor(
        [[1.0 if cats else 0.0] + [1.0 if c in cats else 0.0 for c in CATEGORIES] for _, cats in docs]
    )
    flat = torch.tensor([t for row in ids for t in row])
    offsets = torch.tensor([0] + [len(row) for row in ids[:-1]]).cumsum(0)
    hidden = model.config.hidden_size
    bag = torch.nn.EmbeddingBag(len(tok), hidden, mode="mean")
    torch.nn.init.normal_(bag.weight, std=0.02)
    head = torch.nn.Linear(hidden, targets.shape[1])
    opt = torch.optim.Adam([*bag.parameters(), *head.parameters()], lr=lr)
    for _ in range(epochs):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(bag(flat, offsets)), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        trained = torch.zeros(len(tok), dtype=torch.bool)
        trained[flat] = True
        weight = model.model.embed_tokens.weight
        scaled = bag.weight * (weight.std() / bag.weight[trained].std())
        weight[trained] = scaled[trained]
    return {"bag_loss": round(float(loss.detach()), 4), "tokens": int(trained.sum())}
