"""Results on disk: per-sample JSONL appended with fsync (a killed run loses at most a torn last line), atomic writes,
the run's fingerprint (settings and data) for ``--resume``.

While a run scores, each process appends its results to its journal ``samples.rank<k>.jsonl``; at the end (and when
a run is resumed) the main process merges them into the one per-sample file, ``scores.jsonl`` (one line per sample,
in sample order), and removes the journals. A sample that failed is scored again on ``--resume``: a later line
replaces an earlier failure.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
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
    "SCORES_FILE",
    "append_jsonl",
    "repair_jsonl",
    "read_jsonl_results",
    "result_files",
    "write_results",
    "consolidate_results",
    "data_fingerprint",
    "check_same_data",
    "write_atomic",
    "fingerprint",
    "fingerprint_diff",
    "earlier_run",
    "check_output_dir",
    "prepare_output_dir",
]


#: The journals of a run that is scoring (one per process); merged into :data:`SCORES_FILE` and removed at the end.
RESULT_GLOB = "samples.rank*.jsonl"
#: The per-sample results of a run: one JSON line per sample, in sample order.
SCORES_FILE = "scores.jsonl"


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
    """Per-sample results from result files read in the order given: ``{sample id: result}`` and the number of
    lines dropped (a torn last line, or a line that is no JSON object with a ``sample`` key). The first result of a
    sample stands unless it is a failure (an ``error`` key): a later line replaces a failure (the sample was scored
    again on ``--resume``).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "samples.rank0.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"sample": 0, "x": 1}\\n{"sample": 0, "x": 2}\\n{"sample": 1, "error": "E"}\\n'
    ...                 '{"sample": 1, "x": 3}\\n{"sample": 2, "x"')
    >>> results, dropped = read_jsonl_results([path])
    >>> results, dropped
    ({0: {'sample': 0, 'x': 1}, 1: {'sample': 1, 'x': 3}}, 1)
    """
    out: dict[int, dict[str, Any]] = {}
    dropped = 0
    for path in paths:
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
            earlier = out.get(obj["sample"])
            if earlier is None or "error" in earlier:
                out[obj["sample"]] = obj
    return out, dropped


def result_files(out: str) -> list[str]:
    """The result files of the run in ``out``, oldest first: ``scores.jsonl`` (if any), then the journals."""
    scores = os.path.join(out, SCORES_FILE)
    return ([scores] if os.path.exists(scores) else []) + sorted(glob.glob(os.path.join(out, RESULT_GLOB)))


def write_results(out: str, results: Iterable[dict[str, Any]]) -> None:
    """Write ``results`` as ``scores.jsonl`` (atomically), then remove the journals they were merged from."""
    text = "".join(json.dumps(r, allow_nan=False, ensure_ascii=False) + "\n" for r in results)
    write_atomic(os.path.join(out, SCORES_FILE), text)
    for path in glob.glob(os.path.join(out, RESULT_GLOB)):
        os.remove(path)


def consolidate_results(out: str) -> tuple[dict[int, dict[str, Any]], int]:
    """Merge the result files of ``out`` into ``scores.jsonl`` (in sample order; torn lines dropped) and remove the
    journals; returns what :func:`read_jsonl_results` read."""
    results, dropped = read_jsonl_results(result_files(out))
    write_results(out, (results[k] for k in sorted(results)))
    return results, dropped


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def data_fingerprint(digests: dict[int, str]) -> dict[str, Any]:
    """What identifies the data of a run: the number of samples and a SHA-256 over each sample's record digest
    (:func:`~marginal_generate.evaluation.records.sample_digest`, in sample order).

    >>> data_fingerprint({0: "ab", 1: "cd"})["samples"], data_fingerprint({0: "ab"}) != data_fingerprint({0: "ac"})
    (2, True)
    """
    text = "\n".join(f"{k} {digests[k]}" for k in sorted(digests))
    return {"samples": len(digests), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def fingerprint(
    config: EvalConfig,
    resolved: dict[str, StrategyParams],
    dtype: str,
    taxonomy: int,
    prompt_format: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What identifies a run (``run.json``); ``prompt_format`` is the format ``config.prompt_format`` resolved to
    (``auto`` -> the published template's name, ``chat_template``, ...); ``data`` is :func:`data_fingerprint` of the
    samples, compared on ``--resume`` by :func:`check_same_data`."""
    return {
        **({"data": data} if data is not None else {}),
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
        **(
            {"separator": config.separator, "none": config.none}
            if (config.separator, config.none) != (",", "none")
            else {}
        ),
        **({"groups": dict(config.groups)} if config.groups else {}),
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


def _without_data(fingerprint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fingerprint.items() if k != "data"}


def fingerprint_diff(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings that differ between two fingerprints, each as ``"key: old → new"`` with dotted keys
    down to the single parameter (a strategy on one side only is named once); the data is compared by
    :func:`check_same_data`.

    >>> fingerprint_diff({"seed": 0, "params": {"any_place": {"top_p": 0.99,
    ...     "eps": 0.01}, "greedy": {"max_new_tokens": 20}}},
    ...                  {"seed": 0, "params": {"any_place": {"top_p": 0.9, "eps": 0.01}}})
    ['params.any_place.top_p: 0.99 → 0.9', 'params.greedy: in the earlier run only']
    """
    out = []
    previous, current = _without_data(previous), _without_data(current)
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
    scored = len(read_jsonl_results(result_files(out))[0])
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


def check_same_data(
    out: str, previous: dict[str, Any] | None, current: dict[str, Any], digests: dict[int, str]
) -> None:
    """On ``--resume``: a ``ValueError`` that says what changed when the data of the run in ``out`` (``previous``,
    from its ``run.json``) is not the data now (``current``, with each sample's record ``digests``): scores
    already on disk would otherwise be paired with stale labels."""
    if previous == current:
        return
    fix = "pass --overwrite to score it afresh, or another --output-dir."
    if previous is None:
        raise ValueError(
            f"`--resume`: the run in {out} has no fingerprint of its data (an earlier version wrote it), so it "
            f"cannot be checked against the data now; {fix}"
        )
    scored, _ = read_jsonl_results(result_files(out))
    changed = [k for k in sorted(scored) if scored[k].get("record_digest") != digests.get(k)]
    parts = []
    if changed:
        first = scored[changed[0]]
        parts.append(
            f"{len(changed)} of the {len(scored)} sample(s) scored there now hold another record or split "
            f"(the first: sample {first['sample']}, record index {first.get('index')})"
        )
    if previous.get("samples") != current["samples"]:
        parts.append(f"it had {previous.get('samples')} samples, the data now gives {current['samples']}")
    if not parts:
        parts.append("the records not yet scored changed")
    raise ValueError(
        f"`--resume`: the data changed since the run in {out} was started ({'; '.join(parts)}), so its scores "
        f"would be paired with stale labels; {fix}"
    )


def prepare_output_dir(
    config: EvalConfig,
    fingerprint: dict[str, Any],
    state: Any,
    say: Callable[[str], None],
    digests: dict[int, str] | None = None,
) -> None:
    """Create the output directory; start fresh, or check that ``--resume`` continues the same run (same settings,
    same data: ``digests`` are the samples' record digests) and merge its results into ``scores.jsonl``."""
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
            if "data" in fingerprint:
                check_same_data(out, previous.get("data"), fingerprint["data"], digests or {})
            _, dropped = consolidate_results(out)
            if dropped:
                say(f"resume: dropped {dropped} torn or unreadable line(s)")
        else:
            if existing or os.path.exists(os.path.join(out, SCORES_FILE)):
                say(f"note: {out} held results of an earlier run; --overwrite: starting afresh")
            for path in [*existing, *glob.glob(os.path.join(out, "plots", "*.png"))]:
                os.remove(path)
            for name in (
                "content_free.json",
                SCORES_FILE,
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
