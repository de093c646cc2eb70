"""Results on disk: per-sample JSONL appended with fsync (a killed run loses at most a torn last line), atomic writes,
the run's fingerprint for ``--resume``."""

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
    "fingerprint_diff",
    "earlier_run",
    "check_output_dir",
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
        **(
            {"grammar": config.grammar, "labels": list(config.labels or []), "prompt_template": config.prompt_template}
            if config.grammar != "llama_guard"
            else {}
        ),
    }


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys: ``{"params": {"any_place": {"top_p": 0.9}}}`` → ``{"params.any_place.top_p":
    0.9}``."""
    if not isinstance(value, dict) or not value:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def fingerprint_diff(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings that differ between two fingerprints, each as ``"key: old → new"`` with dotted keys
    down to the single parameter (a strategy on one side only is named once).

    >>> fingerprint_diff({"seed": 0, "params": {"any_place": {"top_p": 0.99,
    ...     "eps": 0.01}, "greedy": {"max_new_tokens": 20}}},
    ...                  {"seed": 0, "params": {"any_place": {"top_p": 0.9, "eps": 0.01}}})
    ['params.any_place.top_p: 0.99 → 0.9', 'params.greedy: in the earlier run only']
    """
    out = []
    old_params, new_params = previous.get("params") or {}, current.get("params") or {}
    for name in sorted(set(old_params) ^ set(new_params)):
        out.append(f"params.{name}: " + ("in the earlier run only" if name in old_params else "not in the earlier run"))
    shared = set(old_params) & set(new_params)
    old = _flatten({**previous, "params": {k: v for k, v in old_params.items() if k in shared}})
    new = _flatten({**current, "params": {k: v for k, v in new_params.items() if k in shared}})
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            out.append(f"{key}: {old.get(key)!r} → {new.get(key)!r}")
    return sorted(out)


def earlier_run(out: str) -> str | None:
    """What earlier run ``out`` holds, in words ("a finished run (metrics.json, 480 samples)"), or None."""
    metrics = os.path.join(out, "metrics.json")
    scored = 0
    for path in glob.glob(os.path.join(out, RESULT_GLOB)):
        with open(path, "rb") as f:
            scored += f.read().count(b"\n")
    if os.path.exists(metrics):
        return f"a finished run (metrics.json, {scored} samples scored)"
    if scored:
        return f"an unfinished run ({scored} samples scored)"
    return None


def check_output_dir(config: EvalConfig) -> None:
    """Before anything is loaded: ``output_dir`` is a directory this process can write (created if missing),
    and it holds no earlier run unless ``resume`` or ``overwrite`` says what to do with it."""
    out = config.output_dir
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"`--output-dir` {out} is a file; pass a directory (it is created if it does not exist).")
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, f".write-check-{os.getpid()}")
        with open(probe, "w", encoding="utf-8") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ValueError(
            f"`--output-dir` {out} cannot be written ({reason}); pass a directory you can write to."
        ) from None
    if not (config.resume or config.overwrite):
        earlier = earlier_run(out)
        if earlier is not None:
            raise ValueError(
                f"`--output-dir` {out} holds {earlier}; pass --resume to continue it, "
                "--overwrite to replace it, or another --output-dir."
            )


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
            diff = fingerprint_diff(previous, fingerprint)
            if diff:
                raise ValueError(
                    f"`--resume`: {out} holds a run with other settings ({', '.join(diff)}); "
                    "resume with the same options, pass --overwrite to replace it, or pass another --output-dir."
                )
        else:
            if existing:
                say(f"note: {out} held results of an earlier run; --overwrite: starting afresh")
            for path in [*existing, *glob.glob(os.path.join(out, "plots", "*.png"))]:
                os.remove(path)
            for name in (
                "content_free.json",
                "scores.jsonl",
                "failures.jsonl",
                "metrics.csv",
                "metrics.json",
                "alignment.json",
            ):
                if os.path.exists(os.path.join(out, name)):
                    os.remove(os.path.join(out, name))
            plots = os.path.join(out, "plots")
            if os.path.isdir(plots) and not os.listdir(plots):
                os.rmdir(plots)
            write_atomic(run_json, json.dumps(fingerprint, indent=2) + "\n")
    state.wait_for_everyone()
