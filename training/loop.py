"""The training loop: each epoch's fresh examples, AdamW with warm-up and cosine decay, data-parallel batches, the
validation loss after every epoch, early stopping on it."""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import dataclass

import torch

from training import data_parallel
from training.augment import drop_words
from training.conversations import branches_for, make_example
from training.encoding import Encoder, batches, pack
from training.loss import packed_loss
from training.prompt_format import last_role
from training.queries import epoch_queries, epoch_seed, validation_queries
from training.run_data import RunData


@dataclass
class TrainResult:
    """What a training run leaves: the epochs' losses, the kept epoch, the wall time."""

    history: list[dict]
    best_epoch: int
    best_val_loss: float
    wall_time_s: float
    cpu_time_s: float


def examples_for(
    queries: list[tuple[str, list[str]]],
    encoder: Encoder,
    args: argparse.Namespace,
    rng: random.Random,
    policy_frac: float,
    unary_frac: float,
) -> list:
    """Packed training rows of ``(query, ids)`` pairs (conversations, extra prompts, augmentation)."""
    items = []
    for query, categories in queries:
        if args.word_dropout and rng.random() < 0.5:
            query = drop_words(query, args.word_dropout, rng)
        conv, cats = make_example(query, categories, rng, args.agent_frac, True, args.sentence_shuffle)
        items.append((conv, branches_for(cats, last_role(conv), rng, policy_frac, unary_frac)))
    encoder.prefill([text for conv, branches in items for text in encoder.item_texts(conv, branches)])
    return [pack(encoder.item(conv, branches)) for conv, branches in items]


def make_optimizer(model, args: argparse.Namespace, steps_per_epoch: int):
    """AdamW with a linear warm-up and a cosine decay over ``--schedule-epochs`` (floor 5%)."""
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=args.weight_decay)
    total = steps_per_epoch * max(args.epochs, args.schedule_epochs or 0)
    warmup = max(1, min(args.warmup, total // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    )
    return opt, sched


def validation_loss(model, examples: list, pad_id: int, rank: int = 0, world: int = 1) -> float:
    """Mean answer-token loss over the validation examples (each rank scores its share of every 64)."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), 64 * world):
            rows = data_parallel.share(examples[i : i + 64 * world], rank, world)
            if rows:
                total += packed_loss(model, rows, pad_id, reduction="sum").item()
                count += sum(len(r[3]) for r in rows)
    model.train()
    if world > 1:
        total, count = data_parallel.sum_values(total, count)
    return total / count


def run_epoch(
    model,
    opt,
    sched,
    examples: list,
    batch_size: int,
    pad_id: int,
    rng: random.Random,
    rank: int = 0,
    world: int = 1,
    avoid_weight: float = 0.0,
) -> float:
    """One pass over ``examples`` in length-sorted shuffled batches; the mean training loss.

    The loss of a batch is the mean over its answer tokens, each weighed by its loss weight (``Encoder``); with
    ``world`` ranks each computes the sum over its share of the batch divided by the batch's token count, and the
    gradients are summed across ranks."""
    running, chunks = 0.0, batches(examples, batch_size, rng)
    params = [p for p in model.parameters() if p.requires_grad]
    for idx in chunks:
        opt.zero_grad(set_to_none=True)
        rows = data_parallel.share([examples[i] for i in idx], rank, world)
        if rows:
            loss = packed_loss(model, rows, pad_id, "sum", avoid_weight, weigh=True) / sum(
                len(examples[i][3]) for i in idx
            )
            loss.backward()
            running += loss.item()
        if world > 1:
            data_parallel.sum_grads(params)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
    if world > 1:
        (running,) = data_parallel.sum_values(running)
    return running / len(chunks)


def train(model, tok, data: RunData, args: argparse.Namespace, t0: float, rank: int = 0, world: int = 1) -> TrainResult:
    """Train epoch by epoch on fresh examples, keep the epoch with the lowest validation loss, stop early."""
    encoder = Encoder(tok, args.unsafe_weight)
    val_examples = examples_for(validation_queries(data, args), encoder, args, random.Random(args.seed + 3), 0.0, 0.0)
    n_per_epoch = len(epoch_queries(data, args, 0, random.Random(0)))
    opt, sched = make_optimizer(model, args, math.ceil(n_per_epoch / args.batch_size))
    best, best_state, best_epoch, bad, history = float("inf"), None, -1, 0, []
    model.train()
    for epoch in range(args.epochs):
        rng = random.Random(epoch_seed(args, epoch))
        examples = examples_for(
            epoch_queries(data, args, epoch, rng), encoder, args, rng, args.policy_frac, args.unary_frac
        )
        train_loss = run_epoch(
            model,
            opt,
            sched,
            examples,
            args.batch_size,
            tok.pad_token_id,
            rng,
            rank,
            world,
            args.avoid_repeats,
        )
        vl = validation_loss(model, val_examples, tok.pad_token_id, rank, world)
        history.append(
            {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": vl, "elapsed_s": round(time.time() - t0, 1)}
        )
        print(f"epoch {epoch + 1}: train {train_loss:.4f}  val {vl:.4f}  ({time.time() - t0:.0f}s)", flush=True)
        if vl < best - 1e-4:
            best, best_epoch, bad = vl, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= args.patience and epoch + 1 >= args.min_epochs:
                break
    model.load_state_dict(best_state)
    model.eval()
    wall = time.time() - t0
    print(f"best epoch {best_epoch} (val loss {best:.4f}); training wall time {wall:.0f}s", flush=True)
    cpu = time.process_time()
    if world > 1:
        (cpu,) = data_parallel.sum_values(cpu)
    return TrainResult(history, best_epoch, round(best, 4), round(wall, 1), round(cpu, 1))
