"""Saving a run: the model in Hub layout (chat template inlined), its held-out file, ``training.json`` (the run's
record) and the model card."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from training import donotanswer
from training.card import write_model_card
from training.evaluation import evaluate
from training.heldout import write_heldout
from training.loop import TrainResult
from training.run_data import RunData


def save_run(model, tok, data: RunData, args: argparse.Namespace, run: TrainResult) -> dict:
    """Save the model in Hub layout with its held-out data, evaluate it, write ``training.json`` and the card."""
    save_model(model, tok, args.out)
    write_heldout(args.out / "heldout.jsonl", data, args.seed)
    info = run_info(model, data, args, run)
    if not args.no_eval:
        info["heldout"] = evaluate(args.out)
        print(json.dumps(info["heldout"], indent=1))
    write_info_and_card(args.out, info, args)
    return info


def save_model(model, tok, out: Path) -> None:
    """Weights, config, greedy generation config and tokenizer (chat template inlined) in ``out``."""
    from transformers import GenerationConfig

    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        do_sample=False,
        max_new_tokens=20,
    )
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    inline_chat_template(out)


def run_info(model, data: RunData, args: argparse.Namespace, run: TrainResult) -> dict:
    """The run's record for ``training.json``: sizes, losses, time, arguments and the Do-Not-Answer mapping."""
    return {
        "seed": args.seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "best_epoch": run.best_epoch,
        "best_val_loss": run.best_val_loss,
        "history": run.history,
        "train_rows": len(data.train_rows),
        "validation_rows": len(data.val_rows),
        "test_rows": len(data.test_rows),
        "donotanswer": {
            "prompts": len(data.dna_all),
            "mapped": len(data.dna_train) + len(data.dna_test),
            "train": len(data.dna_train),
            "test": len(data.dna_test),
            "license": donotanswer.LICENSE,
        },
        "handwritten": {
            "harmful": [len(data.hand.harmful_train), len(data.hand.harmful_val)],
            "shared_words": [len(data.hand.shared_train), len(data.hand.shared_val)],
            "everyday": [len(data.hand.everyday_train), len(data.hand.everyday_val)],
            "dropped": data.hand.dropped,
        },
        "training_wall_time_s": run.wall_time_s,
        "training_cpu_time_s": run.cpu_time_s,
        "threads": args.threads,
        "procs": args.procs,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine_load": machine_load(),
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("data", "out", "no_eval", "eval_only", "donotanswer")
        },
    }


def machine_load() -> str:
    """The 1-minute load average and CPU count when the run ended (the machine is shared)."""
    try:
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return "unknown"


def write_info_and_card(out: Path, info: dict, args: argparse.Namespace) -> None:
    """``training.json`` and the card in ``out``."""
    (out / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    write_model_card(out, info, args)


def inline_chat_template(out: Path) -> None:
    """Keep the chat template in tokenizer_config.json (as Llama Guard 3 ships it) with the portable
    tokenizer class name, instead of transformers 5's separate chat_template.jinja."""
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text())
    jinja = out / "chat_template.jinja"
    if jinja.exists():
        config["chat_template"] = jinja.read_text()
        jinja.unlink()
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
