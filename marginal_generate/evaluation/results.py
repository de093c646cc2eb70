"""Results on disk: per-sample JSONL appended with fsync (a killed run loses at most a torn last line), atomic writes, the run's fingerprint for ``--resume``."""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from .config import EvalConfig
from .params import (
    StrategyParams,
)

__all__ = [
    "RESULT_GLOB",
    "append_jsonl",
    "repair_jsonl",
    "read_jsonl_results",
    "write_atomic",
    "fingerprint",
    "prepare_output_dir",
]


RESULT_GLOB = "samples.rank*.jsonl"


def append_jsonl(fd: int, obj: dict[str, Any]) -> None:
    """Append one JSON line with a single ``os.write`` on an ``O_APPEND`` descriptor, then ``fsync``."""
    data = (json.dumps(obj, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def repair_jsonl(path: str) -> int:
    """Cut a torn (newline-less) last line off ``path``; returns the bytes removed."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return len(data) - keep


def read_jsonl_results(paths: Iterable[str]) -> tuple[dict[int, dict[str, Any]], int]:
    """Per-sample results from result files: ``{sample id: result}`` (first occurrence wins) and the
    number of lines dropped (a torn last line, or a line that is no JSON object with a ``sample`` key).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "samples.rank0.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"sample": 0, "x": 1}\\n{"sample": 0, "x": 2}\\n{"sample": 1, "x"')
    >>> results, dropped = read_jsonl_results([path])
    >>> results, dropped
    ({0: {'sample': 0, 'x': 1}}, 1)
    """
    out: dict[int, dict[str, Any]] = {}
    dropped = 0
    for path in sorted(paths):
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        if lines and lines[-1].strip():
            dropped += 1  # torn last line
        for line in lines[:-1]:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                dropped += 1
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("sample"), int):
                dropped += 1
                continue
            out.setdefault(obj["sample"], obj)
    return out, dropped


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fingerprint(
    config: EvalConfig, resolved: dict[str, StrategyParams], dtype: str, taxonomy: int, prompt_format: str | None = None
) -> dict[str, Any]:
    """What identifies a run (``run.json``); ``prompt_format`` is the format ``config.prompt_format`` resolved to
    (``auto`` -> the published template's name, ``chat_template``, ...)."""
    return {
        "model": config.model,
        "dataset": config.dataset,
        "split": config.split,
        "columns": config.columns,
        "validation_data": config.validation_data,
        "validation_fraction": config.validation_fraction,
        "num_samples": config.num_samples,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "dtype": dtype,
        "taxonomy": taxonomy,
        "prompt_format": config.prompt_format,
        "prompt_format_resolved": prompt_format or config.prompt_format,
        "params": {k: dataclasses.asdict(v) for k, v in resolved.items()},
    }


def prepare_output_dir(config: EvalConfig, fingerprint: dict[str, Any], state: Any, say: Callable[[str], None]) -> None:
    """Create the output directory; start fresh, or check that ``--resume`` continues the same run."""
    out = config.output_dir
    run_json = os.path.join(out, "run.json")
    if state.is_main_process:
        os.makedirs(out, exist_ok=True)
        existing = glob.glob(os.path.join(out, RESULT_GLOB))
        if config.resume and os.path.exists(run_json):
            with open(run_json, encoding="utf-8") as f:
                previous = json.load(f)
            diff = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
            if diff:
                raise ValueError(
                    f"`--resume`: {out} holds a run with other settings ({', '.join(f'{k}: {previous.get(k)!r} → {fingerprint.get(k)!r}' for k in diff)}); "
                    "resume with the same options, or pass another --output-dir."
                )
        else:
            if existing:
                say(f"note: {out} held results of an earlier run; starting afresh (pass --resume to continue one)")
            for path in [*existing, *glob.glob(os.path.join(out, "plots", "*.png"))]:
                os.remove(path)
            for name in ("content_free.json", "scores.jsonl", "failures.jsonl", "metrics.csv", "metrics.json", "alignment.json"):
                if os.path.exists(os.path.join(out, name)):
                    os.remove(os.path.join(out, name))
            write_atomic(run_json, json.dumps(fingerprint, indent=2) + "\n")
    state.wait_for_everyone()
